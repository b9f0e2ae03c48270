"""Fixtures of the e2e suite: templates, the daemon log, and the checks that
the suite leaves nothing running and skips nothing."""

import json
import os
import shutil

import pytest

import helpers


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a test was skipped or none ran: the suite must
    exercise everything on every run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        for report in skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
            print(f"\nrun-e2e: skipped {report.nodeid}: {reason}")
        print(f"run-e2e: {len(skipped)} skipped test(s) count as failure")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("\nrun-e2e: no e2e tests were collected, which counts as failure")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def clean_session_end():
    """After the last test: stop the daemon with SIGTERM and check that no
    daemon or QEMU of this suite remains and the runtime dir holds neither
    the control socket nor VM records."""
    for binary in (helpers.DISPVM, helpers.DISPVMD):
        assert os.access(binary, os.X_OK), f"missing {binary}; build it or set DISPVM_BIN_DIR"
    yield

    daemons = helpers.daemon_pids()
    leftover_vms = helpers.list_vms() if daemons else []
    still_alive = helpers.stop_daemons()
    qemus = helpers.wait_until(lambda: not helpers.suite_qemu_pids(daemons), 10) \
        or helpers.suite_qemu_pids(daemons)
    runtime = helpers.runtime_dir()
    entries = sorted(os.listdir(runtime)) if runtime.exists() else []
    # Empty directories (such as vms/) and lock files may stay.
    records = sorted(str(path.relative_to(runtime)) for path in runtime.rglob("*")
                     if not path.is_dir() and not path.name.endswith(".lock")
                     and path.name != "lock")

    assert leftover_vms == [], f"VMs still listed at the end of the suite: {leftover_vms}"
    assert still_alive == [], f"dispvmd {still_alive} ignored SIGTERM for 20 s"
    assert qemus is True or qemus == [], f"QEMU processes left running: {qemus}"
    assert "control.sock" not in entries, f"control socket left in {runtime}"
    assert records == [], f"files left in {runtime}: {records}"
    assert sanitizer_reports() == [], "dispvmd's log has sanitizer reports"


def sanitizer_reports():
    """Lines of the daemon log where ASan, LSan or UBSan reported an error.
    dispvmd runs from the sanitizer build, and its reports go to that log,
    where no test status would show them."""
    path = helpers.daemon_log_path()
    if not path.exists():
        return []
    text = path.read_text(errors="replace")
    return [line for line in text.splitlines()
            if "Sanitizer" in line or "runtime error:" in line]


@pytest.fixture
def daemon_log():
    return helpers.DaemonLog()


@pytest.fixture
def dispvm():
    return helpers.dispvm


def build_template(*args, timeout=900):
    result = helpers.dispvm("template", "build", *args, timeout=timeout)
    assert result.status == 0, f"dispvm template build {' '.join(args)} failed: {result}"
    return result


@pytest.fixture(scope="session")
def minimal_template():
    """The default template, built once (downloads the Debian cloud kernel
    on the first run; later runs reuse it)."""
    build_template()
    assert (helpers.template_dir("minimal") / "template.json").exists()
    return "minimal"


@pytest.fixture(scope="session")
def hostile_templates(minimal_template):
    """Templates `hostile` and `hostile-hello` with the hostile agent. The
    second one's kernel command line selects the attack before HELLO."""
    agent = str(helpers.HOSTILE_AGENT)
    assert os.access(agent, os.X_OK), f"missing hostile agent {agent}"
    build_template("hostile", "--agent", agent)
    build_template("hostile-hello", "--agent", agent)

    metadata_path = helpers.template_dir("hostile-hello") / "template.json"
    metadata = json.loads(metadata_path.read_text())
    if "dispvm.attack=bad-hello" not in metadata["cmdline"]:
        metadata["cmdline"] += " dispvm.attack=bad-hello"
        temporary = metadata_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(metadata, indent=2))
        os.replace(temporary, metadata_path)
    return "hostile", "hostile-hello"


@pytest.fixture
def work_dir(tmp_path):
    """A directory for files to open, removed after the test."""
    path = tmp_path / "files"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)
