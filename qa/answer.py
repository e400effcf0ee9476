"""Answers: the result types, and choosing the answer sentence among the best passages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from qa.corpus import Sentence
from qa.intents import Expectation
from qa.lexical import coverage
from qa.normalize import fold_script


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
    source: str = ""  # the file it comes from ("" for a library of one file given directly)
    page: int = 0  # its page in a paged format (PDF); 0 where pages do not apply
    paragraph: int = 0  # its number among its own file's passages (1-based); never shifts with other files


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
    # The exact answer the reader marked: verbatim, at [short_start, short_end) of the
    # passage's text, inside `text`; "" when the reader is off, unavailable or found none.
    short: str = ""
    short_start: int = -1
    short_end: int = -1
    signals: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    evidence: float = 0.0  # the raw match strength the not-found decision thresholds
    # Not found because the question is about nothing the document mentions (`qa.notfound.off_topic`):
    # the chat then says "not a question the document can answer" and lists no passages.
    off_topic: bool = False
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
            "short": {"text": self.short, "start": self.short_start, "end": self.short_end} if self.short else None,
            "confidence": round(self.confidence, 4),
            "confidence_label": self.confidence_label,
            "off_topic": self.off_topic,
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
                    "page": p.page,
                    "paragraph": p.paragraph,
                    "text": p.text,
                }
                for p in self.passages
            ],
        }


def confidence_label(confidence: float, found: bool) -> str:
    """The label people see for an answer's confidence (the estimated probability that it is right).

    "high" at or above the cut-off chosen on the dev sets so that answers labelled high
    are right at least 90% of the time, "low" below 0.5 (probably not right), "medium"
    between; "not in the document" when nothing was found. The cut-offs are stored
    with the confidence map in ``qa/data/not_found.json`` (see `qa.calibration`).
    """
    from qa.calibration import label

    return label(confidence, found)


@dataclass(frozen=True)
class SentenceCandidates:
    """One passage's sentences, offered to `choose_sentence`."""

    index: int  # the passage's place among the ranked passages
    score: float  # its fused score relative to the best passage's, 0..1
    sentences: Sequence[Sentence]
    similarities: np.ndarray  # each sentence's cosine to the question
    text: str  # the passage text the sentences index into


@dataclass(frozen=True)
class SentenceChoice:
    passage_index: int  # index into the candidate list
    sentence: Sentence
    end: int
    score: float
    similarity: float
    type_ok: bool = True  # the sentence holds the kind of value the question asks for
    type_gap: float = 0.0  # how much less relevant the best sentence of the right kind is than the best one


MIN_QUOTE_CHARS = 12  # a quote shorter than this takes the next sentence with it


def quote_end(sentences: Sequence[Sentence], first: int, last: int) -> int:
    """Where a quote of sentences `first`..`last` ends: with the next sentence when it is too short to answer alone."""
    end = sentences[last].start + len(sentences[last].text)
    if end - sentences[first].start < MIN_QUOTE_CHARS and last + 1 < len(sentences):
        nxt = sentences[last + 1]
        end = nxt.start + len(nxt.text)
    return end


def choose_sentence(candidates: Sequence[SentenceCandidates], terms: Sequence[str], **options) -> SentenceChoice | None:
    """Pick the sentence that best answers, among the top passages (the first of `rank_sentences`).

    Returns:
        The best sentence, extended by the next one when it is too short to stand
        alone, or None when there are no sentences.
    """
    ranked = rank_sentences(candidates, terms, **options)
    return ranked[0] if ranked else None


def rank_sentences(
    candidates: Sequence[SentenceCandidates],
    terms: Sequence[str],
    *,
    passage_weight: float = 0.5,
    coverage_weight: float = 0.3,
    expect: Expectation | None = None,
    type_penalty: float = 0.3,
    years: Sequence[str] = (),
    year_penalty: float = 0.1,
    lead_penalty: float = 0.1,
    lead_chars: int = 30,
    char_weight: float = 0.2,
) -> list[SentenceChoice]:
    """Every sentence of the top passages, best answer first.

    Args:
        candidates: the sentences of the best passages.
        terms: the question's words.
        passage_weight: weight of the passage's own (relative) score (0.3 -> 0.5 on the
            union of the dev sets: answer accuracy, bundled 0.812 -> 0.821, CMRC trial
            0.667 -> 0.672, CMRC dev part and DRCD unchanged; `python -m tests.perf.tune`).
        coverage_weight: weight of the share of the question's words the sentence holds.
        expect: the kind of value asked for; sentences without one are penalised.
        years: the years the question names ("1960年的时候……"); a sentence that does not
            give them loses `year_penalty` (the not-found decision counts such a
            sentence against the answer, so it should be the last resort).
        char_weight: weight of the share of the question's Chinese characters (of its
            words) that the sentence holds: a paraphrase shares characters more often
            than words (dev split: answer accuracy 0.801 -> 0.816).
        lead_penalty: taken off a passage's short first sentence (at most `lead_chars`,
            in a passage of three or more): "近5年来，株洲公安力推改革，佳绩频传。" sums up
            what the next sentences say, and those are what a question asks for (dev split:
            answer accuracy 0.786 -> 0.796).

    Returns:
        Each sentence (extended by the next one when it is too short to stand alone) as a
        `SentenceChoice`, by score, best first; the first carries the `type_gap`.
    """
    choices: list[SentenceChoice] = []
    best_any = best_typed = None
    qchars = {c for c in "".join(terms) if "\u4e00" <= c <= "\u9fff"}
    for cand in candidates:
        idx, pscore, sentences, sims = cand.index, cand.score, cand.sentences, cand.similarities
        text = fold_script(cand.text)  # compared in simplified characters, as the question's words are
        for j, s in enumerate(sentences):
            sim = float(sims[j]) if j < len(sims) else 0.0
            folded = text[s.start : s.start + len(s.text)]
            score = sim + coverage_weight * coverage(terms, folded) + passage_weight * pscore
            if qchars:  # characters carry a paraphrase that words miss (毒品大案 / 贩毒案)
                score += char_weight * sum(c in folded for c in qchars) / len(qchars)
            if j == 0 and len(sentences) >= 3 and len(s.text) <= lead_chars:
                score -= lead_penalty  # a short opening line announces the topic, the next ones answer
            end = quote_end(sentences, j, j)
            ok = expect is None or expect.satisfied_by(text[s.start : end])
            best_any = score if best_any is None else max(best_any, score)
            if ok:
                best_typed = score if best_typed is None else max(best_typed, score)
            if not ok:
                score -= type_penalty
            if years and any(y not in text[s.start : end] for y in years):
                score -= year_penalty
            choices.append(SentenceChoice(idx, s, end, score, sim, ok))
    choices.sort(key=lambda c: -c.score)  # stable: among equal scores the earlier sentence wins, as before
    if choices and expect is not None:
        best = choices[0]
        gap = 0.5 if best_typed is None else min(0.5, max(0.0, best_any - best_typed))
        choices[0] = SentenceChoice(best.passage_index, best.sentence, best.end, best.score, best.similarity, best.type_ok, gap)
    return choices
