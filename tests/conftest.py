import os
import sys

# Tests import the project's packages from the repository root.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_terminal_summary(terminalreporter):
    """Say at the end, without -rs, which tests were skipped and why (data kept outside
    the repository is the usual reason: tests/data_sources.py and the README's Tests)."""
    from data_sources import skip_summary
    lines = skip_summary(terminalreporter.stats.get("skipped", []))
    if lines:
        terminalreporter.write_sep("-", "skipped tests")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_configure(config):
    """Deprecation warnings raised inside TensorFlow's own modules (1.15 under Python 3.7
    imports ``imp`` and collections' ABCs) are not the project's; unfiltered, the summary
    repeats them once per parallel worker and hides any warning of ours among them. (1.15's
    modules are named ``tensorflow.*``, though they live in ``tensorflow_core``.)"""
    config.addinivalue_line("filterwarnings", r"ignore::DeprecationWarning:tensorflow\.")
