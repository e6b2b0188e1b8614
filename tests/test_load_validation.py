"""Bad data caught at load (file and line named), .npy features, corrupted caches rebuilt."""
import os
import struct
import zipfile

import numpy as np
import pytest

from data_files import quiet, small_files, snapshot, write_files
from utility.data import load as load_data
from utility.common.errors import InputError
from utility.data.load import aligned, load_dataset, read_cache

MODALITIES = ["image", "text"]


def folder_with(tmp_path, edit=None, **changed):
    """A small valid dataset folder with ``changed`` files replaced (name with '.' as '_')."""
    files = small_files()
    if edit:
        edit(files)
    for name, content in changed.items():
        files[name.replace("_txt", ".txt")] = content
    return write_files(str(tmp_path / "data"), files)


def replace_line(files, name, line_no, text):
    lines = files[name].decode().splitlines()
    lines[line_no - 1] = text
    files[name] = ("\n".join(lines) + "\n").encode()


def load_error(folder):
    with pytest.raises(InputError) as caught:
        load_dataset(folder, MODALITIES, log=quiet)
    message = str(caught.value)
    assert "\n" not in message
    return message


def item_of_line(files, name, line_no):
    return int(files[name].decode().splitlines()[line_no - 1].split()[0])


# ------------------------------------------------------------------------ text files
@pytest.mark.parametrize("token, what", [("nan", "NaN"), ("-inf", "infinite"),
                                         ("Infinity", "infinite"),
                                         ("1e39", "1e+39, beyond float32")])
def test_non_finite_feature_text_is_located(tmp_path, token, what):
    folder = folder_with(tmp_path, lambda f: replace_line(
        f, "itemtitle2vec.txt", 4, "%d 0.5 %s" % (item_of_line(f, "itemtitle2vec.txt", 4),
                                                   token)))
    message = load_error(folder)
    assert message.startswith(os.path.join(folder, "itemtitle2vec.txt") + ":4: feature 2 is ")
    assert what in message


def test_feature_ids_out_of_range_twice_or_malformed(tmp_path):
    files = small_files()
    n_items = len(files["item2imgfeat.txt"].splitlines())
    cases = {"%d 1 2 3" % n_items: "item %d is not an item of the splits (ids 0..%d)"
                                   % (n_items, n_items - 1),
             "%d 1 2 3" % item_of_line(files, "item2imgfeat.txt", 2): "already has a line",
             "2.0 1 2 3": "item id must be a non-negative integer, got '2.0'",
             "-1 1 2 3": "item id must be a non-negative integer, got '-1'",
             "3 1 2 3 4": "4 features, but earlier lines have 3",
             "3 1 2 x": "not a list of numbers",
             "3 1\xe9 2 3": "not a list of numbers"}
    for text, fragment in cases.items():
        folder = folder_with(tmp_path, lambda f: replace_line(f, "item2imgfeat.txt", 5, text))
        message = load_error(folder)
        assert message.startswith(os.path.join(folder, "item2imgfeat.txt:5: ")), message
        assert fragment in message, message


def test_feature_file_without_rows(tmp_path):
    folder = folder_with(tmp_path, item2imgfeat_txt=b"\n  \n")
    assert load_error(folder) == "%s: no feature rows" % os.path.join(folder, "item2imgfeat.txt")


def test_train_lines_without_items_or_repeated(tmp_path):
    folder = folder_with(tmp_path, lambda f: replace_line(f, "train.txt", 3, "2"))
    assert load_error(folder).endswith("train.txt:3: user 2 has no items (expected 'uid iid "
                                       "iid ...')")
    folder = folder_with(tmp_path, lambda f: replace_line(f, "train.txt", 5, "1 3 4"))
    assert load_error(folder).endswith("train.txt:5: user 1 already has a line (line 2)")
    folder = folder_with(tmp_path, lambda f: replace_line(f, "train.txt", 2, "1 4 2147483648"))
    assert load_error(folder).endswith("train.txt:2: id 2147483648 is too large "
                                       "(ids go up to 2147483647)")
    folder = folder_with(tmp_path, lambda f: replace_line(f, "train.txt", 2, "1 4 \xff5"))
    assert load_error(folder).endswith("train.txt:2: ids must be integers, got "
                                       "'\\xc3\\xbf5' at column 5")


def test_held_out_users_without_train_items_warn(tmp_path):
    def edit(files):
        replace_line(files, "train.txt", 2, "")      # user 1 loses its train line
        replace_line(files, "test.txt", 4, "9 2")    # a user that never trained
    folder = folder_with(tmp_path, edit)
    logged = []
    dataset = load_dataset(folder, MODALITIES, log=logged.append)
    warnings = [line for line in logged if line.startswith("warning:")]
    assert warnings == [
        "warning: %s:2: user 1 has no train items, so its ranking is uninformed (2 such "
        "lines)" % os.path.join(folder, "test.txt"),
        "warning: %s:2: user 1 has no train items, so its ranking is uninformed (1 such "
        "line)" % os.path.join(folder, "validation.txt")]
    assert dataset.n_users == 10 and [9, 2] in dataset.test_pairs.tolist()
    again = []
    load_dataset(folder, MODALITIES, log=again.append)  # from the cache: warned again
    assert again == warnings


def test_unparsable_test_lines_skipped_other_split_errors_located(tmp_path):
    folder = folder_with(tmp_path, lambda f: replace_line(f, "test.txt", 3, "2 x7"))
    logged = []
    dataset = load_dataset(folder, MODALITIES, log=logged.append)
    assert [line for line in logged if line.startswith("warning:")] == [
        "warning: skipped (as the release does) %s:3: ids must be integers, got 'x7' at "
        "column 3"
        % os.path.join(folder, "test.txt")]
    assert 2 not in dataset.test_pairs[:, 0]
    folder = folder_with(tmp_path, lambda f: replace_line(f, "test.txt", 3, "2 -7"))
    assert load_error(folder).endswith("test.txt:3: ids must be non-negative, got -7")


def test_ids_only_in_validation_are_counted(tmp_path):
    # Item 99 and user 7 appear in validation.txt alone: 100 items (99 has no feature line,
    # so a zero row) and 8 users, user 7 without train items.
    folder = folder_with(tmp_path, lambda f: replace_line(f, "validation.txt", 4, "7 99"))
    logged = []
    dataset = load_dataset(folder, MODALITIES, log=logged.append)
    assert (dataset.n_users, dataset.n_items) == (8, 100)
    assert dataset.valid_pairs[3].tolist() == [7, 99]
    assert not dataset.features["image"][99].any()
    assert any(line.endswith("validation.txt:4: user 7 has no train items, so its ranking is "
                             "uninformed (1 such line)") for line in logged)


# ------------------------------------------------------------------------ .npy features
def text_load(tmp_path):
    return load_dataset(folder_with(tmp_path), MODALITIES, log=quiet)


def test_npy_features_are_memory_mapped_aligned_and_uncached(tmp_path):
    reference = text_load(tmp_path / "text")
    folder = folder_with(tmp_path)
    np.save(os.path.join(folder, "item2imgfeat.npy"), reference.features["image"])
    with open(os.path.join(folder, "item2imgfeat.txt"), "w") as handle:
        handle.write("not read: the .npy wins\n")
    dataset = load_dataset(folder, MODALITIES, log=quiet)
    image = dataset.features["image"]
    assert isinstance(image, np.memmap) and not image.flags.writeable
    assert image.ctypes.data % 64 == 0 and aligned(image) is image  # fed without a copy
    assert snapshot(dataset) == snapshot(reference)
    assert [name.split("-")[0] for name in sorted(os.listdir(os.path.join(folder, ".cache")))] \
        == ["features_text", "interactions"]


def test_npy_float64_and_fortran_order_become_aligned_float32(tmp_path):
    reference = text_load(tmp_path / "text")
    for layout in (reference.features["image"].astype(np.float64),
                   np.asfortranarray(reference.features["image"])):
        folder = folder_with(tmp_path)
        np.save(os.path.join(folder, "item2imgfeat.npy"), layout)
        image = load_dataset(folder, MODALITIES, log=quiet).features["image"]
        assert image.dtype == np.float32 and image.flags.c_contiguous
        assert image.ctypes.data % 64 == 0
        np.testing.assert_array_equal(image, reference.features["image"])


def test_npy_non_finite_rows_are_found_block_by_block(tmp_path, monkeypatch):
    matrix = text_load(tmp_path / "text").features["text"].copy()
    monkeypatch.setattr(load_data, "NPY_BLOCK_BYTES", 2 * matrix.shape[1] * 4)  # 2 rows
    folder = folder_with(tmp_path)
    path = os.path.join(folder, "itemtitle2vec.npy")
    for row, column, value, what in ((7, 1, np.nan, "NaN"), (0, 0, -np.inf, "infinite")):
        bad = matrix.copy()
        bad[row, column] = value
        np.save(path, bad)
        assert load_error(folder) == "%s:row %d: feature %d is %s; features must be finite " \
                                     "numbers" % (path, row, column + 1, what)
    wide = matrix.astype(np.float64)
    wide[3, 0] = 1e300
    np.save(path, wide)
    assert load_error(folder).endswith(":row 3: feature 1 is 1e+300, beyond float32; features "
                                       "must be finite numbers")


def test_npy_of_the_wrong_shape_type_or_bytes(tmp_path):
    matrix = text_load(tmp_path / "text").features["image"]
    folder = folder_with(tmp_path)
    path = os.path.join(folder, "item2imgfeat.npy")
    n_items = matrix.shape[0]
    rows = "%d rows, but the splits have " + "%d items (row i holds item i)" % n_items
    shape = "shape %s; expected (n_items, D) with D >= 1"
    cases = [(matrix[:-1], rows % (n_items - 1)), (np.vstack([matrix, matrix[:1]]),
                                                    rows % (n_items + 1)),
             (matrix[:, 0], shape % ((n_items,),)), (matrix[:, :0], shape % ((n_items, 0),)),
             (matrix.astype(np.int32), "dtype int32; expected float32 or float64"),
             (matrix.astype(np.float16), "dtype float16; expected float32 or float64")]
    for array, expected in cases:
        np.save(path, array)
        assert load_error(folder) == "%s: %s" % (path, expected)
    np.save(path, matrix)
    whole = open(path, "rb").read()
    for content in (whole[:len(whole) // 2], b"", b"garbage" * 20):
        with open(path, "wb") as handle:
            handle.write(content)
        assert load_error(folder).startswith("%s: not a readable .npy file (" % path)
    os.remove(path)
    np.savez(path, matrix)  # np.savez adds .npz to the name: move it back under .npy
    os.replace(path + ".npz", path)
    assert load_error(folder) == "%s: an .npz archive, not a .npy matrix" % path
    os.remove(path)
    os.remove(os.path.join(folder, "item2imgfeat.txt"))
    assert load_error(folder) == "%s: file not found (nor item2imgfeat.npy)" \
        % os.path.join(folder, "item2imgfeat.txt")


def test_mapped_features_feed_tensorflow_unchanged(tmp_path):
    import tensorflow.compat.v1 as tf
    tf.disable_eager_execution()
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3) / 8
    path = str(tmp_path / "m.npy")
    np.save(path, matrix)
    mapped = np.load(path, mmap_mode="r")
    with tf.Graph().as_default(), tf.Session() as session:
        holder = tf.placeholder(tf.float32, [None, 3])
        variable = tf.Variable(holder, validate_shape=False)
        session.run(variable.initializer, {holder: mapped})
        np.testing.assert_array_equal(session.run(variable), matrix)


# ------------------------------------------------------------------------ the cache
def cache_files(folder):
    directory = os.path.join(folder, ".cache")
    return {name.split("-")[0]: os.path.join(directory, name) for name in os.listdir(directory)}


def rewrite(path, change):
    """Rewrite the npz at ``path`` with ``change(arrays)`` applied (the old checksum kept)."""
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    change(arrays)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def flip_last_data_byte(path):
    """Flip one bit of the last stored byte of train_items, in place (zip CRC now wrong)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("train_items.npy")
    with open(path, "r+b") as handle:
        handle.seek(info.header_offset + 26)  # the local header's name and extra lengths
        name_length, extra_length = struct.unpack("<HH", handle.read(4))
        handle.seek(name_length + extra_length + info.file_size - 1, os.SEEK_CUR)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([last[0] ^ 1]))


def truncate(path):
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)


def garble(path):
    with open(path, "wb") as handle:
        handle.write(b"PK\x03\x04" + b"\x00" * 200)


CORRUPTIONS = {
    "truncated": truncate,
    "garbled": garble,
    "missing member": lambda path: rewrite(path, lambda a: a.pop("test_pairs")),
    "wrong shape": lambda path: rewrite(path, lambda a: a.update(
        train_indptr=a["train_indptr"][:-1])),
    "bit flip, zip CRC rewritten": lambda path: rewrite(path, lambda a: a.update(
        train_items=a["train_items"] ^ 1)),
    "bit flip": flip_last_data_byte,
    "no checksum": lambda path: rewrite(path, lambda a: a.pop(load_data.CHECKSUM_KEY)),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupted_cache_is_rebuilt(tmp_path, corruption):
    folder = folder_with(tmp_path)
    original = snapshot(load_dataset(folder, MODALITIES, log=quiet))
    path = cache_files(folder)["interactions"]
    CORRUPTIONS[corruption](path)
    assert read_cache(path) is None
    logged = []
    assert snapshot(load_dataset(folder, MODALITIES, log=logged.append)) == original
    assert logged[0] == "note: cache %s is corrupted; rebuilding" % path
    assert logged[1].startswith("parsed interactions in ") and len(logged) == 2
    again = []
    load_dataset(folder, MODALITIES, log=again.append)
    assert again == []  # rebuilt: read from the cache, silently


def test_bad_id_named_with_its_column_not_the_line_cut_short(tmp_path):
    # The case: a long line whose bad token (letter O for zero) lies past the cut.
    items = " ".join(str(item) for item in range(3, 14))
    folder = folder_with(tmp_path, lambda f: replace_line(f, "train.txt", 3,
                                                          "2 %s 12O 4" % items))
    column = len("2 %s " % items) + 1
    assert load_error(folder).endswith("train.txt:3: ids must be integers, got '12O' at "
                                       "column %d" % column)
    folder = folder_with(tmp_path, lambda f: replace_line(f, "train.txt", 3, "\t 2  -x 4"))
    assert load_error(folder).endswith("train.txt:3: ids must be integers, got '-x' at "
                                       "column 6")


def test_test_split_without_evaluable_users_refused(tmp_path):
    folder = folder_with(tmp_path, test_txt=b"")
    assert load_error(folder) == "%s: no test pairs ('uid iid' lines); every user evaluated " \
        "comes from this file" % os.path.join(folder, "test.txt")
    folder = folder_with(tmp_path, test_txt=b"1 x\n\n")  # every line skipped
    assert load_error(folder).startswith(os.path.join(folder, "test.txt") + ": no test pairs")
    # Users 40 and 41 have no train line: nothing to rank them from.
    folder = folder_with(tmp_path, test_txt=b"40 1\n41 2\n40 3\n")
    assert load_error(folder) == "%s: none of its 2 users has items in train.txt, so no " \
        "ranking could be learned for any of them" % os.path.join(folder, "test.txt")
