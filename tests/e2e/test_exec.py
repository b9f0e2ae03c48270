"""dispvm exec: commands in a running disposable, several at once, and
what happens to them when the disposable goes away."""

import hashlib
import os
import pty
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import helpers
from helpers import dispvm

# "disp0" is never a VM name: the daemon numbers names from 1.
UNKNOWN_NAME = "disp0"


def _running_names():
    return {vm["name"] for vm in helpers.list_vms() if vm["state"] == "running"}


def _start_vm(*command, stdin=subprocess.DEVNULL):
    """Start `dispvm run -- COMMAND` in the background and wait until its
    VM runs; return the CLI process and the VM name."""
    before = {vm["name"] for vm in helpers.list_vms()}
    process = helpers.start_dispvm("run", "--", *command, stdin=stdin)
    new = helpers.wait_until(lambda: _running_names() - before, 180)
    if not new:
        process.kill()
        raise AssertionError(f"the VM of {command} never reached the running state: "
                             f"{helpers.finish(process)}")
    assert len(new) == 1, new
    return process, new.pop()


def _stop_vm(process, name):
    process.kill()
    process.wait(timeout=10)
    assert helpers.wait_until(lambda: name not in {vm["name"] for vm in helpers.list_vms()},
                              20), f"{name} still listed after its CLI was killed"


@pytest.fixture(scope="module")
def vm(minimal_template):
    """One disposable that stays up for the whole module."""
    process, name = _start_vm("sleep", "900")
    yield name
    _stop_vm(process, name)


def _exec(name, *args, **kwargs):
    if "--" not in args:
        args = ("--", *args)
    return dispvm("exec", name, *args, timeout=kwargs.pop("timeout", 120), **kwargs)


def test_exec_echo(vm):
    result = _exec(vm, "echo", "hi")
    assert result.status == 0, result
    assert result.stdout == b"hi\n", result
    assert result.stderr == "", result


def test_exec_separates_stdout_stderr(vm):
    result = _exec(vm, "sh", "-c", "echo out; echo err >&2")
    assert result.status == 0, result
    assert result.stdout == b"out\n", result
    assert result.stderr == "err\n", result


@pytest.mark.parametrize("command, status", [
    (["sh", "-c", "exit 3"], 3),
    (["no-such-command-xyz"], 127),
    (["sh", "-c", "kill -TERM $$"], 128 + signal.SIGTERM),
])
def test_exec_exit_status(vm, command, status):
    result = _exec(vm, *command)
    assert result.status == status, result


def test_exec_env(vm):
    result = dispvm("exec", vm, "-e", "FOO=bar", "--", "sh", "-c", 'echo "$FOO"')
    assert result.status == 0, result
    assert result.stdout == b"bar\n", result


def test_exec_stdin_eof(vm):
    result = _exec(vm, "cat", input=b"abc")
    assert result.status == 0, result
    assert result.stdout == b"abc", result


def test_exec_10mib_round_trip(vm):
    data = os.urandom(10 * 1024 * 1024)
    result = _exec(vm, "cat", input=data, timeout=300)
    assert result.status == 0, result
    assert len(result.stdout) == len(data)
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(data).digest()


def test_two_concurrent_execs(vm):
    """Each command waits for a file the other one creates, so they finish
    only when both run at the same time."""
    script = ('touch /tmp/{mine}; i=0; while [ ! -e /tmp/{other} ]; do '
              'i=$((i+1)); [ $i -gt 600 ] && exit 9; sleep 0.1; done; echo {mine}')
    tag = f"x{os.getpid()}"
    first = script.format(mine=f"{tag}a", other=f"{tag}b")
    second = script.format(mine=f"{tag}b", other=f"{tag}a")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: _exec(vm, "sh", "-c", s), [first, second]))
    assert results[0].status == 0, results[0]
    assert results[1].status == 0, results[1]
    assert results[0].stdout == f"{tag}a\n".encode(), results[0]
    assert results[1].stdout == f"{tag}b\n".encode(), results[1]


def test_exec_tty(vm):
    controller, terminal = pty.openpty()
    process = subprocess.Popen([str(helpers.DISPVM), "exec", "-t", vm, "--", "tty"],
                               stdin=terminal, stdout=terminal, stderr=subprocess.PIPE,
                               start_new_session=True)
    status = process.wait(timeout=120)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    stderr = process.stderr.read().decode(errors="replace")
    assert status == 0, f"status {status}, output {output!r}, stderr {stderr}"
    assert b"/dev/pts/" in output, f"output {output!r}, stderr {stderr}"


@pytest.mark.parametrize("command", [
    ["sleep", "600"],
    # Output that nobody reads fills the window, so the guest has output
    # in flight when the session is closed.
    ["yes"],
])
def test_sigkill_exec_cli_ends_only_its_session(vm, daemon_log, command):
    qemu_pid = next(v["qemu_pid"] for v in helpers.list_vms() if v["name"] == vm)
    process = helpers.start_dispvm("exec", vm, "--", *command)
    started = daemon_log.wait_for(vm, "exec started", command[0], timeout=60)
    assert started, daemon_log.text()

    if command == ["yes"]:
        time.sleep(2)  # let the output fill the window
    process.kill()
    process.wait(timeout=10)
    closed = daemon_log.wait_for(vm, "left; closing the session", timeout=20)
    assert closed, daemon_log.text()
    ended = daemon_log.wait_for(vm, "ended: command exited with status 137", timeout=20)
    assert ended, daemon_log.text()
    assert vm in _running_names(), helpers.list_vms()
    assert helpers.pid_alive(qemu_pid)

    result = _exec(vm, "echo", "still here")
    assert result.status == 0, result
    assert result.stdout == b"still here\n", result


def test_at_most_16_sessions(vm):
    """The main session and 15 execs fill the VM; the next exec fails with
    a clear error, and one more fits once a session ended."""
    sleepers = [helpers.start_dispvm("exec", vm, "--", "sleep", "600") for _ in range(15)]
    try:
        full = helpers.wait_until(
            lambda: next(v for v in helpers.list_vms() if v["name"] == vm)["sessions"] == 16,
            60)
        assert full, helpers.list_vms()
        result = _exec(vm, "true")
        assert result.status == helpers.DISPVM_FAILED, result
        assert result.stderr == (f"dispvm: {vm} already runs 16 sessions, the maximum per "
                                 "VM; wait for one to end\n"), result
    finally:
        for process in sleepers:
            process.kill()
            process.wait(timeout=10)
    assert helpers.wait_until(
        lambda: next(v for v in helpers.list_vms() if v["name"] == vm)["sessions"] == 1, 60), \
        helpers.list_vms()
    result = _exec(vm, "true")
    assert result.status == 0, result


def test_main_session_end_ends_exec(minimal_template, daemon_log):
    main, name = _start_vm("cat", stdin=subprocess.PIPE)
    try:
        exec_process = helpers.start_dispvm("exec", name, "--", "sleep", "600")
        assert daemon_log.wait_for(name, "exec started", timeout=60), daemon_log.text()

        main.stdin.close()  # cat ends, and so does the main session
        main.stdin = None
        main_result = helpers.finish(main, timeout=60)
        assert main_result.status == 0, main_result
        result = helpers.finish(exec_process, timeout=60)
    finally:
        main.kill()
    assert result.status == helpers.DISPVM_FAILED, result
    assert result.stderr == (f"dispvm: the VM {name} was destroyed: "
                             "command exited with status 0\n"), result
    assert helpers.wait_until(lambda: name not in {v["name"] for v in helpers.list_vms()}, 20)
    destroyed = daemon_log.wait_for(name, "destroyed (", "teardown", " ms;", timeout=20)
    assert destroyed, daemon_log.text()

    gone = dispvm("exec", name, "--", "true")
    assert gone.status == helpers.DISPVM_FAILED, gone
    assert gone.stderr == f"dispvm: no VM named {name}; list VMs with: dispvm ls\n", gone


def test_exec_waits_for_starting_vm(minimal_template):
    before = {vm["name"] for vm in helpers.list_vms()}
    # A boot keeps the VM starting for seconds; a VM from the pool runs
    # within a fraction of a second.
    main = helpers.start_dispvm("run", "--start", "boot", "--", "sleep", "600")
    new = helpers.wait_until(lambda: {v["name"] for v in helpers.list_vms()} - before, 30)
    if not new:
        main.kill()
        raise AssertionError(f"the VM was never listed: {helpers.finish(main)}")
    name = new.pop()
    try:
        states = {v["name"]: v["state"] for v in helpers.list_vms()}
        assert states[name] == "starting", states
        result = _exec(name, "echo", "hi", timeout=180)
        assert result.status == 0, result
        assert result.stdout == b"hi\n", result
    finally:
        _stop_vm(main, name)


def test_exec_unknown_name(minimal_template):
    result = dispvm("exec", UNKNOWN_NAME, "--", "true")
    assert result.status == helpers.DISPVM_FAILED, result
    assert result.stdout == b"", result
    assert result.raw_stderr == \
        f"dispvm: no VM named {UNKNOWN_NAME}; list VMs with: dispvm ls\n", result
