"""dispvm open: edits come back, unchanged and view-only files stay,
conflicts, odd names, big files, symlinks and files that cannot be opened."""

import hashlib
import os
import re
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import helpers
from helpers import dispvm

SED = "sed -i s/hello/bye/"
# Rewrites the file in place, because sed -i needs a longer temporary name,
# which fails for a 255-byte file name.
REWRITE = "sh -c 'echo bye > \"$1\"' sh"


def snapshot(directory):
    """Name -> (inode, mtime_ns, content) of every entry in `directory`."""
    state = {}
    for entry in os.scandir(directory):
        info = entry.stat(follow_symlinks=False)
        content = open(entry.path, "rb").read() if entry.is_file(follow_symlinks=False) else None
        state[entry.name] = (info.st_ino, info.st_mtime_ns, content)
    return state


def open_file(path, app, *options, timeout=240):
    return dispvm("open", *options, "--app", app, path, timeout=timeout)


def test_open_edit_comes_back(minimal_template, work_dir):
    path = work_dir / "note.txt"
    path.write_text("hello\n")
    result = open_file(path, SED)
    assert result.status == 0, result
    assert path.read_text() == "bye\n"
    assert sorted(os.listdir(work_dir)) == ["note.txt"]


def test_open_unchanged_untouched(minimal_template, work_dir):
    path = work_dir / "same.txt"
    path.write_text("hello\n")
    before = os.stat(path)
    result = open_file(path, "true")
    after = os.stat(path)
    assert result.status == 0, result
    assert after.st_ino == before.st_ino
    assert after.st_mtime_ns == before.st_mtime_ns
    assert path.read_text() == "hello\n"


def test_open_view_only_not_written(minimal_template, work_dir):
    path = work_dir / "view.txt"
    path.write_text("hello\n")
    before = snapshot(work_dir)
    result = open_file(path, 'sh -c "echo x >> \\"\\$1\\"; sed -i s/hello/bye/ \\"\\$1\\"" sh',
                       "--view-only")
    assert result.status != helpers.DISPVM_FAILED, result
    assert snapshot(work_dir) == before


def test_open_conflict_keeps_both(minimal_template, work_dir):
    path = work_dir / "report.txt"
    path.write_text("hello\n")
    process = helpers.start_dispvm(
        "open", "--app", 'sh -c "sleep 10; echo guest >> \\"\\$1\\"" sh', str(path))
    # Change the host copy once the guest has the file and its app runs.
    running = helpers.wait_until(
        lambda: any(vm["state"] == "running" for vm in helpers.list_vms()), 120)
    assert running, "the open VM never reached the running state"
    time.sleep(1)
    path.write_text("host version\n")
    result = helpers.finish(process, timeout=120)

    assert path.read_text() == "host version\n", result
    copies = [name for name in os.listdir(work_dir)
              if re.fullmatch(r"report \(edited in disp\d+\)\.txt", name)]
    assert len(copies) == 1, f"{os.listdir(work_dir)}; {result}"
    assert (work_dir / copies[0]).read_text() == "hello\nguest\n"
    assert copies[0] in result.stderr, result
    assert len(os.listdir(work_dir)) == 2


def test_open_truncate_to_empty(minimal_template, work_dir):
    path = work_dir / "empty.txt"
    path.write_text("hello\n")
    result = open_file(path, "sh -c ': > \"$1\"' sh")
    assert result.status == 0, result
    assert path.read_bytes() == b""


def test_open_background_child_kept(minimal_template, work_dir):
    path = work_dir / "late.txt"
    path.write_text("hello\n")
    result = open_file(path, 'sh -c "(sleep 3; echo late >> \\"\\$1\\") &" sh')
    assert result.status == 0, result
    assert path.read_text() == "hello\nlate\n"


ODD_NAMES = [
    "with space.txt",
    "new\nline.txt",
    "-leading-dash.txt",
    "na\u00efve \u00fcml\u00e4ut \U0001f600.txt",
    "a" * 251 + ".txt",
    "--help",
]


def test_open_odd_names(minimal_template, work_dir):
    assert len(ODD_NAMES[4].encode()) == 255
    for name in ODD_NAMES:
        (work_dir / name).write_text("hello\n")
    (work_dir / "bystander.txt").write_text("hello\n")
    bystander = snapshot(work_dir)["bystander.txt"]

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda name: open_file(work_dir / name, REWRITE), ODD_NAMES))

    for name, result in zip(ODD_NAMES, results):
        assert result.status == 0, f"{name!r}: {result}"
        assert (work_dir / name).read_text() == "bye\n", f"{name!r}: {result}"
    assert sorted(os.listdir(work_dir)) == sorted(ODD_NAMES + ["bystander.txt"])
    assert snapshot(work_dir)["bystander.txt"] == bystander


def test_open_200mib_round_trip(minimal_template, work_dir):
    path = work_dir / "big.bin"
    size = 200 * 1024 * 1024
    offset = size - 1000
    digest = hashlib.sha256()
    with open(path, "wb") as file:
        for _ in range(size // (4 * 1024 * 1024)):
            chunk = os.urandom(4 * 1024 * 1024)
            file.write(chunk)
    data = bytearray(path.read_bytes())
    data[offset] = ord("X")
    digest.update(data)
    del data

    app = f"sh -c 'printf X | dd of=\"$1\" bs=1 seek={offset} conv=notrunc' sh"
    result = open_file(path, app, timeout=600)
    assert result.status == 0, result
    assert os.path.getsize(path) == size
    with open(path, "rb") as file:
        assert hashlib.sha256(file.read()).hexdigest() == digest.hexdigest()


def test_open_symlink_replaces_target(minimal_template, work_dir):
    target = work_dir / "target.txt"
    link = work_dir / "link.txt"
    target.write_text("hello\n")
    link.symlink_to("target.txt")
    result = open_file(link, SED)
    assert result.status == 0, result
    assert link.is_symlink()
    assert os.readlink(link) == "target.txt"
    assert target.read_text() == "bye\n"
    assert sorted(os.listdir(work_dir)) == ["link.txt", "target.txt"]


@pytest.mark.parametrize("kind", ["directory", "fifo", "missing"])
def test_open_rejects_non_file(minimal_template, work_dir, kind):
    path = work_dir / f"the-{kind}"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    vms_before = helpers.list_vms()
    result = open_file(path, "true", timeout=30)
    assert result.status == helpers.DISPVM_FAILED, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert f"the-{kind}" in lines[0], result
    assert helpers.list_vms() == vms_before


def test_open_unwritable_view_only(minimal_template, work_dir):
    """A file on a read-only mount (root can write anywhere else) opens
    view-only: the app may not change it and dispvm prints a message."""
    path = work_dir / "readonly.txt"
    path.write_text("hello\n")
    # Start the daemon outside the private mount namespace first.
    assert dispvm("ls").status == 0
    script = (f"mount --bind {shlex.quote(str(work_dir))} {shlex.quote(str(work_dir))} && "
              f"mount -o remount,ro,bind {shlex.quote(str(work_dir))} && "
              f"exec {shlex.quote(str(helpers.DISPVM))} open --app {shlex.quote(SED)} "
              f"{shlex.quote(str(path))}")
    completed = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                               capture_output=True, timeout=240)
    result = helpers.make_result(completed.returncode, completed.stdout, completed.stderr)
    assert result.status != helpers.DISPVM_FAILED, result
    assert "view-only" in result.stderr, result
    assert path.read_text() == "hello\n"
    assert sorted(os.listdir(work_dir)) == ["readonly.txt"]


def test_open_readonly_dir_named(minimal_template, work_dir):
    """A writable file in a read-only directory opens view-only, and the
    message says that the directory is the reason."""
    rodir = work_dir / "rodir"
    rodir.mkdir()
    path = rodir / "f.txt"
    path.write_text("hello\n")
    source = work_dir / "source.txt"
    source.write_text("hello\n")
    assert dispvm("ls").status == 0
    # The directory is read-only; the file on it is a read-write bind mount.
    script = (f"mount --bind {shlex.quote(str(rodir))} {shlex.quote(str(rodir))} && "
              f"mount -o remount,ro,bind {shlex.quote(str(rodir))} && "
              f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(path))} && "
              f"exec {shlex.quote(str(helpers.DISPVM))} open --app true "
              f"{shlex.quote(str(path))}")
    completed = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                               capture_output=True, timeout=240)
    result = helpers.make_result(completed.returncode, completed.stdout, completed.stderr)
    assert result.status == 0, result
    assert f"the directory {rodir} is not writable" in result.stderr, result
    assert "view-only" in result.stderr, result
    assert helpers.wait_for_vm_count(0, 10), helpers.list_vms()
