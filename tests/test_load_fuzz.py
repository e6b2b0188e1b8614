"""Property-based tests: corrupted dataset files load what they say, or fail in one line.

Each example corrupts a small valid dataset folder (bytes flipped, lines cut, dropped or
duplicated, tokens swapped, ids out of range, tokens that Python's int() or float() would
take but the format does not, NaN/inf values, whitespace changed) and loads
it. A corruption may turn valid data into other valid data (a digit flipped into another
in-range id), which no loader can tell apart, so the oracle is an independent reading of
docs/data-format.md (``expected_dataset`` below): where it finds the files invalid the
loader must raise InputError with a one-line message naming a file of the folder; where it
finds them valid the loader must return exactly its data (never a traceback, never a silent
mis-parse), and whitespace-only corruptions must give the original data. Corrupted .npy
feature files are checked against plain ``np.load``; corrupted caches must always give the
original data back. ``derandomize=True`` makes every run try the same examples.
"""
import collections
import io
import math
import os
import re
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_files import FEATURES, SPLITS, quiet, small_files, snapshot, write_files
from utility.common.errors import InputError
from utility.data.load import MAX_ID, load_dataset

MODALITIES = {"image": "item2imgfeat.txt", "text": "itemtitle2vec.txt"}
EXAMPLES = {"text": 400, "npy": 120, "cache": 120}  # hypothesis' budgets of valid examples
OUTCOMES = {name: collections.Counter() for name in EXAMPLES}  # what each tried input gave


def fuzz_settings(name):
    return settings(derandomize=True, max_examples=EXAMPLES[name], deadline=None,
                    database=None, suppress_health_check=list(HealthCheck))


def run_counted(name, property_test):
    """Run a @given function; print (pytest -s) how many inputs it tried and their outcomes.

    Hypothesis calls the function more often than its budget (draws it discards do not
    count), so the number tried is at least the budget; docs/data-format.md quotes it.
    """
    OUTCOMES[name].clear()
    property_test()
    tried = sum(OUTCOMES[name].values())
    print("%s: %d corrupted inputs tried (%s)" % (name, tried, ", ".join(
        "%s %d" % item for item in sorted(OUTCOMES[name].items()))))
    assert tried >= EXAMPLES[name]


# ------------------------------------------------------------------------ the oracle
class Invalid(Exception):
    """The files break a rule of docs/data-format.md."""


INTEGER = re.compile(rb"-?[0-9]+\Z")
NUMBER = re.compile(rb"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


def lines_of(content):
    """The token lists of the lines of ``content`` that hold any token."""
    return [line.split() for line in content.split(b"\n") if line.split()]


def ids_of(tokens):
    if not all(INTEGER.match(token) for token in tokens):
        raise Invalid
    ids = [int(token) for token in tokens]
    if min(ids) < 0 or max(ids) > MAX_ID:
        raise Invalid
    return ids


def pairs_of(content, skip_unparsable):
    pairs = []
    for tokens in lines_of(content):
        if skip_unparsable and (len(tokens) < 2
                                or not all(INTEGER.match(token) for token in tokens)):
            continue
        if len(tokens) < 2:
            raise Invalid
        ids = ids_of(tokens)
        pairs.extend([ids[0], item] for item in ids[1:])
    return pairs


def features_of(content, n_items):
    rows, width = {}, None
    for tokens in lines_of(content):
        values = tokens[1:]
        if not tokens[0].isdigit() or not values or not all(map(NUMBER.match, values)):
            raise Invalid
        if width not in (None, len(values)) or int(tokens[0]) >= n_items \
                or int(tokens[0]) in rows:
            raise Invalid
        width = len(values)
        with np.errstate(over="ignore"):
            row = [float(np.float32(float(value))) for value in values]
        if not all(map(math.isfinite, row)):
            raise Invalid
        rows[int(tokens[0])] = row
    if width is None:
        raise Invalid
    return [rows.get(item, [0.0] * width) for item in range(n_items)]


def expected_dataset(files):
    """What ``files`` hold, as ``snapshot`` gives it, or None where they are invalid."""
    try:
        train = {}
        for tokens in lines_of(files["train.txt"]):
            ids = ids_of(tokens)
            if len(ids) < 2 or ids[0] in train:
                raise Invalid
            train[ids[0]] = ids[1:]
        if not train:
            raise Invalid
        test = pairs_of(files["test.txt"], skip_unparsable=True)
        if not any(user in train for user, _ in test):  # nobody to evaluate
            raise Invalid
        valid = pairs_of(files["validation.txt"], skip_unparsable=False)
        held_out = test + valid  # both count, as train does
        n_users = 1 + max(list(train) + [user for user, _ in held_out])
        n_items = 1 + max([item for items in train.values() for item in items]
                          + [item for _, item in held_out])
        features = {modality: features_of(files[name], n_items)
                    for modality, name in MODALITIES.items()}
    except Invalid:
        return None
    items = [item for user in range(n_users) for item in train.get(user, [])]
    indptr = np.cumsum([0] + [len(train.get(user, [])) for user in range(n_users)])
    return {"n_users": n_users, "n_items": n_items, "train_indptr": indptr.tolist(),
            "train_items": items, "test_pairs": test, "valid_pairs": valid,
            "features": features}


# ------------------------------------------------------------------------ corruptions
BYTES = st.one_of(st.sampled_from(b"0123456789 \t\n\r.-+_eEnaix,\x00\x0b\xff"),
                  st.integers(0, 255))
# Tokens that int() or float() would take but the format does not (or does: "05", "5.").
ODD_TOKENS = [b"+5", b"1_0", b"05", b"\xd9\xa3", b"5.0", b"0x5", b"5e0", b"5.", b"-0", b".5"]
OUT_OF_RANGE = [-1, 9, 10, 12, 40, MAX_ID + 1, 10 ** 12]
NON_FINITE = [b"nan", b"NaN", b"inf", b"-inf", b"Infinity", b"1e39", b"-3.5e38"]
WHITESPACE = ("wider gap", "crlf", "blank lines")


def tokens_in(content):
    return [match.span() for match in re.finditer(rb"\S+", content)]


def replace_span(content, span, text):
    return content[:span[0]] + text + content[span[1]:]


def corrupt(draw, content, kind, is_features):
    """``content`` with one corruption of ``kind``; ``draw`` draws its parameters."""
    lines = content.split(b"\n")
    spans = tokens_in(content)
    gaps = [match.start() for match in re.finditer(b" ", content)]
    if not content or len(spans) < 2 or not gaps:
        return content  # cut or dropped to almost nothing already
    if kind == "flip":
        at = draw(st.integers(0, len(content) - 1))
        return content[:at] + bytes([draw(BYTES)]) + content[at + 1:]
    if kind == "cut":
        at = draw(st.integers(0, len(content)))
        if draw(st.booleans()):
            return content[:at]  # the file ends early
        end = content.find(b"\n", at)
        return content[:at] + (content[end:] if end >= 0 else b"")  # one line ends early
    if kind in ("drop line", "duplicate line"):
        at = draw(st.integers(0, len(lines) - 1))
        copy = lines[at:at + 1] if kind == "duplicate line" else []
        to = draw(st.integers(0, len(lines) - 1))
        rest = lines[:at] + lines[at + 1:] if kind == "drop line" else lines
        return b"\n".join(rest[:to] + copy + rest[to:])
    if kind == "swap tokens":
        first, second = sorted(draw(st.lists(st.sampled_from(spans), min_size=2, max_size=2)))
        if first == second:
            return content
        return (content[:first[0]] + content[second[0]:second[1]] + content[first[1]:second[0]]
                + content[first[0]:first[1]] + content[second[1]:])
    if kind == "out of range":
        return replace_span(content, draw(st.sampled_from(spans)),
                            str(draw(st.sampled_from(OUT_OF_RANGE))).encode())
    if kind == "odd token":
        return replace_span(content, draw(st.sampled_from(spans)),
                            draw(st.sampled_from(ODD_TOKENS)))
    if kind == "non-finite":
        values = [span for span in spans  # not the first token of a line: a feature value
                  if content[:span[0]].rstrip(b" \t\r\x0b\x0c")[-1:] not in (b"", b"\n")]
        if not is_features or not values:
            return content
        return replace_span(content, draw(st.sampled_from(values)),
                            draw(st.sampled_from(NON_FINITE)))
    if kind == "wider gap":
        at = draw(st.sampled_from(gaps))
        return content[:at] + draw(st.sampled_from([b"  ", b"\t", b" \t "])) + content[at + 1:]
    if kind == "crlf":
        return content.replace(b"\n", b"\r\n")
    assert kind == "blank lines"
    at = draw(st.integers(0, len(lines)))
    return b"\n".join(lines[:at] + [b"", b" \t"] + lines[at:])


CORRUPTIONS = ("flip", "cut", "drop line", "duplicate line", "swap tokens", "out of range",
               "odd token", "non-finite") + WHITESPACE


def assert_one_line_error_naming(error, folder, names):
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    assert any(os.path.join(folder, name) in message for name in names), message


def test_corrupted_text_files_load_what_they_say_or_fail_in_one_line():
    run_counted("text", text_property)


@fuzz_settings("text")
@given(st.data())
def text_property(data):
    files = small_files(seed=data.draw(st.integers(0, 3)))
    kinds = data.draw(st.lists(st.tuples(st.sampled_from(sorted(files)),
                                         st.sampled_from(CORRUPTIONS)), min_size=1, max_size=3))
    original = expected_dataset(files)
    for name, kind in kinds:
        files[name] = corrupt(data.draw, files[name], kind, name in FEATURES)
    expected = expected_dataset(files)
    with tempfile.TemporaryDirectory() as folder:
        write_files(folder, files)
        try:
            got = snapshot(load_dataset(folder, sorted(MODALITIES), log=quiet))
        except InputError as error:
            assert expected is None, "rejected valid files: %s" % error
            assert_one_line_error_naming(error, folder, SPLITS + FEATURES)
            OUTCOMES["text"]["rejected"] += 1
            return
    assert expected is not None, "accepted invalid files"
    assert got == expected
    if all(kind in WHITESPACE for _, kind in kinds):
        assert got == original
    OUTCOMES["text"]["loaded unchanged" if got == original else "loaded as changed"] += 1


def npy_bytes(matrix):
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    return buffer.getvalue()


def expected_npy(content, n_items):
    """The float32 rows plain ``np.load`` reads from ``content``, or None if invalid."""
    try:
        matrix = np.load(io.BytesIO(content), allow_pickle=False)
    except Exception:  # anything numpy cannot read is invalid, whatever it raises
        return None
    if not isinstance(matrix, np.ndarray) or matrix.dtype.kind != "f" \
            or matrix.dtype.itemsize not in (4, 8) or matrix.ndim != 2 \
            or matrix.shape[1] == 0 or matrix.shape[0] != n_items:
        return None
    with np.errstate(over="ignore"):
        matrix = matrix.astype(np.float32)
    return matrix.tolist() if np.isfinite(matrix).all() else None


def test_corrupted_npy_features_load_what_numpy_reads_or_fail_in_one_line():
    run_counted("npy", npy_property)


@fuzz_settings("npy")
@given(st.data())
def npy_property(data):
    files = small_files()
    with tempfile.TemporaryDirectory() as folder:
        image = load_dataset(write_files(folder, files), ["image"], log=quiet).features["image"]
        dtype = data.draw(st.sampled_from([np.float32, np.float64]))
        content = npy_bytes(image.astype(dtype))
        for _ in range(data.draw(st.integers(1, 3))):
            kind = data.draw(st.sampled_from(["flip", "cut", "append", "nan"] if content
                                             else ["append"]))
            if kind == "flip":
                at = data.draw(st.integers(0, len(content) - 1))
                content = content[:at] + bytes([data.draw(BYTES)]) + content[at + 1:]
            elif kind == "cut":
                content = content[:data.draw(st.integers(0, len(content)))]
            elif kind == "append":
                content += data.draw(st.binary(min_size=1, max_size=16))
            else:  # a NaN over one value, counted from the end where the data are
                size = np.dtype(dtype).itemsize
                at = len(content) - data.draw(st.integers(1, image.size)) * size
                content = content[:at] + np.array(np.nan, dtype).tobytes() + content[at + size:]
        expected = expected_npy(content, image.shape[0])
        write_files(folder, {"item2imgfeat.npy": content})
        try:
            got = load_dataset(folder, ["image"], log=quiet).features["image"]
        except InputError as error:
            assert expected is None, "rejected a valid .npy: %s" % error
            assert_one_line_error_naming(error, folder, ["item2imgfeat.npy"])
            OUTCOMES["npy"]["rejected"] += 1
            return
        assert expected is not None, "accepted an invalid .npy"
        assert got.tolist() == expected
        OUTCOMES["npy"]["loaded unchanged" if expected == image.tolist()
                        else "loaded as changed"] += 1


def test_corrupted_caches_give_the_original_data():
    run_counted("cache", cache_property)


@fuzz_settings("cache")
@given(st.data())
def cache_property(data):
    with tempfile.TemporaryDirectory() as folder:
        write_files(folder, small_files())
        original = snapshot(load_dataset(folder, sorted(MODALITIES), log=quiet))
        cache_dir = os.path.join(folder, ".cache")
        path = os.path.join(cache_dir, data.draw(st.sampled_from(sorted(os.listdir(cache_dir)))))
        with open(path, "rb") as handle:
            content = handle.read()
        for _ in range(data.draw(st.integers(1, 4))):
            if content and data.draw(st.booleans()):
                at = data.draw(st.integers(0, len(content) - 1))
                bit = 1 << data.draw(st.integers(0, 7))
                content = content[:at] + bytes([content[at] ^ bit]) + content[at + 1:]
            else:
                content = content[:data.draw(st.integers(0, len(content)))]
        with open(path, "wb") as handle:
            handle.write(content)
        logged = []
        assert snapshot(load_dataset(folder, sorted(MODALITIES), log=logged.append)) == original
        if logged:  # else the corruption missed everything read (a zip timestamp, say)
            assert logged[0] == "note: cache %s is corrupted; rebuilding" % path, logged
            assert len(logged) == 2 and logged[1].startswith("parsed "), logged
        OUTCOMES["cache"]["rebuilt" if logged else "still readable"] += 1
