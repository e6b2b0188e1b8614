"""Two datasets whose items carry real content, built from pinned public sources.

Usage::

    python -m utility.prepare_data beauty14 [--mirror DIR_OR_URL] [--data_path Data/]
    python -m utility.prepare_data ml100k [--mirror DIR_OR_URL] [--data_path Data/]

* ``beauty14``: the Amazon Beauty 2014 5-core (22,363 users, 12,101 items) with product
  titles; text features only (384-d all-MiniLM-L6-v2).
* ``ml100k``: MovieLens 100K (943 users, 1,682 movies) with posters and titles; image
  features (1280-d EfficientNet-Lite0, pooled) and text features (title, year and genres,
  384-d all-MiniLM-L6-v2).

Every source is a file of a public GitHub repository at a pinned commit, or a pinned wheel of
the package index (:mod:`utility.data.features.packages`), checked against its SHA-256 before
use. The posters are pinned one by one in ``ml100k_posters.sha256`` in this package. A
mirror (``--mirror`` or ``MCLN_DATA_MIRROR``) is a folder (or base URL) laid out as
``<owner>/<repo>/<commit>/<path>`` plus ``packages/<wheel>``; without one, files come from
GitHub's raw file host and pip. A mirror folder's files are verified and read in place;
downloaded files are kept, verified, in a cache (``$MCLN_CACHE/sources``, else
``~/.cache/mcln/sources``), so a second build downloads nothing.

Both are split leave-one-out in time order: each user's last interaction is the test item,
the one before it the validation item, the rest train. As in the release's datasets,
``train.txt`` also lists the validation item (at its place in time): ``--valid`` takes it out
again (utility/data/load.py). The dataset is built in a temporary folder beside its final
place and renamed into place only when complete, so a failed build leaves no folder behind.
docs/datasets-real-content.md describes the files, the joins and the statistics.

The package: ``sources`` (pinned files, verified), ``folder`` (splits, tables, statistics,
building in place), one module per dataset (``beauty14``, ``ml100k``, with ``movie_titles``
matching ML-100K's titles to ML-1M's) and, here, the preparation that ties them together.
"""
import collections
import os
import time

from utility.common.errors import InputError
from utility.data.content import beauty14, ml100k
from utility.data.content.folder import STATISTICS_FILE, build_dataset
from utility.data.download import MIRROR_ENV, is_url

IMAGE_MODEL = "efficientnet_lite0"

Dataset = collections.namedtuple("Dataset", "folder fetch build")


def _build_beauty14(work, paths, encoders, log):
    return beauty14.build_beauty14(work, paths, encoders.text(), log)


def _build_ml100k(work, paths, encoders, log):
    return ml100k.build_ml100k(work, paths["wheel"], paths["ml1m_movies"], paths["posters"],
                               encoders.text(), encoders.image(), log)


DATASETS = {
    "beauty14": Dataset("beauty14", beauty14.fetch_beauty14, _build_beauty14),
    "ml100k": Dataset("ml100k", ml100k.fetch_ml100k, _build_ml100k),
}


class Encoders(object):
    """The encoders a build uses, loaded on first use (after every source has verified)."""

    def __init__(self, mirror, log, text_encoder=None, image_encoder=None,
                 image_model=IMAGE_MODEL):
        self.mirror, self.log, self.image_model = mirror, log, image_model
        self._text, self._image = text_encoder, image_encoder

    def text(self):
        if self._text is None:
            from utility.data.features.command import load_text_encoder
            self._text = load_text_encoder(self.mirror, self.log)
        return self._text

    def image(self):
        if self._image is None:
            from utility.data.features.command import load_image_encoder
            self._image = load_image_encoder(self.image_model, self.mirror, self.log)
        return self._image


def is_complete(folder):
    return os.path.isfile(os.path.join(folder, STATISTICS_FILE))


def prepare_content(name, data_path="Data", mirror=None, log=print, text_encoder=None,
                    image_encoder=None):
    """Fetch, verify, split and encode dataset ``name``; return its folder.

    ``mirror`` as in :func:`utility.data.prepare.prepare` (default ``$MCLN_DATA_MIRROR``).
    The encoders default to the pinned pretrained ones; tests pass small stand-ins. A folder
    that is already complete is kept as it is.
    """
    started = time.time()
    dataset = DATASETS[name.lower()]
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or None
    if mirror is not None and not is_url(mirror) and not os.path.isdir(mirror):
        raise InputError("mirror folder %s does not exist" % mirror)
    out = os.path.join(data_path, dataset.folder)
    if is_complete(out):
        log("%s is already prepared (remove the folder to build it again)" % out)
        return out
    if os.path.exists(out):
        raise InputError("%s exists but is not a complete dataset (no %s); remove it and run "
                         "again" % (out, STATISTICS_FILE))
    paths = dataset.fetch(mirror, log)
    log("all %s sources verified (SHA-256) in %.1f s" % (name, time.time() - started))
    encoders = Encoders(mirror, log, text_encoder, image_encoder)

    build_dataset(out, lambda work: dataset.build(work, paths, encoders, log), started, log)
    log("wrote %s in %.1f s (statistics in %s)"
        % (out, time.time() - started, os.path.join(out, STATISTICS_FILE)))
    return out
