"""Settings: a frozen dataclass with defaults, overridable by keyword and environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DOCUMENT = PROJECT_ROOT / "seeds" / "000_f68f8fec486f23e4.txt"

MAX_QUESTION_CHARS = 2000
MAX_K = 50

# Fitted by `docqa eval --calibrate` on the dev split of seeds/questions.jsonl.
NOT_FOUND_WEIGHTS = {
    "missing": -4.43642,
    "dense_z": 0.07945,
    "lang": -1.21561,
    "coverage": 0.25106,
    "oov": -1.02761,
    "type_gap": -14.74547,
    "sent_sim_zh": 3.02416,
    "sent_sim_other": 1.08644,
    "sent_cov": -0.04827,
    "bias": 0.26792
}


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
    fusion: str = "linear"  # "linear" | "rrf"
    dense_weight: float = 1.0
    lexical_weight: float = 0.8
    bridge_weight: float = 0.35  # keyword weight for non-Chinese questions, through the CC-CEDICT bridge
    sentence_weight: float = 3.0  # how much the best sentence's similarity lifts its passage
    rrf_k: int = 60
    candidates: int = 50
    answer_passages: int = 3  # passages searched for the answer sentence
    # Logistic weights of the not-found decision over `Retriever._signals` (fitted on dev).
    not_found_weights: dict = field(default_factory=lambda: dict(NOT_FOUND_WEIGHTS))
    not_found_threshold: float = 0.0  # shift of the decision: > 0 rejects more
    # A question none of whose words the document has (directly or through the English
    # bridge) is off-topic unless its best passage stands this many standard deviations
    # above the rest (dev split).
    off_topic_z: float = 3.0
    section_context: bool = True  # embed and index "section + text", not the text alone


@dataclass(frozen=True)
class Settings:
    """Everything configurable about building and asking an index."""

    home: Path = field(default_factory=default_home)
    encoder: str = field(default_factory=lambda: os.environ.get("DOCQA_ENCODER") or _default_encoder())
    max_passage_chars: int = 1200
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
