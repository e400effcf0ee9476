"""The not-found decision: its signals, how they are computed, the logistic model and its fitting.

A match's signals (how many of the question's words the document has at all, the best
passage's share of them, how similar the chosen sentence is, whether it holds the kind of
value asked for, whether a name or number the question gives is missing from the
document) go through a logistic model whose weights are fitted on the dev split
(`docqa eval --calibrate`). The signal names and the shipped weights live in
``qa/data/not_found.json``; `qa.settings` reads them from there.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Callable, Sequence

import numpy as np

from qa.intents import absent_title, asked_years
from qa.lexical import coverage, tokenize
from qa.normalize import normalize_text, strip_markup
from qa.settings import not_found_signals
from qa.words import words

# An answer quoted outright (a heading asked for, a photo named by its position) is not
# scored by the model: its wording says what it is.
QUOTED_CONFIDENCE = 0.9
QUOTED_EVIDENCE = 2.0

# Only place names: jieba's person and organisation tags fire on ordinary words too often.
_NAME_TAGS = frozenset({"ns"})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def signals() -> tuple[str, ...]:
    """The names of the signals the model weighs, in the data file's order."""
    return not_found_signals()


def specific_terms(text: str) -> list[str]:
    """Place names and numbers in a question.

    A question naming one of these that a document never mentions asks about
    something else (another city, a year the document does not cover).
    """
    import jieba.posseg

    tokenize("")  # initialises jieba once, quietly
    text = unicodedata.normalize("NFKC", text)
    # jieba tags common words as places too (海港, 城市, 山区); CC-CEDICT knows those as
    # common words, and a document that lacks one is not about another place.
    from qa.bridge import common_word

    names = [w for w, flag in jieba.posseg.cut(text) if flag in _NAME_TAGS and len(w) >= 2 and not common_word(w)]
    return names + _NUMBER.findall(text)


class DocumentTerms:
    """What the decision asks of a document: does it mention this word, this place, this title?"""

    # Past this many passages the vocabulary is the affordable check, not the whole text.
    MAX_UNITS_FOR_TEXT = 20_000
    _PLACE_SUFFIXES = frozenset(words("zh")["place_suffixes"])

    def __init__(self, units: Sequence, has_word: Callable[[str], bool]) -> None:
        self._units = units
        self._has_word = has_word
        self._text: str | None = None

    def has_word(self, term: str) -> bool:
        """Whether the keyword index holds this word."""
        return self._has_word(term)

    def text(self) -> str:
        """The whole (small) document, normalised as questions are."""
        if self._text is None:
            self._text = "\n".join(normalize_text(f"{u.section}\n{u.text}") for u in self._units)
        return self._text

    def mentions(self, term: str) -> bool:
        """Whether the document mentions `term` (a word it indexed, or any substring of a small one)."""
        term = term.lower()
        if self._has_word(term):
            return True
        if len(self._units) > self.MAX_UNITS_FOR_TEXT:
            return False
        return term in self.text()

    def names_place(self, term: str) -> bool:
        """Whether the document mentions a place name, with or without its administrative suffix.

        CC-CEDICT and jieba name places in full (荷塘区, 湖南省); a document often
        writes the bare name (荷塘分局).
        """
        if self.mentions(term):
            return True
        return len(term) >= 3 and term[-1] in self._PLACE_SUFFIXES and self.mentions(term[:-1])

    def missing_title(self, query: str) -> list[str]:
        """The title a "who is the X" question asks about, when the document never uses it."""
        if len(self._units) > self.MAX_UNITS_FOR_TEXT:
            return []
        return absent_title(query, self.text())


def match_signals(
    doc: DocumentTerms,
    *,
    query: str,
    terms: Sequence[str],
    groups: list[list[str]] | None,
    top_text: str | None,
    dense_best: float,
    dense_z: float,
    lang: float,
) -> dict[str, float]:
    """Signals of the best passage, before an answer sentence is chosen.

    Args:
        doc: the document's vocabulary and text.
        query: the normalised question.
        terms: its keywords.
        groups: for an English question on a Chinese document, the document words each
            question word stands for (through the bridge); None otherwise.
        top_text: the best passage's text, None when nothing was retrieved.
        dense_best: the best passage's (or its best sentence's) cosine.
        dense_z: how far the best passage's dense score stands above the candidates'.
        lang: how Chinese the question is, 0..1.
    """
    if top_text is None:
        return {"missing": 1.0, "dense": 0.0, "dense_z": 0.0, "coverage": 0.0, "oov": 1.0, "lang": lang, "unmentioned": 1.0}
    text = normalize_text(top_text)
    if groups is not None:  # the question's words, through the bridge
        cov = sum(any(t in text for t in g) for g in groups) / len(groups) if groups else 0.0
        oov = sum(not g for g in groups) / len(groups) if groups else 1.0
        unmentioned = oov >= 0.999
    else:
        total = sum(len(t) for t in terms) or 1
        cov = coverage(terms, text)
        oov = sum(len(t) for t in terms if not doc.has_word(t)) / total if terms else 1.0
        # The keyword index holds the words its segmenter cut: "四防" is inside "四巡四防" but no
        # word of it. A word of two characters or more anywhere in the text is mentioned.
        unmentioned = oov >= 0.999 and not any(len(t) >= 2 and doc.mentions(t) for t in terms)
    missing = [t for t in specific_terms(query) if not doc.names_place(t)] + doc.missing_title(query)
    if groups is not None:
        missing += absent_names(query, doc.names_place)
    return {
        "missing": float(bool(missing)),
        "dense": float(dense_best),
        "dense_z": float(dense_z),
        "coverage": cov,
        "oov": oov,
        "lang": lang,
        "unmentioned": float(unmentioned),  # for `off_topic` only: the model does not weigh it
    }


def sentence_signals(
    base: dict[str, float], *, query: str, terms: Sequence[str], sentence: str | None, similarity: float, type_gap: float
) -> dict[str, float]:
    """The match's signals with those of the chosen answer sentence (None when there is none)."""
    out = dict(base, type_gap=0.5, sent_sim_zh=0.0, sent_sim_other=0.0, sent_cov=0.0)
    if sentence is None:
        return out
    lang = base["lang"]
    out["type_gap"] = type_gap
    out["sent_sim_zh"] = similarity * lang
    out["sent_sim_other"] = similarity * (1.0 - lang)
    out["sent_cov"] = coverage(terms, normalize_text(sentence)) * lang  # bridged questions: see "coverage"
    if any(year not in sentence for year in asked_years(query)):
        # "2015年的破案率": a sentence about other years does not answer for this one.
        out["missing"] = 1.0
    return out


def evidence(signals: dict[str, float], config) -> float:
    """Log-odds that the best match answers the question; below 0 means "not in the document".

    A logistic model over the match's signals, its weights ``config.not_found_weights``
    (with the reader's margin, signal ``"reader"``) or ``config.fast_not_found_weights``
    (without it) fitted on the dev split, shifted by ``config.not_found_threshold``. Chinese questions
    and questions in other languages may have models of their own (``{"zh": …, "other": …}``):
    their similarities live on different scales.
    """
    w = config.not_found_weights if "reader" in signals else getattr(config, "fast_not_found_weights", config.not_found_weights)
    if "zh" in w or "other" in w:
        w = w.get("zh" if signals.get("lang", 0.0) >= 0.5 else "other", {})
    z = w.get("bias", 0.0) + sum(w.get(name, 0.0) * value for name, value in signals.items())
    if off_topic(signals, config):
        z = min(z, -1.0)
    return float(z - config.not_found_threshold)


def off_topic(signals: dict[str, float], config) -> bool:
    """Whether the question is about nothing the document mentions.

    Not one word of the question occurs in the document (for an English question on a
    Chinese one: not one reaches it through the dictionary), and no passage stands out for
    the dense model either ("今天天气怎么样？", "How do I bake bread?", "asdf qwer").
    The chat says "not a question the document can answer" rather than "not found".
    """
    unmentioned = signals.get("unmentioned", float(signals.get("oov", 0.0) >= 0.999))
    return unmentioned >= 0.5 and signals.get("dense_z", 0.0) < config.off_topic_z


def no_question(text: str) -> bool:
    """Whether `text` holds no question at all: only markup, links, punctuation or symbols.

    ``<img src=x onerror=alert(1)>``, ``？？？``, ``:-)`` and ``http://x.y`` hold none;
    anything with a word or a number left once markup is removed does.
    """
    rest = strip_markup(text)
    return not any(ch.isalnum() for ch in rest)


def confidence(z: float) -> float:
    """The model's probability for log-odds `z`."""
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


# Capitalised words that are dates, not names: CC-CEDICT glosses them with Chinese
# numerals (三月) that a document writes in digits (3月).
_CALENDAR = frozenset(words("en")["months"]) | frozenset(words("en")["weekdays"])


def absent_names(question: str, in_document) -> list[str]:
    """Capitalised names in an English question that CC-CEDICT knows and the document never mentions.

    Month and weekday names are skipped: they are dates, and a date the document does
    not give is for the answer step to find out.

    Args:
        question: the question.
        in_document: ``in_document(word) -> bool``, whether the document mentions a word.
    """
    from qa.bridge import english_names

    names = english_names()
    found = []
    for m in re.finditer(r"(?<![.?!]\s)(?<!^)\b([A-Z][a-z]+(?: [A-Z][a-z]+)?)", question):
        key = m.group(1).lower()
        if key.split()[0] in _CALENDAR:
            continue
        heads = names.get(key) or names.get(key.split()[0])
        if heads and not any(in_document(h) for h in heads):
            found.append(m.group(1))
    return found


# -- fitting ---------------------------------------------------------------------


def fit_not_found(
    records: Sequence,
    *,
    l2: float = 1.0,
    steps: int = 4000,
    max_wrongly_rejected: float = 0.02,
    per_language: bool = False,
    groups: Sequence[str] | None = None,
    refine: bool = False,
) -> dict:
    """The not-found model (see `fit_logistic`); with `per_language`, one for Chinese questions and one for others.

    With `refine`, the logistic weights are then moved towards what the product is
    judged on (`refine_for_recall`): the most unanswerable questions declined while no
    group sees more than `max_wrongly_rejected` of its answerable ones declined.

    A language without both answerable and unanswerable examples gets the model
    fitted on all records.

    Returns:
        Weights for `RetrievalConfig.not_found_weights` (``{"zh": …, "other": …}`` per language).
    """
    labels = list(groups) if groups is not None else [""] * len(records)

    def fit(recs: Sequence, labs: list[str]) -> dict[str, float]:
        weights = fit_logistic(recs, l2=l2, steps=steps, max_wrongly_rejected=max_wrongly_rejected, groups=labs)
        if refine:
            weights = refine_for_recall(recs, weights, groups=labs, max_wrongly_rejected=max_wrongly_rejected)
        return weights

    overall = fit(records, labels)
    if not per_language:
        return overall
    out = {}
    for name, keep in (("zh", lambda r: r.signals.get("lang", 0.0) >= 0.5), ("other", lambda r: r.signals.get("lang", 0.0) < 0.5)):
        chosen = [i for i, r in enumerate(records) if keep(r)]
        try:
            out[name] = fit([records[i] for i in chosen], [labels[i] for i in chosen])
        except ValueError:
            out[name] = overall
    return out


def fit_logistic(
    records: Sequence,
    *,
    l2: float = 1.0,
    steps: int = 4000,
    max_wrongly_rejected: float = 0.02,
    groups: Sequence[str] | None = None,
) -> dict[str, float]:
    """Fit the not-found logistic model on evaluated records (use the dev split only).

    Records are `qa.evaluation.Record`s (``answerable``, ``signals``, ``metrics``).
    Answerable questions whose top passage was right are the positives; unanswerable
    questions the negatives (answerable misses are left out: they are retrieval errors,
    not evidence about what an answer looks like). Classes are weighted equally. The
    bias is then moved so that at most `max_wrongly_rejected` of the answerable
    questions are rejected: a wrong "not in the document" costs a user more than a
    weak answer shown with a low confidence label. With `groups` (a dataset name per
    record), the budget holds in every group, and each group weighs the same in the fit
    whatever its size: a model for many kinds of documents, not for the largest set.

    Returns:
        Weights by signal name plus ``"bias"``, for `RetrievalConfig.not_found_weights`.
    """
    names = signals()
    labels = list(groups) if groups is not None else [""] * len(records)
    if len(labels) != len(records):
        raise ValueError("groups: one label per record")
    keep = [i for i, r in enumerate(records) if (r.answerable and r.metrics.get("hit@1")) or not r.answerable]
    rows = [records[i] for i in keep]
    if not rows or all(r.answerable for r in rows) or not any(r.answerable for r in rows):
        raise ValueError("records: need both answerable and unanswerable questions to calibrate")
    x = np.array([[r.signals.get(s, 0.0) for s in names] for r in rows], dtype=np.float64)
    y = np.array([1.0 if r.answerable else 0.0 for r in rows])
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    xs = (x - mu) / sd
    sw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    row_groups = [labels[i] for i in keep]
    sizes = {g: row_groups.count(g) for g in set(row_groups)}
    sw = sw * np.array([len(rows) / (len(sizes) * sizes[g]) for g in row_groups])  # each group weighs the same
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):  # plain gradient descent: a handful of features, ~100 rows
        p = 1.0 / (1.0 + np.exp(-(xs @ w + b)))
        g = sw * (p - y)
        w -= 0.1 * (xs.T @ g / len(y) + l2 * w / len(y))
        b -= 0.1 * g.mean()
    weights = {s: float(w[i] / sd[i]) for i, s in enumerate(names)}
    weights["bias"] = float(b - sum(w[i] * mu[i] / sd[i] for i in range(len(names))))
    cuts = []
    for g in sorted(set(labels)):
        answerable = [r for r, lab in zip(records, labels) if r.answerable and lab == g]
        z = np.array([weights["bias"] + sum(weights[s] * r.signals.get(s, 0.0) for s in names) for r in answerable])
        if len(z):
            allowed = int(math.floor(max_wrongly_rejected * len(z)))
            cuts.append(np.sort(z)[allowed] if allowed < len(z) else z.max())
    if cuts:
        # Put the bar just under the answerable question at the budget (the lowest such
        # bar over the groups): as many unanswerable questions rejected as the budget of
        # wrong rejections allows. The margin keeps that question answered when the
        # weights are rounded for printing.
        weights["bias"] -= float(min(cuts)) - 1e-3
    return weights


def _bar(z: np.ndarray, answerable: np.ndarray, labels: np.ndarray, budget: float) -> float:
    """The highest decision bar that declines at most `budget` of each group's answerable questions."""
    cuts = []
    for g in np.unique(labels):
        za = np.sort(z[answerable & (labels == g)])
        if len(za):
            cuts.append(za[min(int(math.floor(budget * len(za))), len(za) - 1)])
    return float(min(cuts)) - 1e-3 if cuts else 0.0


def refine_for_recall(
    records: Sequence,
    weights: dict[str, float],
    *,
    groups: Sequence[str] | None = None,
    max_wrongly_rejected: float = 0.02,
    steps: int = 3000,
    seed: int = 0,
) -> dict[str, float]:
    """Weights that decline more unanswerable questions at the same budget of wrong declines.

    A seeded random local search from `weights` (a logistic fit): it keeps a change when
    the mean over groups of the unanswerable questions declined does not fall, with the
    bar set, each time, so that no group's answerable questions are declined beyond the
    budget. The logistic loss weighs every question; the product is judged on the few
    near the bar, and on every kind of document at once (union of the dev sets: the
    bundled document's "other city" questions and the public sets' removed answers need
    different signals). Deterministic for a given `seed`.
    """
    names = signals()
    labels = np.array(list(groups) if groups is not None else [""] * len(records))
    x = np.array([[r.signals.get(s, 0.0) for s in names] for r in records], dtype=np.float64)
    answerable = np.array([bool(r.answerable) for r in records])
    if answerable.all() or not answerable.any():
        raise ValueError("records: need both answerable and unanswerable questions to calibrate")

    def recall(w: np.ndarray) -> float:
        z = x @ w
        bar = _bar(z, answerable, labels, max_wrongly_rejected)
        return float(np.mean([np.mean(z[~answerable & (labels == g)] < bar) for g in np.unique(labels[~answerable])]))

    rng = np.random.default_rng(seed)
    best = np.array([weights.get(s, 0.0) for s in names])
    scale = np.abs(best) + 0.5
    score = recall(best)
    for _ in range(steps):
        cand = best + rng.normal(0.0, 0.1, len(best)) * scale * (rng.random(len(best)) < 0.3)
        value = recall(cand)
        if value >= score:
            best, score = cand, value
    out = {s: float(v) for s, v in zip(names, best)}
    out["bias"] = -_bar(x @ best, answerable, labels, max_wrongly_rejected)
    return out
