"""Where the tests find the data kept outside the repository, and why a test skips.

- The offline copy of the MEGCF repository (the public splits, laid out ``Data/<name>/``):
  ``$MCLN_DATA_MIRROR`` when it names a local folder (the variable data preparation reads),
  else ``shared/data/megcf-mirror`` beside the checkout.
- The offline copy of the real-content sources (``<owner>/<repo>/<commit>/<path>`` plus
  ``packages/``): ``$MCLN_CONTENT_MIRROR``, else ``$MCLN_DATA_MIRROR`` when it is laid out so,
  else ``shared/data/content-mirror`` beside the checkout.
- The release's own outputs on tiny data (``beauty/``, ``taobao/``): ``$MCLN_FIXTURES``, else
  ``shared/fixtures/release-tiny`` beside the checkout.

Tests that need one skip when it is absent, with a reason saying which variable to set;
conftest.py sums the skips up at the end of the run.
"""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
MIRROR_ENV = "MCLN_DATA_MIRROR"
FIXTURES_ENV = "MCLN_FIXTURES"
CONTENT_ENV = "MCLN_CONTENT_MIRROR"


def megcf_mirror():
    """The local MEGCF mirror folder to test with (it may not exist)."""
    given = os.environ.get(MIRROR_ENV, "")
    if given and "://" not in given:  # a URL serves preparation, not the tests' reads
        return given
    return os.path.join(SHARED, "data", "megcf-mirror")


def content_mirror():
    """The local real-content mirror folder to test with, or None."""
    candidates = (os.environ.get(CONTENT_ENV), os.environ.get(MIRROR_ENV),
                  os.path.join(SHARED, "data", "content-mirror"))
    for candidate in candidates:
        if candidate and "://" not in candidate and os.path.isdir(
                os.path.join(candidate, "packages")):
            return candidate
    return None


def missing_content_mirror():
    """The skip reason of a test needing the real-content sources."""
    return "no real-content mirror (<owner>/<repo>/<commit>/..., packages/); set %s" % (
        CONTENT_ENV)


def release_fixtures():
    """The folder of the release's outputs on tiny data (it may not exist)."""
    return os.environ.get(FIXTURES_ENV) or os.path.join(SHARED, "fixtures", "release-tiny")


def missing_mirror():
    """The skip reason of a test needing a dataset the mirror lacks (one for all of them,
    so that the summary counts them together)."""
    return "no MEGCF mirror (Data/<name>/) at %s; set %s to a local copy" % (
        megcf_mirror(), MIRROR_ENV)


def missing_fixtures():
    """The skip reason of a test needing the release fixtures."""
    return "no release fixtures at %s; set %s" % (release_fixtures(), FIXTURES_ENV)


def skip_summary(reports):
    """Lines summing up skipped tests: one per reason, most frequent first, with the count
    and the test files (``reports``: pytest's skipped reports)."""
    groups = {}
    for report in reports:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(
            report.longrepr)
        if reason.startswith("Skipped: "):
            reason = reason[len("Skipped: "):]
        files = groups.setdefault(reason, {})
        name = os.path.basename(report.nodeid.split("::")[0])
        files[name] = files.get(name, 0) + 1
    lines = []
    for reason, files in sorted(groups.items(), key=lambda item: (-sum(item[1].values()),
                                                                    item[0])):
        lines.append("%d skipped: %s [%s]" % (sum(files.values()), reason, ", ".join(
            "%s %d" % (name, count) for name, count in sorted(files.items()))))
    return lines
