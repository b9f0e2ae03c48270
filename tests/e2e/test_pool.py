"""The pool of preloaded disposables and dispvm.conf: preloaded VMs are
hidden from `ls`, taken by `--start pool` and `auto`, refilled, resized on
SIGHUP, replaced when the savefile changes, and not refilled when the host
lacks memory."""

import json
import os
import re
import signal

import pytest

import helpers
from helpers import dispvm

STARTED = re.compile(r"(disp\d+): started \(start (\w+),")
POOL_TIMEOUT = 60


def _config_path():
    return helpers.xdg_dir("XDG_CONFIG_HOME", ".config") / "dispvm.conf"


def _write_config(text):
    path = _config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _reload(expect="settings from"):
    """SIGHUP the daemon and wait for the line that reports the result."""
    log = helpers.DaemonLog()
    pids = helpers.daemon_pids()
    assert len(pids) == 1, f"expected one daemon, found {pids}"
    os.kill(pids[0], signal.SIGHUP)
    line = log.wait_for(expect, timeout=10)
    assert line, f"no '{expect}' after SIGHUP: {log.text()}"
    return line


def _preloaded(template="minimal"):
    return [vm for vm in helpers.list_all_vms()
            if vm["state"] == "preloaded" and vm["template"] == template]


def _members(template="minimal"):
    return [vm for vm in helpers.list_all_vms()
            if vm["state"] in ("preloading", "preloaded") and vm["template"] == template]


def _wait_preloaded(count, template="minimal"):
    """Wait until exactly `count` members, all ready; return them."""
    def ready():
        members = _members(template)
        return len(members) == count and all(vm["state"] == "preloaded" for vm in members)
    assert helpers.wait_until(ready, POOL_TIMEOUT, interval=0.2), \
        f"pool of {template} did not reach {count}: {helpers.list_all_vms()}"
    return _preloaded(template)


@pytest.fixture
def pool(minimal_template):
    """A running daemon with the settings a test writes; the defaults again
    afterwards."""
    assert dispvm("ls").status == 0  # starts the daemon
    yield
    _config_path().unlink(missing_ok=True)
    _reload()
    _wait_preloaded(1)


def test_preloaded_vm_is_hidden_from_ls(pool):
    member = _wait_preloaded(1)[0]

    listing = dispvm("ls", "--all", "--json")
    assert listing.status == 0, listing
    shown = [vm for vm in json.loads(listing.text) if vm["name"] == member["name"]]
    assert len(shown) == 1 and shown[0]["state"] == "preloaded", listing

    plain = dispvm("ls", "--json")
    assert plain.status == 0, plain
    assert member["name"] not in plain.text, plain
    table = dispvm("ls")
    assert member["name"] not in table.text, table


def test_start_pool_takes_the_preloaded_vm_and_refills(pool, daemon_log):
    member = _wait_preloaded(1)[0]

    process = helpers.start_dispvm("run", "--start", "pool", "--", "sh", "-c",
                                   "hostname; sleep 5")
    try:
        assert helpers.wait_until(lambda: helpers.list_vms(), 30), "the run is not listed"
        vms = helpers.list_vms()
        assert [(vm["name"], vm["start"]) for vm in vms] == [(member["name"], "pool")], vms
        refilled = _wait_preloaded(1)
        assert refilled[0]["name"] != member["name"], refilled
    finally:
        result = helpers.finish(process, timeout=60)
    assert result.status == 0, result
    assert result.text.strip() == member["name"], result
    assert (member["name"], "pool") in STARTED.findall(daemon_log.text()), daemon_log.text()


def test_two_pool_runs_differ(pool, daemon_log):
    command = ["run", "--start", "pool", "--", "sh", "-c",
               "hostname; head -c 32 /dev/urandom | od -An -tx1"]
    outputs = []
    for _ in range(2):
        _wait_preloaded(1)
        result = dispvm(*command)
        assert result.status == 0, result
        outputs.append(result.text.splitlines())

    started = STARTED.findall(daemon_log.text())
    assert [start for _, start in started] == ["pool", "pool"], daemon_log.text()
    assert [lines[0] for lines in outputs] == [name for name, _ in started], outputs
    assert outputs[0][1:] != outputs[1][1:], "two pool guests read the same random bytes"


def test_auto_uses_the_pool(pool, daemon_log):
    _wait_preloaded(1)
    result = dispvm("run", "--", "true")
    assert result.status == 0, result
    assert [start for _, start in STARTED.findall(daemon_log.text())] == ["pool"], \
        daemon_log.text()


def test_start_pool_without_pool_fails(pool):
    _write_config("[template minimal]\npool_size = 0\n")
    _reload()
    _wait_preloaded(0)

    result = dispvm("run", "--start", "pool", "--", "true")
    assert result.status == helpers.DISPVM_FAILED, result
    assert result.stderr.splitlines() == [
        "dispvm: no preloaded disposable of template minimal is ready; use --start auto"
    ], result


def test_sighup_grows_and_empties_the_pool(pool):
    _wait_preloaded(1)
    _write_config("[template minimal]\npool_size = 2\n")
    _reload()
    assert len(_wait_preloaded(2)) == 2

    _write_config("[template minimal]\npool_size = 0\n")
    _reload()
    _wait_preloaded(0)


def test_malformed_config_keeps_the_settings(pool, daemon_log):
    _write_config("[template minimal]\npool_size = 2\n")
    _reload()
    _wait_preloaded(2)

    _write_config("[template minimal]\npool_size = lots\n")
    line = _reload(expect="keeping the previous settings")
    assert "dispvm.conf:2:" in line and "'lots'" in line, line
    assert not helpers.wait_until(lambda: len(_members()) != 2, 3), helpers.list_all_vms()


def test_kill_of_a_preloaded_vm_replaces_it(pool):
    member = _wait_preloaded(1)[0]

    killed = dispvm("kill", member["name"])
    assert killed.status == 0, killed
    replacement = _wait_preloaded(1)
    assert replacement[0]["name"] != member["name"], replacement


def test_low_memory_stops_refills(pool, daemon_log):
    member = _wait_preloaded(1)[0]
    _write_config("[defaults]\npool_min_available_mib = 1000000000\n")
    _reload()

    assert dispvm("kill", member["name"]).status == 0
    line = daemon_log.wait_for("pool: not refilling", "MemAvailable", timeout=10)
    assert line and "pool_min_available_mib 1000000000" in line, daemon_log.text()
    assert not helpers.wait_until(_members, 3), helpers.list_all_vms()

    _config_path().unlink()
    _reload()
    assert daemon_log.wait_for("pool: refilling again", timeout=10), daemon_log.text()
    _wait_preloaded(1)
    assert len([line for line in daemon_log.text().splitlines()
                if "pool: not refilling" in line]) == 1, daemon_log.text()


def test_rebuilt_savefile_replaces_members(pool, daemon_log):
    name = "pool-rebuild"
    build = dispvm("template", "build", name, timeout=900)
    assert build.status == 0, build
    _write_config(f"[template {name}]\npool_size = 1\n")
    _reload()
    old = _wait_preloaded(1, name)[0]

    # A new kernel command line makes the savefile stale; the build saves
    # a new one, and the pool swaps its member for one of the new savefile.
    template_json = helpers.template_dir(name) / "template.json"
    metadata = json.loads(template_json.read_text())
    words = [word for word in metadata["cmdline"].split() if not word.startswith("dispvm.test=")]
    marker = f"dispvm.test=pool{os.getpid()}"
    metadata["cmdline"] = " ".join(words + [marker])
    temporary = template_json.with_suffix(".tmp")
    temporary.write_text(json.dumps(metadata, indent=2))
    temporary.replace(template_json)
    rebuilt = dispvm("template", "build", name, timeout=900)
    assert rebuilt.status == 0, rebuilt

    assert daemon_log.wait_for(old["name"], "destroyed", "savefile changed", timeout=30), \
        daemon_log.text()
    new = _wait_preloaded(1, name)[0]
    assert new["name"] != old["name"]
    result = dispvm("run", "--template", name, "--start", "pool", "--", "cat", "/proc/cmdline")
    assert result.status == 0, result
    assert marker in result.text, result
    _write_config(f"[template {name}]\npool_size = 0\n")
    _reload()
    _wait_preloaded(0, name)
