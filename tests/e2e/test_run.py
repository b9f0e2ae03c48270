"""dispvm run: streams, exit statuses, environment, user, signals, tty."""

import hashlib
import os
import pty
import select
import signal
import subprocess
import termios
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import helpers
from helpers import dispvm

# Cases without special plumbing run concurrently in one batch, four at a
# time, because each boots its own VM.
BATCH = {
    "streams": ["sh", "-c", "echo out; echo err >&2"],
    "exit3": ["sh", "-c", "exit 3"],
    "not-executable": ["/etc/passwd"],
    "not-found": ["no-such-command-xyz"],
    "signal": ["sh", "-c", "kill -TERM $$"],
    "env": ["-e", "FOO=bar", "--", "sh", "-c", 'echo "$FOO"'],
    "uname": ["uname", "-r"],
    "uid": ["id", "-u"],
}


def _run_case(name):
    args = BATCH[name]
    if "--" not in args:
        args = ["--", *args]
    return name, dispvm("run", *args, timeout=240)


@pytest.fixture(scope="module")
def batch(minimal_template):
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(_run_case, BATCH))


def test_run_separates_stdout_stderr(batch):
    result = batch["streams"]
    assert result.status == 0, result
    assert result.stdout == b"out\n", result
    assert result.stderr == "err\n", result


def test_run_exit_status_3(batch):
    assert batch["exit3"].status == 3, batch["exit3"]


def test_run_not_executable_126(batch):
    assert batch["not-executable"].status == 126, batch["not-executable"]


def test_run_not_found_127(batch):
    result = batch["not-found"]
    assert result.status == 127, result
    assert "no-such-command-xyz" in result.stderr, result


def test_run_signal_status_143(batch):
    assert batch["signal"].status == 128 + signal.SIGTERM, batch["signal"]


def test_run_env_reaches_command(batch):
    result = batch["env"]
    assert result.status == 0, result
    assert result.stdout == b"bar\n", result


def test_run_guest_kernel_differs(batch):
    result = batch["uname"]
    assert result.status == 0, result
    guest = result.stdout.decode().strip()
    assert guest, result
    assert guest != os.uname().release, result


def test_run_as_uid_1000(batch):
    result = batch["uid"]
    assert result.status == 0, result
    assert result.stdout == b"1000\n", result


def test_run_stdin_eof(minimal_template):
    result = dispvm("run", "--", "cat", input=b"abc", timeout=180)
    assert result.status == 0, result
    assert result.stdout == b"abc", result


def test_run_10mib_binary_round_trip(minimal_template):
    data = os.urandom(10 * 1024 * 1024)
    result = dispvm("run", "--", "cat", input=data, timeout=300)
    assert result.status == 0, result
    assert len(result.stdout) == len(data)
    assert hashlib.sha256(result.stdout).hexdigest() == hashlib.sha256(data).hexdigest()


def test_run_sigterm_reaches_command(minimal_template, daemon_log):
    process = helpers.start_dispvm(
        "run", "--", "sh", "-c", 'trap "echo got; exit 7" TERM; echo ready; sleep 30 & wait')
    # Wait until the command runs (its trap is set) before signalling.
    ready = select.select([process.stdout], [], [], 120)[0]
    assert ready, "command never printed ready"
    assert process.stdout.readline() == b"ready\n"
    process.send_signal(signal.SIGTERM)
    result = helpers.finish(process, timeout=60)
    assert result.status == 7, result
    assert result.stdout == b"got\n", result


def _read_until_exit(fd, process, timeout):
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = select.select([fd], [], [], 0.5)[0]
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    return output


def test_run_tty_restores_terminal(minimal_template):
    controller, terminal = pty.openpty()
    before = termios.tcgetattr(terminal)
    process = subprocess.Popen([str(helpers.DISPVM), "run", "-t", "--", "tty"],
                               stdin=terminal, stdout=terminal, stderr=subprocess.PIPE,
                               start_new_session=True)
    output = _read_until_exit(controller, process, 180)
    status = process.wait(timeout=60)
    after = termios.tcgetattr(terminal)
    stderr = process.stderr.read().decode(errors="replace")
    os.close(controller)
    os.close(terminal)

    assert status == 0, f"status {status}, output {output!r}, stderr {stderr}"
    assert b"/dev/pts/" in output, f"output {output!r}, stderr {stderr}"
    assert after == before, "terminal settings not restored after exit"
