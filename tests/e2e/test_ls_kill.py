"""dispvm ls and dispvm kill."""

import json
import signal

import helpers
from helpers import dispvm


def test_ls_and_kill_running_vm(minimal_template):
    process = helpers.start_dispvm("run", "--", "sleep", "60")
    assert helpers.wait_until(
        lambda: any(vm["state"] == "running" for vm in helpers.list_vms()), 120), \
        "the VM never reached the running state"

    listing = dispvm("ls")
    assert listing.status == 0, listing
    header, *rows = listing.text.splitlines()
    assert header.split() == ["NAME", "STATE", "TEMPLATE", "ACCEL", "MEMORY", "UPTIME",
                              "COMMAND"]
    assert len(rows) == 1, listing
    name = rows[0].split()[0]
    assert rows[0].split()[1:3] == ["running", "minimal"], listing
    assert "sleep 60" in rows[0], listing

    as_json = dispvm("ls", "--json")
    assert as_json.status == 0, as_json
    vms = json.loads(as_json.stdout)
    assert len(vms) == 1, as_json
    vm = vms[0]
    assert set(vm) >= {"name", "state", "template", "accel", "memory", "uptime", "command"}
    assert vm["name"] == name
    assert vm["state"] == "running"
    assert vm["template"] == "minimal"
    assert vm["accel"] in ("tcg", "kvm")
    template = json.loads((helpers.template_dir("minimal") / "template.json").read_text())
    assert vm["memory"] == template["memory_mib"]
    assert vm["uptime"] >= 0
    assert "sleep 60" in vm["command"]

    killed = dispvm("kill", name)
    assert killed.status == 0, killed
    result = helpers.finish(process, timeout=60)
    # NOTE: the docs do not say which status a killed run returns; dispvm
    # failing (125) and SIGKILL (128+9) are both accepted here.
    assert result.status in (helpers.DISPVM_FAILED, 128 + signal.SIGKILL), result

    after = json.loads(dispvm("ls", "--json").stdout)
    assert after == []


def test_kill_unknown_name(minimal_template):
    result = dispvm("kill", "disp0")
    assert result.status == helpers.DISPVM_FAILED, result
    assert "disp0" in result.stderr, result
    assert len(result.stderr.splitlines()) == 1, result


def test_kill_names_every_unknown(minimal_template):
    result = dispvm("kill", "disp1", "disp2")
    assert result.status == helpers.DISPVM_FAILED, result
    assert result.stderr == "dispvm: no VMs named disp1, disp2; list VMs with: dispvm ls\n", \
        result


def test_kill_quotes_names(minimal_template):
    result = dispvm("kill", "")
    assert result.status == helpers.DISPVM_FAILED, result
    assert result.stderr == "dispvm: no VM named ''; list VMs with: dispvm ls\n", result

    result = dispvm("kill", "a b", "it's")
    assert result.stderr == \
        "dispvm: no VMs named 'a b', 'it'\\''s'; list VMs with: dispvm ls\n", result
