"""A hostile guest agent: the daemon destroys the offending VM, logs the
violation, stays up, and another VM is not disturbed."""

import pytest

import helpers
from helpers import dispvm

SURVIVOR = ["run", "--", "sh", "-c", "sleep 25; echo survivor"]

# Attacks, by START argv[0], after which the daemon must destroy the VM.
ATTACKS = ["truncated-frame", "oversized-length", "unknown-type", "unknown-channel",
           "data-after-eof", "window-overrun", "tiny-frames-flood"]


def _start_survivor():
    process = helpers.start_dispvm(*SURVIVOR)
    assert helpers.wait_until(
        lambda: any(vm["state"] == "running" for vm in helpers.list_vms()), 120), \
        "the survivor VM never reached the running state"
    return process, helpers.list_vms()[0]["name"]


def _check_survivor(process):
    result = helpers.finish(process, timeout=120)
    assert result.status == 0, result
    assert result.stdout == b"survivor\n", result


def _attack_vm_name(survivor_name, daemon_log):
    names = {word for line in daemon_log.text().splitlines() for word in line.split()
             if word.startswith("disp") and word[4:].rstrip(":,").isdigit()}
    names = {name.rstrip(":,") for name in names} - {survivor_name}
    assert len(names) >= 1, f"no attack VM named in the daemon log:\n{daemon_log.text()}"
    return sorted(names)


def _assert_violation_logged(daemon_log, attack_names):
    lines = [line for line in daemon_log.text().splitlines()
             if any(name in line for name in attack_names)
             and any(word in line.lower() for word in ("violation", "protocol", "invalid"))]
    assert lines, f"the daemon log names no violation for {attack_names}:\n{daemon_log.text()}"


@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_attack_destroys_vm(hostile_templates, daemon_log, attack):
    survivor, survivor_name = _start_survivor()
    daemons = helpers.daemon_pids()

    # The test reads the CLI's stdout pipe only after the CLI ends, so the
    # daemon cannot pass a flood on and must enforce the window.
    process = helpers.start_dispvm("run", "--template", "hostile", "--", attack)
    try:
        process.wait(timeout=180)
    finally:
        result = helpers.finish(process, timeout=60)

    assert result.status == helpers.DISPVM_FAILED, result
    assert helpers.daemon_pids() == daemons, "the daemon died during the attack"
    _assert_violation_logged(daemon_log, _attack_vm_name(survivor_name, daemon_log))
    _check_survivor(survivor)


def test_hostile_bad_hello(hostile_templates, daemon_log):
    survivor, survivor_name = _start_survivor()
    daemons = helpers.daemon_pids()
    result = dispvm("run", "--template", "hostile-hello", "--", "anything", timeout=180)

    assert result.status == helpers.DISPVM_FAILED, result
    assert helpers.daemon_pids() == daemons, "the daemon died during the attack"
    _assert_violation_logged(daemon_log, _attack_vm_name(survivor_name, daemon_log))
    _check_survivor(survivor)


def test_hostile_tiny_frames_legal(hostile_templates, daemon_log):
    survivor, _ = _start_survivor()
    daemons = helpers.daemon_pids()
    result = dispvm("run", "--template", "hostile", "--", "tiny-frames", timeout=400)

    assert result.status == 0, result
    assert len(result.stdout) == 1_000_000, f"{len(result.stdout)} bytes; {result}"
    assert result.stdout == b"x" * 1_000_000
    assert helpers.daemon_pids() == daemons
    _check_survivor(survivor)
