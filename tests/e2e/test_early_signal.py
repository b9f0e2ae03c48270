"""A signal that reaches the CLI before the guest started the command or
app ends the session at once: the VM is destroyed and the CLI exits 128+N."""

import os
import signal

import helpers


def _wait_state(state, timeout=120):
    return helpers.wait_until(
        lambda: [vm for vm in helpers.list_vms() if vm["state"] == state], timeout, 0.02)


def test_sigint_during_boot_130(minimal_template, daemon_log):
    process = helpers.start_dispvm("run", "--start", "boot", "--", "sleep", "30")
    starting = _wait_state("starting")
    assert starting, "the VM never showed as starting"

    process.send_signal(signal.SIGINT)
    result = helpers.finish(process, timeout=20)
    assert result.status == 128 + signal.SIGINT, result
    assert helpers.wait_for_vm_count(0, 10), helpers.list_vms()
    name = starting[0]["name"]
    line = daemon_log.wait_for(f"{name}: destroyed", "the client sent SIGINT before the command")
    assert line, daemon_log.text()


def test_sigterm_during_open_copy_143(minimal_template, work_dir, daemon_log):
    path = work_dir / "big.bin"
    data = os.urandom(1024 * 1024) * 150
    path.write_bytes(data)
    before = os.stat(path)
    process = helpers.start_dispvm("open", "--app", "sh -c 'echo changed > \"$1\"' sh", path)
    # The VM runs once START is queued, and the copy of the file follows.
    running = _wait_state("running", timeout=240)
    assert running, "the VM never reached the running state"

    process.send_signal(signal.SIGTERM)
    result = helpers.finish(process, timeout=30)
    after = os.stat(path)
    assert result.status == 128 + signal.SIGTERM, result
    assert helpers.wait_for_vm_count(0, 10), helpers.list_vms()
    assert after.st_ino == before.st_ino
    assert after.st_mtime_ns == before.st_mtime_ns
    assert path.read_bytes() == data
    assert sorted(os.listdir(work_dir)) == ["big.bin"]
