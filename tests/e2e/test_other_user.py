"""A connection from another uid gets one error line before the daemon
closes it, and the CLI prints that line."""

import os
import subprocess
import uuid

import pytest

import helpers


@pytest.fixture
def other_user():
    name = "dvtest" + uuid.uuid4().hex[:8]
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=True)


@pytest.fixture
def open_runtime_dir(minimal_template):
    """The daemon's runtime dir and socket opened to other users, and the
    modes put back afterwards."""
    assert helpers.dispvm("ls").status == 0
    runtime = helpers.runtime_dir()
    paths = [runtime.parent.parent, runtime.parent, runtime, runtime / "control.sock"]
    modes = {path: os.stat(path).st_mode & 0o7777 for path in paths}
    for path in paths[:-1]:
        os.chmod(path, modes[path] | 0o011)
    os.chmod(paths[-1], 0o666)
    try:
        yield runtime
    finally:
        for path, mode in modes.items():
            os.chmod(path, mode)


def test_other_uid_gets_reason(other_user, open_runtime_dir):
    uid = int(subprocess.run(["id", "-u", other_user], capture_output=True, check=True,
                             text=True).stdout)
    env = ["env", "-i", f"XDG_RUNTIME_DIR={os.environ['XDG_RUNTIME_DIR']}", "HOME=/",
           "PATH=/usr/bin:/bin"]
    for verb in (["ls"], ["kill", "disp1"]):
        completed = subprocess.run(["runuser", "-u", other_user, "--", *env, str(helpers.DISPVM),
                                    *verb], capture_output=True, timeout=60, text=True)
        assert completed.returncode == helpers.DISPVM_FAILED, completed
        assert completed.stderr == (f"dispvm: this dispvmd serves uid {os.getuid()}, not uid "
                                    f"{uid}; each user runs their own dispvmd\n"), completed
        assert completed.stdout == "", completed
