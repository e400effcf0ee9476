"""Answers: the result types, choosing the answer sentence, and the not-found decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from qa.corpus import Sentence


@dataclass(frozen=True)
class Passage:
    """A retrieved passage, verbatim, with where it stands and how well it matched."""

    id: int  # its number in reading order (1-based)
    text: str
    score: float  # fused relevance, higher is better
    section: str
    kind: str = "paragraph"
    dense: float = 0.0  # cosine similarity to the question
    lexical: float = 0.0  # BM25 score
    source: str = ""  # the file it comes from


@dataclass(frozen=True)
class Answer:
    """What `ask` returns.

    ``found`` is False when the document does not answer the question; ``passages``
    then lists the nearest passages as possibly related, never as the answer.
    """

    question: str
    found: bool
    text: str  # verbatim sentence(s) of the document; "" when not found
    passages: list[Passage]
    confidence: float  # 0..1, how sure the system is that `text` answers
    passage_id: int | None = None  # the passage holding `text`
    start: int = -1  # where `text` starts inside that passage's text
    end: int = -1
    matched_terms: list[str] = field(default_factory=list)
    evidence: float = 0.0  # the raw match strength the not-found decision thresholds
    timings: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def passage(self) -> Passage | None:
        """The passage the answer was quoted from."""
        return next((p for p in self.passages if p.id == self.passage_id), None)

    @property
    def confidence_label(self) -> str:
        return confidence_label(self.confidence, self.found)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "found": self.found,
            "answer": self.text,
            "confidence": round(self.confidence, 4),
            "confidence_label": self.confidence_label,
            "passage_id": self.passage_id,
            "start": self.start,
            "end": self.end,
            "passages": [
                {
                    "id": p.id,
                    "section": p.section,
                    "kind": p.kind,
                    "score": round(p.score, 4),
                    "dense": round(p.dense, 4),
                    "lexical": round(p.lexical, 4),
                    "source": p.source,
                    "text": p.text,
                }
                for p in self.passages
            ],
        }


def confidence_label(confidence: float, found: bool) -> str:
    if not found:
        return "not in the document"
    if confidence >= 0.75:
        return "high"
    if confidence >= 0.5:
        return "medium"
    return "low"


def coverage(terms: Sequence[str], text: str) -> float:
    """Share of the question's words (weighted by length) that occur in `text`."""
    total = sum(len(t) for t in terms)
    if not total:
        return 0.0
    low = text.lower()
    return sum(len(t) for t in terms if t in low) / total


@dataclass(frozen=True)
class SentenceChoice:
    passage_index: int  # index into the candidate list
    sentence: Sentence
    end: int
    score: float
    similarity: float


def choose_sentence(
    candidates: Sequence[tuple[int, float, Sequence[Sentence], np.ndarray, str]],
    terms: Sequence[str],
    *,
    passage_weight: float = 0.3,
    lexical_weight: float = 0.3,
) -> SentenceChoice | None:
    """Pick the sentence that best answers, among the top passages.

    Args:
        candidates: per passage (index, fused passage score in 0..1, its sentences,
            the sentences' cosine similarities to the question, passage text).
        terms: the question's words.

    Returns:
        The best sentence, extended by the next one when it is too short to stand
        alone, or None when there are no sentences.
    """
    best: SentenceChoice | None = None
    for idx, pscore, sentences, sims, text in candidates:
        for j, s in enumerate(sentences):
            sim = float(sims[j]) if j < len(sims) else 0.0
            score = sim + lexical_weight * coverage(terms, s.text) + passage_weight * pscore
            if best is None or score > best.score:
                end = s.start + len(s.text)
                if len(s.text) < 12 and j + 1 < len(sentences):  # too short to answer alone
                    nxt = sentences[j + 1]
                    end = nxt.start + len(nxt.text)
                best = SentenceChoice(idx, s, end, score, sim)
    return best
