"""Top-K recommendations from a trained run, ranked as the full evaluation protocol ranks.

A run directory (main.py's ``--out_dir``) holds ``results.json``, whose ``hyperparameters``
are every recorded flag: enough to rebuild the model and reload its dataset, and
``checkpoints/``, whose best state is restored. Each user is scored against every item;
the items the full ranking of the test split masks are excluded: the user's train items
(and, for a ``--valid`` run, its validation items), never its held-out test items, which
the model never saw (see utility/evaluation/evaluator.py ``HeldOut``).

Everything that can be wrong with the request (run directory, users, K) is checked before
TensorFlow is imported, so that such errors answer at once.
"""
import collections
import contextlib
import io
import json
import os
import re

import numpy as np

from utility.common.errors import InputError, located

RESULTS_FILE = "results.json"
# What a run directory gives without TensorFlow: the rebuilt flags, the interactions as the
# model was trained on them (no features), and the sorted keys ``user * n_items + item`` the
# ranking excludes.
RunData = collections.namedtuple("RunData", "args dataset excluded")
# users (G,), items (G x K) best first, scores (G x K), the checkpoint prefix they come from.
Recommendations = collections.namedtuple("Recommendations", "users items scores checkpoint")
Restored = collections.namedtuple("Restored", "session model checkpoint")
USER_SEPARATORS = re.compile(r"[\s,]+")
BAD_USER_ID = "user ids must be non-negative integers, got %r"


def quiet(*_):
    """A log function that drops what loading prints (statistics, cache notes)."""


# ----------------------------------------------------------------------- the run
def add_run_arguments(parser):
    """The flags naming the trained model (recommend.py, export.py): --run, --checkpoint,
    --data_path; and --tf_log, as main.py's."""
    parser.add_argument("--run", required=True,
                        help="the run's directory (main.py's --out_dir, with results.json)")
    parser.add_argument("--checkpoint", default=None,
                        help="TF checkpoint prefix, state directory or checkpoints folder to "
                             "use instead of the run's best checkpoint")
    parser.add_argument("--data_path", default=None,
                        help="folder holding the run's dataset, if not where it was trained")
    parser.add_argument("--tf_log", action="store_true",
                        help="show TensorFlow's own start-up log lines and deprecation "
                             "notices (hidden by default)")


def run_flags(hyperparameters):
    """main.py's command line rebuilding a run from its recorded ``hyperparameters``."""
    argv = []
    for name, value in sorted(hyperparameters.items()):
        if value is True:
            argv.append("--" + name)
        elif value is not None and value is not False:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            argv.append("--%s=%s" % (name, text))
    return argv


def run_settings(run_dir, data_path=None):
    """The parsed flags of the run in ``run_dir`` (``data_path`` overrides where its dataset
    folder lives, e.g. when the run was moved to another machine)."""
    from utility.config.flags import parse_args
    path = os.path.join(run_dir, RESULTS_FILE)
    if not os.path.isfile(path):
        raise InputError("%s: not found; --run needs the --out_dir of a finished main.py run"
                         % path)
    try:
        with open(path) as handle:
            recorded = json.load(handle)["hyperparameters"]
    except (ValueError, KeyError, TypeError) as error:
        raise InputError("%s: no readable 'hyperparameters' (%s)" % (path, error))
    if data_path is not None:
        recorded = dict(recorded, data_path=data_path)
    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint):
            return parse_args(run_flags(recorded))
    except SystemExit:  # argparse's usage and reason, held back: the reason is its last line
        reason = (complaint.getvalue().strip().splitlines() or ["?"])[-1]
        raise InputError("%s: its hyperparameters do not parse as main.py flags (%s)"
                         % (path, reason))


def excluded_keys(dataset):
    """What the test split's full ranking masks, as sorted keys: every known item (train,
    plus validation when it was held out of training) except the user's test items."""
    from utility.data.load import pair_keys
    known = dataset.interaction_keys()
    if dataset.validation_held_out:
        known = np.union1d(known, pair_keys(dataset.valid_pairs, dataset.n_items))
    return np.setdiff1d(known, pair_keys(dataset.test_pairs, dataset.n_items))


def trained_dataset(args, modalities):
    """The run's dataset with the features of ``modalities``, as main.py trained on it."""
    from utility.data.load import load_dataset, without_validation
    dataset = load_dataset(args.data_dir, modalities, log=quiet)
    return without_validation(dataset) if args.valid else dataset


def load_run(run_dir, data_path=None):
    """The run's settings and interactions: what checking a request needs. Which features
    the model reads is known only to its class, whose module imports TensorFlow."""
    args = run_settings(run_dir, data_path)
    if not os.path.isdir(args.data_dir):
        raise InputError("%s: the run's dataset folder is not there; pass --data_path, the "
                         "folder that holds %s" % (args.data_dir, args.folder))
    dataset = trained_dataset(args, [])
    return RunData(args, dataset, excluded_keys(dataset))


# ----------------------------------------------------------------------- the request
def user_ids_in(text):
    """The integer ids in ``text``, separated by commas or white space; a ValueError holds
    the first token that is not one."""
    ids = []
    for token in USER_SEPARATORS.split(text.strip()):
        if token and not token.isdigit():
            raise ValueError(token)
        if token:
            ids.append(int(token))
    return ids


def parse_user_ids(text):
    """The ids of ``--users``."""
    try:
        return user_ids_in(text)
    except ValueError as bad:
        raise InputError("--users: " + BAD_USER_ID % bad.args)


def read_user_file(path):
    """User ids from ``path``: any number per line, separated by commas or white space;
    ``#`` starts a comment. An empty list is an error."""
    if not os.path.isfile(path):
        raise InputError("%s: users file not found" % path)
    ids = []
    with open(path) as handle:
        for line_no, line in enumerate(handle, 1):
            try:
                ids += user_ids_in(line.split("#", 1)[0])
            except ValueError as bad:
                raise located(path, line_no, BAD_USER_ID % bad.args)
    if not ids:
        raise InputError("%s: no user ids in the file" % path)
    return ids


def checked_users(ids, n_users):
    """``ids`` without repeats (first occurrence kept), as int64; each must be a user."""
    if not ids:
        raise InputError("--users: no user ids given")
    unknown = [user for user in ids if user >= n_users]
    if unknown:
        raise InputError("unknown user id %d (the run's users are 0..%d)%s"
                         % (unknown[0], n_users - 1, " and %d more" % (len(unknown) - 1)
                            if len(unknown) > 1 else ""))
    _, first = np.unique(ids, return_index=True)
    return np.asarray(ids, dtype=np.int64)[np.sort(first)]


def excluded_ranges(users, excluded, n_items):
    """(start, stop) of each user's excluded keys in the sorted ``excluded``."""
    users = np.asarray(users, dtype=np.int64)
    return (np.searchsorted(excluded, users * n_items),
            np.searchsorted(excluded, (users + 1) * n_items))


def check_k(k, users, excluded, n_items):
    """K must be at least 1 and at most the number of items every user can be offered."""
    starts, stops = excluded_ranges(users, excluded, n_items)
    rankable = n_items - (stops - starts)
    tightest = int(np.argmin(rankable))
    if k < 1 or k > rankable[tightest]:
        raise InputError("--k %d is out of range: it must be 1..%d (user %d can be offered "
                         "%d of the %d items, the others are known to it from training)"
                         % (k, rankable[tightest], users[tightest], rankable[tightest], n_items))


def excluded_pairs(users, excluded, n_items):
    """(row in ``users``, item) of every excluded item, the full ranking's ``masked`` feed."""
    starts, stops = excluded_ranges(users, excluded, n_items)
    counts = stops - starts
    rows = np.repeat(np.arange(len(users)), counts)
    # Each pair's position in ``excluded``: its row's start plus its rank within the row.
    positions = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(len(rows))
    return np.stack([rows, excluded[positions] % n_items], axis=1).astype(np.int64)


# ----------------------------------------------------------------------- the model
def checkpoint_of(run_dir, checkpoint=None):
    """The TF checkpoint prefix to restore: ``checkpoint`` if given, else the run's best."""
    from utility.run.checkpoint import Checkpoints, checkpoint_prefix
    if checkpoint is not None:
        prefix = checkpoint_prefix(checkpoint)
        if not os.path.isfile(prefix + ".index"):
            raise InputError("--checkpoint %s: no TF checkpoint there (%s.index not found)"
                             % (checkpoint, prefix))
        return prefix
    best = Checkpoints(run_dir, log=quiet).path("best")
    if best is None or not os.path.isfile(best + ".index"):
        raise InputError("%s: no best checkpoint (the run used --no_checkpoints, or ended "
                         "before its first evaluation); pass --checkpoint PATH"
                         % os.path.join(run_dir, "checkpoints"))
    return best


def restored_model(run, checkpoint, tf_log=False):
    """The run's model in a new session, its variables restored from ``checkpoint`` (a TF
    prefix) and its evaluation caches (full ranking included) refreshed. TensorFlow starts
    here, quietly unless ``tf_log`` (as main.py's --tf_log)."""
    from utility.common.tf_setup import quiet_tensorflow
    quiet_tensorflow(tf_log)  # before the import below: TensorFlow reads its log level once
    from utility.run.build import load_adjacency, model_and_config, start
    from utility.run.checkpoint import restore_variables
    cls, config = model_and_config(run.args)
    dataset = trained_dataset(run.args, cls.feature_modalities(config, run.args.modality_list))
    adjacency = load_adjacency(run.args.data_dir, dataset, cls, config, log=quiet)
    started = start(cls, config, dataset, adjacency, run.args.seed)
    try:
        restore_variables(started.session, started.model.parameters, checkpoint)
        started.session.run(started.model.ranking.refresh)
        started.session.run(started.model.ranking.full.refresh)
    except BaseException:
        started.session.close()
        raise
    return Restored(started.session, started.model, checkpoint)


def top_items(restored, users, excluded, k, users_per_call=64):
    """(items (G x k) best first, their scores (G x k)) from the model's full ranking."""
    full = restored.model.ranking.full
    n_items = restored.model.n_items
    items, scores = [], []
    for start in range(0, len(users), users_per_call):
        batch = users[start:start + users_per_call]
        top, all_scores = restored.session.run([full.top_items, full.scores], {
            full.users: batch, full.masked: excluded_pairs(batch, excluded, n_items),
            full.k: k})
        items.append(top.astype(np.int64))
        scores.append(np.take_along_axis(all_scores, top, axis=1))
    return np.concatenate(items), np.concatenate(scores)


def recommend(run_dir, user_ids, k, checkpoint=None, data_path=None, tf_log=False):
    """``Recommendations`` of the ``k`` best items for each of ``user_ids`` (repeats
    dropped) from the run in ``run_dir``: its best checkpoint, or ``checkpoint``."""
    run = load_run(run_dir, data_path)
    users = checked_users(user_ids, run.dataset.n_users)
    check_k(k, users, run.excluded, run.dataset.n_items)
    restored = restored_model(run, checkpoint_of(run_dir, checkpoint), tf_log)
    try:
        items, scores = top_items(restored, users, run.excluded, k,
                                  run.args.eval_users_per_call)
    finally:
        restored.session.close()
    return Recommendations(users, items, scores, restored.checkpoint)


# ----------------------------------------------------------------------- output
def as_csv(recommendations):
    """``user,rank,item,score`` lines (rank from 1), with a header."""
    lines = ["user,rank,item,score"]
    for user, items, scores in zip(*recommendations[:3]):
        lines += ["%d,%d,%d,%.9g" % (user, rank, item, score)
                  for rank, (item, score) in enumerate(zip(items, scores), 1)]
    return "\n".join(lines) + "\n"


def as_json(recommendations):
    """One JSON object: the checkpoint and, per user, its items and scores best first."""
    return json.dumps({
        "checkpoint": recommendations.checkpoint,
        "recommendations": [{"user": int(user), "items": items.tolist(),
                             "scores": [float(score) for score in scores]}
                            for user, items, scores in zip(*recommendations[:3])]},
        indent=1) + "\n"


FORMATS = {"csv": as_csv, "json": as_json}
