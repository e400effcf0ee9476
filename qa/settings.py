"""Settings: frozen dataclasses with defaults, overridable by keyword, environment and a JSON file.

Imports nothing else of `qa`, so reading the settings never pulls in an index or a model.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DOCUMENT = PROJECT_ROOT / "seeds" / "000_f68f8fec486f23e4.txt"

MAX_QUESTION_CHARS = 2000
MAX_K = 50

NOT_FOUND_FILE = Path(__file__).resolve().parent / "data" / "not_found.json"


@functools.lru_cache(maxsize=1)
def _not_found_model() -> tuple[tuple[str, ...], dict[str, float], dict[str, float]]:
    """The not-found model's signal names and default weights (reader on, reader off), from its data file (see `qa.notfound`)."""
    data = json.loads(NOT_FOUND_FILE.read_text(encoding="utf-8"))
    fast = data.get("fast_weights", data["weights"])
    return tuple(data["signals"]), {k: float(v) for k, v in data["weights"].items()}, {k: float(v) for k, v in fast.items()}


def not_found_signals() -> tuple[str, ...]:
    """The names of the not-found model's signals."""
    return _not_found_model()[0]


def default_not_found_weights() -> dict[str, float]:
    """The shipped not-found weights with the reader on (fitted by `docqa eval --calibrate` on the dev split)."""
    return dict(_not_found_model()[1])


def default_fast_not_found_weights() -> dict[str, float]:
    """The shipped not-found weights for the retrieval-only path (the reader off or unavailable)."""
    return dict(_not_found_model()[2])


def env_switch(name: str) -> bool | None:
    """An on/off environment variable: False for off (``0``, ``off``, ``false``, ``no``), True for on, None when unset or other."""
    said = os.environ.get(name, "").strip().lower()
    return False if said in ("0", "off", "false", "no") else True if said in ("1", "on", "true", "yes") else None


def _reader_default() -> bool:
    return env_switch("DOCQA_READER") is not False


def _default_encoder() -> str:
    from embeddings.encoders import DEFAULT_ENCODER  # imported late: `docqa --help` stays light

    return DEFAULT_ENCODER


def default_home() -> Path:
    """Where indexes are cached: ``$DOCQA_HOME``, else ``~/.cache/docqa``."""
    env = os.environ.get("DOCQA_HOME")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "docqa"


@dataclass(frozen=True)
class RetrievalConfig:
    """How questions are scored. Defaults were tuned on the dev split (see README)."""

    mode: str = "hybrid"  # "hybrid" | "dense" | "bm25" (the latter two for comparison)
    fusion: str = "linear"  # "linear" | "rrf" | "zscore" (see qa.fusion)
    dense_weight: float = 1.0
    lexical_weight: float = 0.8
    bridge_weight: float = 0.35  # keyword weight for non-Chinese questions, through the CC-CEDICT bridge
    sentence_weight: float = 3.0  # how much the best sentence's similarity lifts its passage
    rrf_k: int = 60
    candidates: int = 50
    answer_passages: int = 3  # passages searched for the answer sentence
    # The trained reader (`qa.reader`) reads the best windows for the exact answer and a
    # no-answer score; off gives the retrieval-only path (default $DOCQA_READER, on).
    reader: bool = field(default_factory=_reader_default)
    reader_windows: int = 3  # windows read: around the best-ranked sentences of the top passages
    # The passage the quote stands in goes first when the sentence rules chose it and the
    # reader (when it reads) answered there too; a passage the reader switched to stays where
    # retrieval put it (dev hit@1, reader path: bundled 0.845 -> 0.862, DRCD 0.983 -> 0.994;
    # without the reader: 0.845 -> 0.856, 0.983 -> 0.990; CMRC unchanged).
    quote_first: bool = True
    # Another window's span replaces the chosen sentence's window only when its margin is this
    # much higher; inside a window, the best span in the chosen sentence stands unless the
    # window's best outscores it by `reader_focus` (dev: mean answer accuracy 0.830 -> 0.846).
    reader_switch: float = 5.0
    reader_focus: float = 2.0
    # When no window's margin reaches this, the reader sees no answer in what it read and its
    # best span is a guess: the ranked sentence stands, with the best span inside it (dev:
    # bundled answer accuracy 0.783 -> 0.804, the public sets unchanged).
    reader_doubt: float = -8.0
    # Logistic weights of the not-found decision over `qa.notfound`'s signals (fitted on
    # dev): with the reader's margin, and for the path without the reader.
    not_found_weights: dict = field(default_factory=default_not_found_weights)
    fast_not_found_weights: dict = field(default_factory=default_fast_not_found_weights)
    not_found_threshold: float = 0.0  # shift of the decision: > 0 rejects more
    # A question none of whose words the document has (directly or through the English
    # bridge) is off-topic unless its best passage stands this many standard deviations
    # above the rest (dev split).
    off_topic_z: float = 3.0
    section_context: bool = True  # embed and index "section + text", not the text alone


_CHOICES = {"mode": ("hybrid", "dense", "bm25"), "fusion": ("linear", "rrf", "zscore")}
_AT_LEAST_ONE = ("rrf_k", "candidates", "answer_passages", "reader_windows")
_NOT_NEGATIVE = ("dense_weight", "lexical_weight", "bridge_weight", "sentence_weight", "reader_switch", "reader_focus")


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_weights(weights: object, where: str) -> dict:
    """Not-found weights: signal name -> number, or one such table per language ("zh", "other")."""
    if not isinstance(weights, dict) or not weights:
        raise ValueError(f"{where}: not_found_weights must be a non-empty object of signal -> number")
    if set(weights) & {"zh", "other"}:
        if set(weights) != {"zh", "other"}:
            raise ValueError(f"{where}: per-language not_found_weights need exactly the tables 'zh' and 'other'")
        return {lang: _check_weights(table, f"{where}: not_found_weights.{lang}") for lang, table in weights.items()}
    known = set(not_found_signals()) | {"bias"}
    for name, value in weights.items():
        if name not in known:
            raise ValueError(f"{where}: unknown not-found signal {name!r} (known: {', '.join(sorted(known))})")
        if not _number(value):
            raise ValueError(f"{where}: not_found_weights.{name} must be a number, got {value!r}")
    return {name: float(value) for name, value in weights.items()}


def load_retrieval_settings(path: str | Path) -> RetrievalConfig:
    """The default `RetrievalConfig` with the fields a JSON settings file sets.

    The file is one JSON object whose keys are `RetrievalConfig` fields, e.g. what
    ``docqa eval --calibrate --save FILE`` writes: ``{"not_found_weights": {...}}``, or
    ``{"not_found_threshold": 0.5}`` to reject more. Anything else is a one-line
    ``ValueError`` naming the file and the problem.
    """
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"settings file {path}: cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"settings file {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"settings file {path}: must hold one JSON object of settings")
    base = RetrievalConfig()
    types = {f.name: type(getattr(base, f.name)) for f in fields(RetrievalConfig)}
    changes = {}
    for key, value in data.items():
        if key not in types:
            raise ValueError(f"settings file {path}: unknown setting {key!r} (known: {', '.join(sorted(types))})")
        want = types[key]
        if key in ("not_found_weights", "fast_not_found_weights"):
            value = _check_weights(value, f"settings file {path}")
        elif want is bool:
            if not isinstance(value, bool):
                raise ValueError(f"settings file {path}: {key} must be true or false, got {value!r}")
        elif want in (int, float):
            if not _number(value):
                raise ValueError(f"settings file {path}: {key} must be a number, got {value!r}")
            if want is int and value != int(value):
                raise ValueError(f"settings file {path}: {key} must be a whole number, got {value!r}")
            if (key in _AT_LEAST_ONE and value < 1) or (key in _NOT_NEGATIVE and value < 0):
                raise ValueError(f"settings file {path}: {key} must be {'1 or more' if key in _AT_LEAST_ONE else '0 or more'}, got {value!r}")
            value = want(value)
        elif want is str:
            if not isinstance(value, str) or value not in _CHOICES.get(key, (value,)):
                raise ValueError(f"settings file {path}: {key} must be one of {', '.join(_CHOICES[key])}, got {value!r}")
        changes[key] = value
    return replace(base, **changes)


def _default_retrieval() -> RetrievalConfig:
    """The defaults, with the settings file ``$DOCQA_SETTINGS`` names (if any) on top."""
    path = os.environ.get("DOCQA_SETTINGS")
    return load_retrieval_settings(path) if path else RetrievalConfig()


@dataclass(frozen=True)
class Settings:
    """Everything configurable about building and asking an index."""

    home: Path = field(default_factory=default_home)
    encoder: str = field(default_factory=lambda: os.environ.get("DOCQA_ENCODER") or _default_encoder())
    max_passage_chars: int = 1200
    retrieval: RetrievalConfig = field(default_factory=_default_retrieval)
    # Where indexes live: "faiss" (a folder under `home`), "milvus:PATH.db" (Milvus Lite) or
    # "milvus://HOST:PORT" (a Milvus server); see `qa.milvus_store`. Default $DOCQA_STORE, else faiss.
    store: str = field(default_factory=lambda: os.environ.get("DOCQA_STORE") or "faiss")
