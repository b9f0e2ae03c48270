"""Guest memory beyond what the host has available: one line naming the
numbers, exit 125, and no QEMU started."""

import os
import re

import helpers
from helpers import dispvm


def _mem_total_bytes():
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def _check_rejected(result, daemon_log):
    assert result.status == helpers.DISPVM_FAILED, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    match = re.search(r"(disp\d+) needs (\d+) MiB of guest memory, but the host has (\d+) MiB "
                      r"available", lines[0])
    assert match, result
    assert int(match.group(2)) > int(match.group(3)), result
    assert helpers.list_vms() == []
    # Only the pool's preloaded VMs may run.
    assert set(helpers.suite_qemu_pids()) <= set(helpers.pool_qemu_pids())
    assert f"{match.group(1)}: created" not in daemon_log.text()
    return lines[0]


def test_open_sparse_file_too_big(minimal_template, work_dir, daemon_log):
    path = work_dir / "sparse.bin"
    with open(path, "wb") as sparse:
        sparse.truncate(2 * _mem_total_bytes())
    result = dispvm("open", "--view-only", "--app", "true", path, timeout=60)
    line = _check_rejected(result, daemon_log)
    assert "file" in line, result
    assert os.stat(path).st_size == 2 * _mem_total_bytes()


def test_run_memory_beyond_host(minimal_template, daemon_log):
    assert _mem_total_bytes() < 64 << 30, "the host has 64 GiB or more; this test needs less"
    result = dispvm("run", "--memory", "65536", "--", "true", timeout=60)
    line = _check_rejected(result, daemon_log)
    assert "--memory" in line, result
