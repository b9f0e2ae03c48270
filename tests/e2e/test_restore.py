"""Start paths: restore from the template's savefile, boot, and the identity
(name, clock, entropy) that every restored guest gets before it runs
anything."""

import json
import re
import time

import pytest

import helpers
from helpers import dispvm

STARTED = re.compile(r"(disp\d+): started \(start (\w+),")


def _savefile_state(name):
    listing = dispvm("template", "ls")
    assert listing.status == 0, listing
    header, *rows = listing.text.splitlines()
    assert header.split()[-1] == "SAVEFILE", listing
    for row in rows:
        if row.split()[0] == name:
            return row.split()[-1]
    raise AssertionError(f"template {name} not listed: {listing}")


def _started_vms(daemon_log):
    return [match.groups() for match in STARTED.finditer(daemon_log.text())]


@pytest.fixture
def fresh_savefile(minimal_template):
    """The minimal template with a fresh savefile that is at least 3 s old,
    so that a guest clock left as saved would lag the host's."""
    assert _savefile_state("minimal") == "fresh"
    savefile = helpers.template_dir("minimal") / "savefile"
    age = time.time() - savefile.stat().st_mtime
    if age < 3:
        time.sleep(3 - age)
    return savefile


def test_restored_guests_read_different_random_bytes(fresh_savefile, daemon_log):
    command = ["run", "--start", "restore", "--", "sh", "-c",
               "head -c 32 /dev/urandom | od -An -tx1"]
    first = dispvm(*command)
    second = dispvm(*command)

    assert first.status == 0, first
    assert second.status == 0, second
    assert len(first.text.split()) == 32, first
    assert first.stdout != second.stdout, "two restored guests read the same random bytes"
    assert [start for _, start in _started_vms(daemon_log)] == ["restore", "restore"]


def test_restored_clock_and_host_name(fresh_savefile, daemon_log):
    before = time.time()
    result = dispvm("run", "--start", "restore", "--", "sh", "-c", "date +%s; hostname")
    after = time.time()

    assert result.status == 0, result
    guest_time, host_name = result.text.split()
    # Busybox's date prints whole seconds. A guest clock within one second
    # of the host's reads between these bounds; the clock as saved would
    # read at least 3 s early.
    assert int(before) - 1 <= int(guest_time) <= after + 1, \
        f"guest {guest_time}, host {before:.2f}..{after:.2f}"
    started = _started_vms(daemon_log)
    assert started == [(host_name, "restore")], daemon_log.text()


def test_booted_guest_gets_its_name(minimal_template, daemon_log):
    result = dispvm("run", "--start", "boot", "--", "hostname", timeout=240)

    assert result.status == 0, result
    assert _started_vms(daemon_log) == [(result.text.strip(), "boot")], daemon_log.text()


@pytest.mark.parametrize("start", ["restore", "boot"])
def test_ls_shows_the_start_path(fresh_savefile, start):
    process = helpers.start_dispvm("run", "--start", start, "--", "sh", "-c",
                                   "echo up; sleep 60")
    try:
        assert helpers.wait_until(
            lambda: any(vm["state"] == "running" for vm in helpers.list_vms()), 120), \
            "the VM never reached the running state"
        vms = json.loads(dispvm("ls", "--json").stdout)
        assert len(vms) == 1, vms
        assert vms[0]["start"] == start, vms
        assert dispvm("kill", vms[0]["name"]).status == 0
    finally:
        helpers.finish(process, timeout=60)


def test_exec_into_restored_vm(fresh_savefile, daemon_log):
    """An exec into a restored VM runs after IDENTITY, so it sees the
    VM's own host name, not the saved guest's."""
    process = helpers.start_dispvm("run", "--start", "restore", "--", "sleep", "60")
    try:
        assert helpers.wait_until(
            lambda: any(vm["state"] == "running" for vm in helpers.list_vms()), 120), \
            "the VM never reached the running state"
        vms = helpers.list_vms()
        assert len(vms) == 1, vms
        name = vms[0]["name"]
        assert vms[0]["start"] == "restore", vms

        result = dispvm("exec", name, "--", "hostname", timeout=120)
        assert result.status == 0, result
        assert result.text.strip() == name, result
        assert _started_vms(daemon_log) == [(name, "restore")], daemon_log.text()
        assert dispvm("kill", name).status == 0
    finally:
        helpers.finish(process, timeout=60)


def test_other_memory_boots(fresh_savefile, daemon_log):
    refused = dispvm("run", "--start", "restore", "--memory", "320", "--", "true")

    assert refused.status == helpers.DISPVM_FAILED, refused
    assert len(refused.stderr.splitlines()) == 1, refused
    assert "cannot restore" in refused.stderr and "320 MiB" in refused.stderr, refused

    booted = dispvm("run", "--memory", "320", "--", "true", timeout=240)
    assert booted.status == 0, booted
    assert [start for _, start in _started_vms(daemon_log)] == ["boot"], daemon_log.text()
    assert daemon_log.wait_for("booting:", "320 MiB"), daemon_log.text()


def test_savefile_goes_stale_and_is_rebuilt(minimal_template, daemon_log):
    name = "restore-stale"
    build = dispvm("template", "build", name, timeout=900)
    assert build.status == 0, build
    savefile = helpers.template_dir(name) / "savefile"
    record = helpers.template_dir(name) / "savefile.json"
    assert savefile.stat().st_size > 0
    assert json.loads(record.read_text())["memory_mib"] > 0
    assert _savefile_state(name) == "fresh"

    # A second build with nothing changed does no work.
    saved_at = savefile.stat().st_mtime_ns
    began = time.monotonic()
    again = dispvm("template", "build", name)
    elapsed = time.monotonic() - began
    assert again.status == 0, again
    assert "savefile of template restore-stale is up to date" in again.stderr, again
    assert elapsed < 2.0, f"a build with nothing to do took {elapsed:.1f} s"
    assert savefile.stat().st_mtime_ns == saved_at

    # A new template.json makes the old savefile stale, and a start with
    # auto boots and rebuilds it in the background.
    template_json = helpers.template_dir(name) / "template.json"
    metadata = json.loads(template_json.read_text())
    metadata["cmdline"] += " dispvm.test=stale"
    temporary = template_json.with_suffix(".tmp")
    temporary.write_text(json.dumps(metadata, indent=2))
    temporary.replace(template_json)
    assert _savefile_state(name) == "stale"
    refused = dispvm("run", "--template", name, "--start", "restore", "--", "true")
    assert refused.status == helpers.DISPVM_FAILED, refused
    assert "stale" in refused.stderr, refused

    booted = dispvm("run", "--template", name, "--", "cat", "/proc/cmdline", timeout=240)
    assert booted.status == 0, booted
    assert "dispvm.test=stale" in booted.text, booted
    assert helpers.wait_until(lambda: _savefile_state(name) == "fresh", 240, interval=1), \
        daemon_log.text()
    restored = dispvm("run", "--template", name, "--start", "restore", "--",
                      "cat", "/proc/cmdline")
    assert restored.status == 0, restored
    assert "dispvm.test=stale" in restored.text, restored

    # A forced rebuild writes a new template.json, so the savefile it keeps
    # is stale and the build saves a new one.
    saved_at = savefile.stat().st_mtime_ns
    time.sleep(1)
    forced = dispvm("template", "build", "--force", name, timeout=900)
    assert forced.status == 0, forced
    assert "saving a booted guest of template restore-stale" in forced.stderr, forced
    assert _savefile_state(name) == "fresh", "template build did not rebuild the savefile"
    assert savefile.stat().st_mtime_ns != saved_at
