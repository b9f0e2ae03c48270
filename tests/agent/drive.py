#!/usr/bin/env python3
"""Boot an initramfs with dispvm-agent as /init under QEMU and check it.

A development aid for the guest agent, not the e2e suite: this script
plays the host side of the protocol in protocol/dispvm-protocol.h over a
socketpair that QEMU uses as the virtio-serial chardev.

    tests/agent/drive.py KERNEL INITRAMFS [SERIAL_LOG]

The initramfs needs busybox applets, the agent as /init, and the virtio
modules listed in /etc/dispvm/modules (see docs/templates.md).
"""
import os
import select
import socket
import struct
import subprocess
import sys
import time

HEADER = struct.Struct("<HHII")
HELLO, START, STDIN, STDOUT, STDERR, FILE_IN, FILE_OUT, WINDOW = range(1, 9)
SIGNAL, RESIZE, FILE_CHANGED, EXIT, CLOSE, IDENTITY, READY = range(9, 16)
START_TTY, START_FILE, START_VIEW_ONLY = 1, 2, 4
EXIT_CODE, EXIT_SIGNAL, EXIT_NOT_FOUND, EXIT_NOT_EXECUTABLE, EXIT_FAILED = range(1, 6)
INITIAL_WINDOW = 256 * 1024
MAX_PAYLOAD = 65536
PORT_NAME = "org.dispvm.agent.0"


class Guest:
    """One QEMU guest and the host end of its agent port."""

    def __init__(self, kernel, initramfs, serial_log):
        self.sock, guest_agent = socket.socketpair()
        self.qmp, guest_qmp = socket.socketpair()
        command = [
            "qemu-system-x86_64", "-nodefaults", "-no-user-config", "-machine", "q35",
            "-accel", "tcg", "-cpu", "max", "-m", "256", "-display", "none", "-no-reboot",
            "-kernel", kernel, "-initrd", initramfs,
            "-append", "console=ttyS0 panic=-1",
            "-serial", "file:" + serial_log, "-device", "virtio-rng-pci",
            "-chardev", f"socket,id=agent,fd={guest_agent.fileno()}",
            "-device", "virtio-serial-pci",
            "-device", f"virtserialport,chardev=agent,name={PORT_NAME}",
            "-chardev", f"socket,id=qmp,fd={guest_qmp.fileno()}",
            "-mon", "chardev=qmp,mode=control",
        ]
        self.process = subprocess.Popen(
            command, pass_fds=(guest_agent.fileno(), guest_qmp.fileno()))
        guest_agent.close()
        guest_qmp.close()
        self.buffer = b""

    def send(self, kind, channel, payload=b""):
        self.sock.sendall(HEADER.pack(kind, 0, channel, len(payload)) + payload)

    def read_frame(self, timeout):
        """Return (type, channel, payload) or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= HEADER.size:
                kind, flags, channel, length = HEADER.unpack_from(self.buffer)
                assert flags == 0, "nonzero header flags"
                if len(self.buffer) >= HEADER.size + length:
                    payload = self.buffer[HEADER.size:HEADER.size + length]
                    self.buffer = self.buffer[HEADER.size + length:]
                    return kind, channel, payload
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                data = self.sock.recv(1 << 20)
                if not data:
                    raise EOFError("agent closed the port")
                self.buffer += data

    def wait_hello(self, timeout=60):
        frame = self.read_frame(timeout)
        assert frame is not None, "no HELLO from the agent"
        kind, channel, payload = frame
        assert (kind, channel) == (HELLO, 0), f"expected HELLO, got {kind} on {channel}"
        # The agent accepts START only after IDENTITY (name, clock, entropy).
        identity = struct.pack("<Q", time.time_ns()) + os.urandom(64) + b"disp1"
        self.send(IDENTITY, 0, identity)
        frame = self.read_frame(timeout)
        assert frame is not None and frame[:2] == (READY, 0), f"expected READY, got {frame}"
        return struct.unpack("<II", payload)

    def stop(self):
        self.sock.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def encode_start(argv, env=(), cwd="", flags=0, rows=24, cols=80, file_size=0,
                 file_name="", app=""):
    fixed = struct.pack("<IHHIIQ", flags, rows, cols, len(argv), len(env), file_size)
    strings = list(argv) + list(env) + [cwd]
    if flags & START_FILE:
        strings += [file_name, app]
    return fixed + b"".join(s.encode() + b"\0" for s in strings)


class Session:
    """The host end of one channel: sends input, collects output and
    checks that the guest stays within the credit it was granted."""

    def __init__(self, guest, channel, start_payload, stdin=b"", file_in=None,
                 actions=()):
        self.guest = guest
        self.channel = channel
        self.stdin = stdin
        self.file_in = file_in
        self.actions = list(actions)  # (seconds after start, type, payload)
        self.output = {STDOUT: b"", STDERR: b"", FILE_OUT: b""}
        self.credit = {STDOUT: INITIAL_WINDOW, STDERR: INITIAL_WINDOW,
                       FILE_OUT: INITIAL_WINDOW}
        self.eof = set()
        self.send_credit = {STDIN: INITIAL_WINDOW, FILE_IN: INITIAL_WINDOW}
        self.file_changed = None
        self.exit = None
        self.stdin_sent = 0  # None once EOF is sent
        self.file_sent = 0
        guest.send(START, channel, start_payload)
        self.started = time.monotonic()

    def pump_input(self, kind, data, sent):
        """Send as much of `data` from offset `sent` as the credit allows."""
        while sent < len(data) and self.send_credit[kind] > 0:
            chunk = data[sent:sent + min(MAX_PAYLOAD, self.send_credit[kind])]
            self.guest.send(kind, self.channel, chunk)
            self.send_credit[kind] -= len(chunk)
            sent += len(chunk)
        return sent

    def handle(self, kind, payload):
        if kind in self.output:
            assert kind not in self.eof, f"data after EOF on stream {kind}"
            if not payload:
                self.eof.add(kind)
                return
            self.credit[kind] -= len(payload)
            assert self.credit[kind] >= 0, f"guest overran the window of stream {kind}"
            self.output[kind] += payload
            self.credit[kind] += len(payload)
            self.guest.send(WINDOW, self.channel, struct.pack("<II", kind, len(payload)))
        elif kind == WINDOW:
            stream, increment = struct.unpack("<II", payload)
            self.send_credit[stream] += increment
            assert self.send_credit[stream] <= INITIAL_WINDOW, "guest granted too much"
        elif kind == FILE_CHANGED:
            (self.file_changed,) = struct.unpack("<Q", payload)
        elif kind == EXIT:
            kind_value = struct.unpack_from("<Ii", payload)
            self.exit = (*kind_value, payload[8:].decode())
        else:
            raise AssertionError(f"unexpected message {kind}")

    def step(self):
        """Send the input that the credit allows and due actions."""
        if self.file_in is not None and self.file_sent is not None:
            self.file_sent = self.pump_input(FILE_IN, self.file_in, self.file_sent)
            if self.file_sent == len(self.file_in):
                self.guest.send(FILE_IN, self.channel)
                self.file_sent = None
        if self.stdin is not None and self.stdin_sent is not None:
            self.stdin_sent = self.pump_input(STDIN, self.stdin, self.stdin_sent)
            if self.stdin_sent == len(self.stdin):
                self.guest.send(STDIN, self.channel)
                self.stdin_sent = None
        while self.actions and time.monotonic() - self.started >= self.actions[0][0]:
            _, kind, payload = self.actions.pop(0)
            self.guest.send(kind, self.channel, payload)

    def run(self, timeout=60):
        return run_sessions(self.guest, [self], timeout)[0]


def run_sessions(guest, sessions, timeout=60):
    """Serve several sessions at once until each one has sent EXIT."""
    by_channel = {session.channel: session for session in sessions}
    deadline = time.monotonic() + timeout
    while any(session.exit is None for session in sessions):
        assert time.monotonic() < deadline, "session timed out"
        for session in sessions:
            if session.exit is None:
                session.step()
        frame = guest.read_frame(0.05)
        if frame is None:
            continue
        kind, channel, payload = frame
        assert channel in by_channel, f"frame for unexpected channel {channel}"
        session = by_channel[channel]
        assert session.exit is None, f"frame after EXIT on channel {channel}"
        session.handle(kind, payload)
        if session.exit is not None:
            assert {STDOUT, STDERR} <= session.eof, "EXIT before the EOF of stdout and stderr"
    return sessions


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + (f": {detail}" if not condition else ""))
    return condition


def run_checks(guest):
    results = []
    channel = iter(range(1, 1000))

    def run(argv, **kwargs):
        start = {k: kwargs.pop(k) for k in list(kwargs) if k not in ("stdin", "file_in", "actions")}
        return Session(guest, next(channel), encode_start(argv, **start), **kwargs).run()

    s = run(["echo", "hi"])
    results.append(check("echo stdout", s.output[STDOUT] == b"hi\n" and s.exit[:2] == (EXIT_CODE, 0),
                         repr((s.output, s.exit))))

    s = run(["sh", "-c", "echo err >&2; exit 3"])
    results.append(check("stderr and exit status",
                         s.output[STDERR] == b"err\n" and s.exit[:2] == (EXIT_CODE, 3),
                         repr((s.output, s.exit))))

    s = run(["no-such-command"])
    results.append(check("missing command",
                         s.exit == (EXIT_NOT_FOUND, 127, "command not found: no-such-command"),
                         repr(s.exit)))

    s = run(["/etc/passwd"])
    results.append(check("not executable", s.exit[:2] == (EXIT_NOT_EXECUTABLE, 126), repr(s.exit)))

    s = run(["sh", "-c", "id -u; id -g; pwd; echo $HOME $PATH $FOO; hostname"], env=["FOO=bar"])
    expected = (b"1000\n1000\n/home/user\n/home/user "
                b"/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin bar\ndisp1\n")
    results.append(check("user, env and host name", s.output[STDOUT] == expected,
                         repr(s.output[STDOUT])))

    data = os.urandom(10 * 1024 * 1024)
    began = time.monotonic()
    s = run(["cat"], stdin=data)
    results.append(check(f"cat 10 MiB round trip ({time.monotonic() - began:.1f} s)",
                         s.output[STDOUT] == data and s.exit[:2] == (EXIT_CODE, 0),
                         f"{len(s.output[STDOUT])} bytes, exit {s.exit}"))

    s = run(["sleep", "30"], stdin=None, actions=[(1.0, SIGNAL, struct.pack("<I", 15))])
    results.append(check("signal", s.exit[:2] == (EXIT_SIGNAL, 15), repr(s.exit)))

    s = run(["sleep", "30"], stdin=None, actions=[(1.0, CLOSE, b"")])
    results.append(check("close", s.exit[:2] == (EXIT_SIGNAL, 9), repr(s.exit)))

    s = run(["sh", "-c", "tty; stty size; echo $TERM"], flags=START_TTY, rows=33, cols=99,
            stdin=None)
    results.append(check("pty session",
                         s.output[STDOUT] == b"/dev/pts/0\r\n33 99\r\nxterm-256color\r\n",
                         repr(s.output[STDOUT])))

    s = run(["sh", "-c", "read line; echo got $line"], flags=START_TTY, stdin=b"abc\n")
    results.append(check("pty stdin", b"got abc" in s.output[STDOUT], repr(s.output[STDOUT])))

    content = b"hello\n"
    s = run([], flags=START_FILE, file_size=len(content), file_name="it's a file.txt",
            app="echo added >>", file_in=content, stdin=None)
    results.append(check("open session sends the changed file",
                         s.file_changed == len(content) + 6 and
                         s.output[FILE_OUT] == content + b"added\n" and s.exit[:2] == (EXIT_CODE, 0),
                         repr((s.file_changed, s.output, s.exit))))

    s = run([], flags=START_FILE, file_size=len(content), file_name="same.txt",
            app="cat", file_in=content, stdin=None)
    results.append(check("open session, unchanged file",
                         s.file_changed is None and s.output[STDOUT] == content,
                         repr((s.file_changed, s.output, s.exit))))

    s = run([], flags=START_FILE | START_VIEW_ONLY, file_size=3, file_name="ro.txt",
            app="stat -c %a", file_in=b"abc", stdin=None)
    results.append(check("view-only file mode 0400", s.output[STDOUT] == b"400\n",
                         repr(s.output)))

    s = run([], flags=START_FILE, file_size=4, file_name="bg.txt",
            app="sh -c '(sleep 2; echo late >> \"$0\") &'", file_in=b"bg!\n", stdin=None)
    results.append(check("open session waits for background processes",
                         s.output[FILE_OUT] == b"bg!\nlate\n", repr((s.output, s.exit))))

    s = run([], flags=START_FILE, file_size=4, file_name="bin.dat", file_in=b"\0\1\2\3",
            stdin=b"q", env=["PAGER=cat"])
    results.append(check("mailcap hex viewer for binary data",
                         b"00 01 02 03" in s.output[STDOUT], repr((s.output, s.exit))))

    sessions = [Session(guest, next(channel), encode_start(["sh", "-c", f"sleep 1; echo {i}"]),
                        stdin=None) for i in range(10)]
    began = time.monotonic()
    run_sessions(guest, sessions)
    outputs = [session.output[STDOUT] for session in sessions]
    results.append(check(f"10 concurrent sessions ({time.monotonic() - began:.1f} s)",
                         outputs == [f"{i}\n".encode() for i in range(10)], repr(outputs)))

    s = run(["sh", "-c", "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.1; done"],
            flags=START_TTY, stdin=None, actions=[(2.0, RESIZE, struct.pack("<HH", 50, 132))])
    results.append(check("pty resize", s.output[STDOUT] == b"ready\r\n50 132\r\n",
                         repr(s.output[STDOUT])))
    return all(results)


def check_violation_powers_off(guest):
    """A header with nonzero flags is a protocol violation."""
    guest.sock.sendall(HEADER.pack(STDIN, 1, 1, 0))
    try:
        guest.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return check("violation powers off", False, "QEMU still running after 30 s")
    return check("violation powers off", True)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    serial_log = sys.argv[3] if len(sys.argv) > 3 else "/tmp/dispvm-agent-serial.log"
    guest = Guest(sys.argv[1], sys.argv[2], serial_log)
    try:
        began = time.monotonic()
        version, max_payload = guest.wait_hello()
        print(f"HELLO version {version}, max payload {max_payload}, "
              f"after {time.monotonic() - began:.1f} s")
        ok = run_checks(guest)
        ok = check_violation_powers_off(guest) and ok
    finally:
        guest.stop()
    print(f"serial console: {serial_log}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
