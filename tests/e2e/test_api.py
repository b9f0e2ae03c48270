"""The control API checks what it receives as strictly as the CLI does,
and never echoes bytes it did not check."""

import json
import socket

import pytest

import helpers


def _raw_request(data, timeout=30):
    """Send raw bytes (one request line) and return the reply line as bytes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(str(helpers.runtime_dir() / "control.sock"))
        connection.sendall(data)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def _error_of(reply):
    """The error text of a reply line, which must be valid UTF-8 JSON."""
    message = json.loads(reply.decode("utf-8"))
    assert message.get("ok") is False or message.get("event") == "error", message
    return message["error"]


@pytest.fixture
def daemon(minimal_template):
    """A running daemon: `dispvm ls` starts one when none runs."""
    result = helpers.dispvm("ls")
    assert result.status == 0, result


def test_api_invalid_utf8_not_echoed(daemon):
    reply = _raw_request(b'{"op":"\xff\xfe"}\n')
    error = _error_of(reply)
    assert b"\xff" not in reply
    assert "UTF-8" in error


def test_api_trailing_nul_rejected(daemon):
    error = _error_of(_raw_request(b'{"op":"version"}\0\n'))
    assert "JSON object" in error


def test_api_trailing_garbage_rejected(daemon):
    error = _error_of(_raw_request(b'{"op":"version"} x\n'))
    assert "JSON object" in error


BAD_RUN_FIELDS = [
    ({"memory_mib": 1}, "memory_mib 1"),
    ({"memory_mib": 65537}, "memory_mib 65537"),
    ({"memory_mib": "256"}, "memory_mib"),
    ({"env": ["NOEQ"]}, "NOEQ"),
    ({"env": ["=x"]}, "=x"),
    ({"env": ["1A=x"]}, "1A=x"),
    ({"rows": 99999999999}, "rows 99999999999"),
    ({"cols": -1}, "cols -1"),
    ({"rows": "24"}, "rows"),
    ({"tty": "yes"}, "tty"),
    ({"template": 7}, "template"),
]


@pytest.mark.parametrize("fields,named", BAD_RUN_FIELDS,
                         ids=[named for _, named in BAD_RUN_FIELDS])
def test_api_run_field_rejected(daemon, fields, named):
    request = {"op": "run", "argv": ["true"], **fields}
    reply = _raw_request(json.dumps(request).encode() + b"\n")
    error = _error_of(reply)
    assert named in error, error
    assert "invalid" in error, error
    assert helpers.list_vms() == []


def test_api_open_file_size_type(daemon):
    request = {"op": "open", "file_name": "a.txt", "file_size": "12"}
    error = _error_of(_raw_request(json.dumps(request).encode() + b"\n"))
    assert "file_size" in error, error


def test_api_missing_fds_says_what_to_do(daemon):
    error = _error_of(_raw_request(b'{"op":"run","argv":["true"]}\n'))
    assert "run needs 3 fds" in error, error
    assert "SCM_RIGHTS" in error, error


def test_api_bad_template_says_what_to_do(daemon):
    # The fds come first: the template name is checked when the VM is made.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(30)
        connection.connect(str(helpers.runtime_dir() / "control.sock"))
        pairs = [socket.socketpair() for _ in range(3)]
        request = {"op": "run", "argv": ["true"], "template": "../x"}
        socket.send_fds(connection, [json.dumps(request).encode() + b"\n"],
                        [pair[1].fileno() for pair in pairs])
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            reply += chunk
        for pair in pairs:
            pair[0].close()
            pair[1].close()
    error = _error_of(reply)
    assert "invalid template name" in error, error
    assert "dispvm template ls" in error, error
