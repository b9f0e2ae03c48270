"""Bad input: one line on stderr naming the value, exit 125, nothing left."""

import pytest

import helpers
from helpers import dispvm

CASES = [
    (["run", "--no-such-option", "--", "true"], "--no-such-option", None),
    (["run", "--memory"], "--memory", None),
    (["run", "-e"], "-e", None),
    (["run", "--template", "nosuchtemplate", "--", "true"], "nosuchtemplate", None),
    (["run", "--template", "neverbuilt", "--", "true"], "neverbuilt", None),
    (["run", "--", "true"], "/nonexistent", {"DISPVM_QEMU": "/nonexistent"}),
]


@pytest.mark.parametrize("args,named,env", CASES,
                         ids=["unknown-option", "missing-memory", "missing-env",
                              "unknown-template", "template-not-built", "qemu-missing"])
def test_bad_input_one_line(minimal_template, args, named, env):
    if env:
        # A running daemon keeps the QEMU path it started with, so stop it
        # and let this call start one with DISPVM_QEMU set.
        assert helpers.stop_daemons() == []
    result = dispvm(*args, env=env, timeout=120)
    if env:
        assert helpers.stop_daemons() == []

    assert result.status == helpers.DISPVM_FAILED, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert named in lines[0], result
    assert helpers.list_vms() == []
    # Only the pool's preloaded VMs may run.
    assert set(helpers.suite_qemu_pids()) <= set(helpers.pool_qemu_pids())


def test_qemu_error_reaches_client(minimal_template, tmp_path, daemon_log):
    fake_qemu = tmp_path / "qemu-system-x86_64"
    fake_qemu.write_text("#!/bin/sh\necho 'qemu-system-x86_64: -m 1: invented failure' >&2\n"
                         "exit 1\n")
    fake_qemu.chmod(0o755)
    env = {"DISPVM_QEMU": str(fake_qemu)}
    # A running daemon keeps the QEMU path it started with.
    assert helpers.stop_daemons() == []
    result = dispvm("run", "--start", "boot", "--", "true", env=env, timeout=120)
    assert helpers.stop_daemons() == []

    assert result.status == helpers.DISPVM_FAILED, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert "QEMU exited with status 1: qemu-system-x86_64: -m 1: invented failure" in lines[0], \
        result
    assert "QEMU: qemu-system-x86_64: -m 1: invented failure" in daemon_log.text()
