"""VM lifetime: a killed CLI or daemon leaves no QEMU and no records."""

import os
import signal

import helpers
from helpers import dispvm


def _wait_running(count, timeout=120):
    return helpers.wait_until(
        lambda: len([vm for vm in helpers.list_vms() if vm["state"] == "running"]) == count,
        timeout)


def test_sigkill_cli_destroys_vm(minimal_template):
    process = helpers.start_dispvm("run", "--", "sleep", "60")
    assert _wait_running(1), "the VM never reached the running state"
    qemu_pid = helpers.list_vms()[0]["qemu_pid"]
    assert helpers.pid_alive(qemu_pid)

    process.kill()
    process.wait(timeout=10)
    assert helpers.wait_until(lambda: not helpers.pid_alive(qemu_pid), 10), \
        f"QEMU {qemu_pid} still runs 10 s after its CLI was killed"
    assert helpers.wait_for_vm_count(0, 10), helpers.list_vms()
    listing = dispvm("ls", "--json")
    assert listing.stdout.strip() == b"[]", listing


def test_sigkill_daemon_kills_qemu(minimal_template, daemon_log):
    processes = [helpers.start_dispvm("run", "--", "sleep", "60") for _ in range(2)]
    assert _wait_running(2), "the VMs never reached the running state"
    qemu_pids = [vm["qemu_pid"] for vm in helpers.list_vms()]
    daemons = helpers.daemon_pids()
    assert len(daemons) == 1, daemons
    records = helpers.runtime_dir() / "vms"

    os.kill(daemons[0], signal.SIGKILL)
    for process in processes:
        result = helpers.finish(process, timeout=30)
        assert result.status == helpers.DISPVM_FAILED, result
    assert helpers.wait_until(lambda: not any(map(helpers.pid_alive, qemu_pids)), 10), \
        f"QEMU {qemu_pids} survived the daemon (PR_SET_PDEATHSIG)"

    # The next call starts a fresh daemon, which removes the stale records.
    listing = dispvm("ls", "--json")
    assert listing.status == 0, listing
    assert listing.stdout.strip() == b"[]", listing
    fresh = helpers.daemon_pids()
    assert len(fresh) == 1, fresh
    assert fresh != daemons, fresh
    # The fresh daemon's own pool members have records of their own.
    members = {vm["name"] for vm in helpers.list_all_vms()}
    leftovers = [path for path in records.iterdir() if path.name not in members] \
        if records.exists() else []
    assert leftovers == [], f"stale VM records: {leftovers}"
