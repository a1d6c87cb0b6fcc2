"""Shared fixtures of the levee system suite.

LEVEE=path selects the binary (default build/control/levee). Tests that
need it are skipped when it is missing, unless LEVEE_REQUIRE=1 (run.sh
--require, CI), which turns the skip into a failure.

Under LEVEE_REQUIRE=1 nothing may skip at all: the hooks at the end of this
file turn any skip (a pytest.skip() in a test, a fixture or at collection,
a skip marker) into a failure that carries the skip's reason, so a test
that cannot run in CI says why instead of hiding among the passes. Cases
that do not apply to a driver are not generated for it (parametrize), so
they never need a skip.
"""
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lvtest import compare, knot  # noqa: E402
from lvtest import levee as lvlevee  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ZONES = {
    "levee.test.": os.path.join(HERE, "zones", "levee.test.zone"),
    "other.test.": os.path.join(HERE, "zones", "other.test.zone"),
}


@pytest.fixture(scope="session")
def levee_bin():
    path = lvlevee.binary()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        msg = f"levee binary not found at {path} (build it or set LEVEE=)"
        if os.environ.get("LEVEE_REQUIRE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def zones():
    return dict(ZONES)


@pytest.fixture
def backend(workdir):
    """backend(**kw): a started lvtest.front.Backend (the test upstream),
    stopped after the test; one a test froze with SIGSTOP is resumed
    first."""
    from lvtest import front
    made = []

    def make(**kw):
        b = front.Backend(workdir, **kw).start()
        made.append(b)
        return b

    yield make
    for b in made:
        b.resume()
        b.stop()


@pytest.fixture
def levee(levee_bin, workdir):
    """levee(args, **kw): a started lvtest.front.Front (levee on --listen),
    stopped after the test."""
    from lvtest import front
    made = []

    def make(args, **kw):
        f = front.Front(levee_bin, workdir, args, **kw).start()
        made.append(f)
        return f

    yield make
    for f in made:
        f.stop()


@pytest.fixture
def workdir(request):
    """A temp dir removed after the test unless LVTEST_KEEP=1."""
    d = tempfile.mkdtemp(prefix="lvtest-")
    yield d
    if os.environ.get("LVTEST_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)
    else:
        print(f"kept {d}")


def _knot(request, zone_map):
    d = tempfile.mkdtemp(prefix="lvtest-knot-")
    k = knot.Knot(d, zone_map, udp_max=1232)

    def fin():
        k.stop()
        shutil.rmtree(d, ignore_errors=True)
    request.addfinalizer(fin)
    return k.start()


@pytest.fixture(scope="module")
def knotd(request):
    """knotd serving the static test zones (ZONES), stopped after the module."""
    return _knot(request, ZONES)


@pytest.fixture(scope="session")
def differences():
    return compare.Differences.load()


@pytest.fixture
def knot_factory(request):
    """knot_factory({origin: file}) starts a knotd stopped after the test."""
    return lambda zone_map: _knot(request, zone_map)


# --- no skip under LEVEE_REQUIRE=1 ------------------------------------------

def _required():
    return os.environ.get("LEVEE_REQUIRE") == "1"


def _skip_reason(report):
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:       # (path, line, "Skipped: why")
        return f"{lr[0]}:{lr[1]}: {lr[2]}"
    return str(lr)


def _fail_skip(report):
    report.outcome = "failed"
    report.longrepr = ("skipped under LEVEE_REQUIRE=1, which makes every skip "
                       "a failure: " + _skip_reason(report))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _required() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _required() and report.skipped:
        _fail_skip(report)
