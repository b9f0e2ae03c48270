"""Helpers shared by the e2e tests: running the CLI, the control socket,
the daemon log and the processes this suite started."""

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[2]


def _bin_dir():
    configured = os.environ.get("DISPVM_BIN_DIR")
    if configured:
        return Path(configured)
    for name in ("build-asan", "build"):
        if (SOURCE_DIR / name / "cli" / "dispvm").exists():
            return SOURCE_DIR / name
    return SOURCE_DIR / "build"


BIN_DIR = _bin_dir()
DISPVM = BIN_DIR / "cli" / "dispvm"
DISPVMD = BIN_DIR / "daemon" / "dispvmd"
HOSTILE_AGENT = Path(os.environ.get(
    "DISPVM_HOSTILE_AGENT", SOURCE_DIR / "build" / "tests" / "hostile" / "hostile-agent"))

# Exit status of the CLI when dispvm itself failed (as `docker run` uses it).
DISPVM_FAILED = 125


def xdg_dir(variable, fallback):
    return Path(os.environ.get(variable) or Path.home() / fallback) / "dispvm"


def runtime_dir():
    base = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return Path(base) / "dispvm"


def daemon_log_path():
    return xdg_dir("XDG_STATE_HOME", ".local/state") / "dispvmd.log"


def template_dir(name):
    return xdg_dir("XDG_DATA_HOME", ".local/share") / "templates" / name


def filter_notes(text):
    """Drop the CLI's `dispvm: note: ...` lines (the TCG notice)."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith("dispvm: note: "))


@dataclass
class Result:
    status: int
    stdout: bytes
    stderr: str  # without note lines
    raw_stderr: str

    @property
    def text(self):
        return self.stdout.decode(errors="replace")

    def __str__(self):
        return (f"status {self.status}\nstdout: {self.stdout[:2000]!r}\n"
                f"stderr: {self.raw_stderr[-4000:]}")


def make_result(status, stdout, stderr):
    raw = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    return Result(status, stdout or b"", filter_notes(raw), raw)


def dispvm(*args, timeout=120, input=None, env=None, cwd=None):
    """Run the CLI to completion and return its Result. A negative status
    means the CLI was killed by that signal."""
    full_env = dict(os.environ, **(env or {}))
    completed = subprocess.run([str(DISPVM), *map(str, args)], input=input,
                               capture_output=True, timeout=timeout, env=full_env,
                               cwd=cwd)
    return make_result(completed.returncode, completed.stdout, completed.stderr)


def start_dispvm(*args, env=None, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, **kwargs):
    """Start the CLI in the background; finish it with `finish`."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.Popen([str(DISPVM), *map(str, args)], env=full_env, stdin=stdin,
                            stdout=stdout, stderr=stderr, **kwargs)


def finish(process, timeout=120):
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"dispvm {process.args[1:]} timed out after {timeout} s; "
                             f"stderr: {stderr.decode(errors='replace')}")
    return make_result(process.returncode, stdout, stderr or b"")


def control_request(request, timeout=30):
    """Send one request to the daemon's control socket; return the reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(str(runtime_dir() / "control.sock"))
        connection.sendall(json.dumps(request).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            reply += chunk
    return json.loads(reply)


def list_vms(settle=10):
    """VMs as the control API lists them (with qemu_pid), [] without a daemon.

    A client gets its last event before the daemon has reaped QEMU, so its
    VM stays listed as `stopping` for a moment after the client exits.
    Wait up to `settle` seconds for such VMs to go, so that callers see the
    settled list."""
    deadline = time.monotonic() + settle
    while True:
        vms = _list_once()
        if all(vm["state"] != "stopping" for vm in vms) or time.monotonic() > deadline:
            return vms
        time.sleep(0.1)


def _list_once():
    if not (runtime_dir() / "control.sock").exists():
        return []
    try:
        reply = control_request({"op": "list"})
    except ConnectionRefusedError:
        return []  # a socket left by a daemon that was killed
    assert reply.get("ok"), f"list failed: {reply}"
    return reply["vms"]


def list_all_vms():
    """VMs with the pool's preloaded ones (`list` with `all`)."""
    if not (runtime_dir() / "control.sock").exists():
        return []
    try:
        reply = control_request({"op": "list", "all": True})
    except ConnectionRefusedError:
        return []
    assert reply.get("ok"), f"list failed: {reply}"
    return reply["vms"]


def pool_qemu_pids():
    """QEMU pids of the pool's members, loading or ready."""
    return [vm["qemu_pid"] for vm in list_all_vms()
            if vm["state"] in ("preloading", "preloaded")]


def wait_until(predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_for_vm_count(count, timeout=60):
    return wait_until(lambda: len(list_vms()) == count, timeout)


def pid_alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _process_environ(pid):
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def _process_exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _parent_pid(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _all_pids():
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def daemon_pids():
    """Live dispvmd processes that serve this suite's runtime dir."""
    marker = f"XDG_RUNTIME_DIR={os.environ.get('XDG_RUNTIME_DIR', '')}".encode()
    found = [pid for pid in _all_pids()
             if os.path.basename(_process_exe(pid)).startswith("dispvmd")
             and marker in _process_environ(pid) and pid_alive(pid)]
    # A child the daemon just forked runs dispvmd's image until it execs QEMU.
    return [pid for pid in found if _parent_pid(pid) not in found]


def suite_qemu_pids(known_daemons=()):
    """Live QEMU processes started for this suite: children of its daemons or
    processes with its XDG_RUNTIME_DIR in their environment."""
    marker = f"XDG_RUNTIME_DIR={os.environ.get('XDG_RUNTIME_DIR', '')}".encode()
    daemons = set(known_daemons) | set(daemon_pids())
    found = []
    for pid in _all_pids():
        if "qemu" not in os.path.basename(_process_exe(pid)) or not pid_alive(pid):
            continue
        if _parent_pid(pid) in daemons or marker in _process_environ(pid):
            found.append(pid)
    return found


def stop_daemons(timeout=20):
    """SIGTERM every daemon of this suite; return those still alive after
    `timeout` seconds."""
    pids = daemon_pids()
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout)
    return [pid for pid in pids if pid_alive(pid)]


class DaemonLog:
    """The daemon log, read from a remembered offset so that a test sees
    only the lines written while it ran."""

    def __init__(self):
        self.path = daemon_log_path()
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def text(self):
        if not self.path.exists():
            return ""
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace")

    def wait_for(self, *words, timeout=10):
        """Wait until one line contains all `words`; return it or None."""
        def find():
            for line in self.text().splitlines():
                if all(word in line for word in words):
                    return line
            return None
        return wait_until(find, timeout)
