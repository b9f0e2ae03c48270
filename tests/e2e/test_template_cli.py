"""`dispvm template` reads and fails like the other commands."""

from helpers import DISPVM_FAILED, dispvm


def test_template_alone_one_line():
    result = dispvm("template")
    assert result.status == DISPVM_FAILED, result
    assert result.stderr == ("dispvm: 'template' needs a command, build or ls; "
                             "see 'dispvm template --help'\n"), result


def test_template_help_short_options():
    for args in (["template", "build", "-h"], ["template", "ls", "-h"],
                 ["template", "ls", "--help"]):
        result = dispvm(*args)
        assert result.status == 0, result
        assert b"-h, --help" in result.stdout, result


def test_template_ls_extra_argument():
    result = dispvm("template", "ls", "extra")
    assert result.status == DISPVM_FAILED, result
    assert result.stderr == ("dispvm: 'template ls' takes no arguments but got 'extra'; "
                             "see 'dispvm template ls --help'\n"), result


def test_template_build_warning_plain(tmp_path):
    # A kernel package that apt cannot find makes the builder warn before
    # it tries the host's kernel. A private data dir keeps any result out
    # of the suite's templates.
    result = dispvm("template", "build", "--force", "plainlog",
                    env={"DISPVM_KERNEL_PACKAGE": "dispvm-no-such-package",
                         "XDG_DATA_HOME": str(tmp_path)}, timeout=900)
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings, result
    for line in warnings:
        assert line.startswith("dispvm: warning: "), result
