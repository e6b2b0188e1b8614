"""main.py's flags as the runner reads them: parsed without exiting, and the settings a
run records. Both the runs (experiments/runs.py) and the shared negatives
(experiments/candidates.py) parse a run's command line this way."""
import contextlib
import io

from utility.common.errors import InputError


def main_arguments(argv):
    """main.py's parsed flags for ``argv``; its complaints become one InputError line."""
    from utility.config.flags import parse_args
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return parse_args(argv)
    except SystemExit:
        lines = captured.getvalue().strip().splitlines() or ["invalid flags"]
        raise InputError("main.py flags: %s" % lines[-1].split("error: ", 1)[-1])


def main_hyperparameters(argv):
    """What a run with ``argv`` records under "hyperparameters" in its results.json."""
    from utility.config.flags import hyperparameters
    return hyperparameters(main_arguments(argv))
