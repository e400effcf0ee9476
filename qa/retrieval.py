"""Hybrid retrieval: BM25 over jieba words fused with dense FAISS search, then the answer sentence."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from embeddings import Encoder
from qa import calibration, notfound
from qa.answer import Answer, Passage, SentenceCandidates, quote_end, rank_sentences
from qa.fusion import fuse
from qa.intents import asked_years, asks_for_heading, asks_for_list, expected_answer, photo_position, widen_to_list
from qa.lexical import tokenize
from qa.normalize import cjk_ratio, normalize_query, normalize_text
from qa.reader import Span, shared_reader
from qa.reader_data import window_around
from qa.search_index import SearchIndex
from qa.settings import MAX_K, MAX_QUESTION_CHARS, RetrievalConfig

STAGES = ("normalise", "encode", "lexical", "dense", "fusion", "reader", "answer")
READER_CLIP = 15.0  # the reader's margin, clipped to +-this and scaled to -1..1, is the not-found signal "reader"


def check_question(question: object) -> str:
    """Validate a question; return it stripped.

    Raises:
        ValueError: not a string, empty, or longer than the limit.
    """
    if not isinstance(question, str):
        raise ValueError(f"question must be a string, got {type(question).__name__}")
    stripped = question.strip()
    if not stripped:
        raise ValueError("question is empty")
    if len(stripped) > MAX_QUESTION_CHARS:
        raise ValueError(f"question is too long: {len(stripped)} characters, the limit is {MAX_QUESTION_CHARS}")
    return stripped


def check_k(k: object) -> int:
    """Validate the number of passages to return.

    Raises:
        ValueError: not an integer, or outside 1..MAX_K.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {type(k).__name__}")
    if not 1 <= int(k) <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    return int(k)


@dataclass(frozen=True)
class SearchResult:
    """Ranked passages plus what the answer step and the benchmark need."""

    query: str
    terms: list[str]
    passages: list[Passage]
    indices: list[int]  # positions of `passages` in the index's unit list
    fused: np.ndarray  # fused scores of `passages`, 0..1
    sentence_sims: dict[int, np.ndarray]  # unit index -> cosine of each of its sentences
    signals: dict[str, float]  # features of the best match, for the not-found decision
    timings: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Scores passages of a `SearchIndex` for a question and picks the answer sentence."""

    def __init__(self, index: SearchIndex, encoder: Encoder) -> None:
        self.index = index
        self.units = index.units
        self.encoder = encoder
        self.terms = notfound.DocumentTerms(index.units, index.lexical.has)
        self._bridge_obj = None
        self._doc_lang: float | None = None

    def _document_lang(self) -> float:
        if self._doc_lang is None:
            sample = "".join(u.text for u in self.units[:2000])[:200_000]
            self._doc_lang = cjk_ratio(sample)
        return self._doc_lang

    def _bridge(self):
        if self._bridge_obj is None:
            from qa.bridge import Bridge

            self._bridge_obj = Bridge(self.index.lexical.vocabulary())
        return self._bridge_obj

    def reader_windows(
        self, result: SearchResult, ranked: list, config: RetrievalConfig
    ) -> tuple[list[tuple[int, int, str]], list[tuple[int, int]]]:
        """The windows the reader reads: around the best-ranked sentences, one per stretch of text.

        Returns:
            Each window as (passage index, offset in that passage, text), and in each the
            ranked sentence it is centred on (start, end).
        """
        windows: list[tuple[int, int, str]] = []  # (passage index, offset, text)
        focus: list[tuple[int, int]] = []  # the ranked sentence each window is centred on
        for c in ranked:
            if len(windows) >= config.reader_windows:
                break
            j = c.passage_index
            if any(w[0] == j and w[1] <= c.sentence.start < w[1] + len(w[2]) for w in windows):
                continue  # already inside a window read
            unit = result.indices[j]
            sents = self.index.sentences[unit]
            i = next((k for k, s in enumerate(sents) if s.start == c.sentence.start), 0)
            w = window_around(sents, j, i)
            windows.append((j, w.start, self.units[unit].text[w.start : w.end]))
            focus.append((c.sentence.start - w.start, c.end - w.start))
        return windows, focus

    def _read(self, question: str, result: SearchResult, ranked: list, config: RetrievalConfig) -> ReaderRead | None:
        """Read the windows around the best-ranked sentences (the chosen one first), one window per stretch of text."""
        if not config.reader or not ranked:
            return None
        reader = shared_reader()
        if reader is None:
            return None
        t = time.perf_counter()
        windows, focus = self.reader_windows(result, ranked, config)
        spans = reader.read(question, [w[2] for w in windows], focus=focus)
        pick, span = pick_span(spans, config)
        result.timings["reader"] = time.perf_counter() - t
        j, offset, _ = windows[pick]
        return ReaderRead(j, offset, span, tuple(windows), tuple(spans), tuple(focus), max(s.margin for s in spans))

    def _check_source(self, source: str | None) -> str | None:
        """`source` itself, once a passage is known to come from a file of that name (None: every file).

        Raises:
            ValueError: no passage comes from a file of that name.
        """
        if source is not None and not any(u.source == source for u in self.units):
            raise ValueError(f"no document named {source!r}")
        return source

    def _photo_by_position(self, query: str) -> int | None:
        """The caption a question points at by position ("第二张照片", "the last photo"), if any."""
        pos = photo_position(query)
        if pos is None:
            return None
        captions = [i for i, u in enumerate(self.units) if u.kind == "caption"]
        if pos == -1:
            pos = len(captions) - 1
        return captions[pos] if 0 <= pos < len(captions) else None

    def search(self, question: str, k: int, config: RetrievalConfig, *, source: str | None = None) -> SearchResult:
        question = check_question(question)
        k = check_k(k)
        ix = self.index
        # One file of a collection: only its passages are candidates (the keyword statistics stay the collection's).
        source = self._check_source(source)
        timings: dict[str, float] = {}
        t = time.perf_counter()
        query = normalize_query(question)
        terms = tokenize(query)
        timings["normalise"] = time.perf_counter() - t

        t = time.perf_counter()
        qvec = self.encoder.encode_queries([query])[0]
        timings["encode"] = time.perf_counter() - t

        t = time.perf_counter()
        n = len(self.units)
        lang = cjk_ratio(query)
        groups = None  # per question word, the document words it stands for (bridged questions)
        doc_lang = self._document_lang()
        same = 1.0 - abs(lang - doc_lang)  # 1 when question and document share a script
        if same >= 0.5 or doc_lang < 0.5 or config.bridge_weight <= 0:
            lex_terms, wl = terms, config.lexical_weight * same
        else:  # a non-Chinese question on a Chinese document: keywords come through the bridge
            lex_terms, wl = self._bridge().translate(query), config.bridge_weight
            groups = self._bridge().groups(query)
        keyword = ix.keyword(lex_terms, max(config.candidates, k), source=source)
        timings["lexical"] = time.perf_counter() - t

        t = time.perf_counter()
        n_cand = min(n, max(config.candidates, k))
        hits = ix.dense_top(qvec, n_cand, source=source)
        timings["dense"] = time.perf_counter() - t

        t = time.perf_counter()
        cand = list(dict.fromkeys([int(i) for i in hits.ids] + keyword.top(n_cand)))
        photo = self._photo_by_position(query) if config.mode == "hybrid" else None
        if photo is not None and source is not None and self.units[photo].source != source:
            photo = None
        if photo is not None and photo not in cand:
            cand.append(photo)
        if config.mode == "bm25":
            cand.sort()  # ties among keyword scores fall back to reading order, not to the dense side
        dense_p = dict(zip((int(i) for i in hits.ids), (float(s) for s in hits.scores)))
        missing = [i for i in cand if i not in dense_p]
        if missing:  # keyword-only candidates still need their dense score
            for i, s in zip(missing, ix.passage_vectors(missing) @ qvec):
                dense_p[i] = float(s)
        sims = ix.sentence_sims(cand, qvec)
        dp = np.array([dense_p.get(i, 0.0) for i in cand], dtype=np.float32)
        ds = np.array([float(sims[i].max()) if len(sims[i]) else dp[j] for j, i in enumerate(cand)], dtype=np.float32)
        dense_c = (dp + config.sentence_weight * ds) / (1.0 + config.sentence_weight)
        lx = keyword.of(cand)
        fused = fuse(dense_c, lx, wl, config)
        if photo is not None:  # "第一张配图": that caption, whatever the words say
            fused = np.minimum(fused, 0.999)
            fused[cand.index(photo)] = 1.0
        order = np.argsort(-fused, kind="stable")[:k]
        top = [cand[j] for j in order]
        passages = [
            Passage(
                id=self.units[i].id,
                text=self.units[i].text,
                score=float(fused[j]),
                section=self.units[i].section,
                kind=self.units[i].kind,
                dense=float(dp[j]),
                lexical=float(lx[j]),
                source=self.units[i].source,
                page=self.units[i].page,
                paragraph=self.units[i].paragraph or self.units[i].id,
            )
            for i, j in zip(top, order)
        ]
        if top:
            best = int(order[0])
            spread = float(dense_c.std()) or 1.0
            signals = notfound.match_signals(
                self.terms, query=query, terms=terms, groups=groups, top_text=self.units[top[0]].text,
                dense_best=max(dp[best], ds[best]), dense_z=(dense_c[best] - dense_c.mean()) / spread, lang=lang,
            )
        else:
            signals = notfound.match_signals(
                self.terms, query=query, terms=terms, groups=groups, top_text=None, dense_best=0.0, dense_z=0.0, lang=lang
            )
        if photo is not None and top and top[0] == photo:
            signals["photo"] = 1.0
        timings["fusion"] = time.perf_counter() - t
        return SearchResult(query, terms, passages, top, fused[order], sims, signals, timings)

    def ask(self, question: str, k: int, config: RetrievalConfig, *, source: str | None = None) -> Answer:
        if notfound.no_question(check_question(question)) and check_k(k):
            # Markup, punctuation or symbols only: nothing to look up, nothing to quote.
            self._check_source(source)  # an unknown file is still an error
            return Answer(question=question.strip(), found=False, text="", passages=[], confidence=0.0,
                          evidence=-1.0, off_topic=True)
        result = self.search(question, k, config, source=source)
        t = time.perf_counter()
        top = result.fused[0] if len(result.fused) else 1.0
        cands = [
            SentenceCandidates(
                index=j,
                score=float(result.fused[j] / top) if top > 0 else 0.0,
                sentences=self.index.sentences[i],
                similarities=result.sentence_sims.get(i, np.zeros(0)),
                text=self.units[i].text,
            )
            for j, i in enumerate(result.indices[: config.answer_passages])
        ]
        ranked = rank_sentences(cands, result.terms, expect=expected_answer(result.query), years=asked_years(result.query))
        choice = ranked[0] if ranked else None
        text, pid, start, end, matched = "", None, -1, -1, []
        similarity = choice.similarity if choice is not None else 0.0
        read = self._read(question, result, ranked, config)
        short, short_start, short_end = "", -1, -1
        if read is not None and read.span.start >= 0:
            # The reader's span decides the sentence: the one (or ones) that hold it.
            passage = result.passages[read.passage_index]
            short_start, short_end = read.offset + read.span.start, read.offset + read.span.end
            short_start, short_end = short_bounds(result.query, passage.text, short_start, short_end)
            short = passage.text[short_start:short_end]
            sents = self.index.sentences[result.indices[read.passage_index]]
            hold = sentences_holding(sents, short_start, short_end)
            if hold:
                start, end = sents[hold[0]].start, quote_end(sents, hold[0], hold[-1])
                sims = result.sentence_sims.get(result.indices[read.passage_index], np.zeros(0))
                similarity = max((float(sims[k]) for k in hold if k < len(sims)), default=similarity)
                pid, text = passage.id, passage.text[start:end]
            else:
                short, short_start, short_end = "", -1, -1
        if not text and choice is not None:
            passage = result.passages[choice.passage_index]
            pid, start, end = passage.id, choice.sentence.start, choice.end
            text = passage.text[start:end]
        if text:
            low = normalize_text(text)
            matched = [t for t in result.terms if t in low]
        signals = notfound.sentence_signals(
            result.signals, query=result.query, terms=result.terms, sentence=text if choice is not None else None,
            similarity=similarity,
            type_gap=choice.type_gap if choice is not None else 0.5,
        )
        if read is not None:
            signals["reader"] = max(-READER_CLIP, min(READER_CLIP, read.best_margin)) / READER_CLIP
        heading = asks_for_heading(result.query) if result.passages else None
        if heading is not None:
            title = self.units[0].section if self.units else ""
            text = title if heading == "title" and title else result.passages[0].section
            # Cite a passage that stands under the quoted heading.
            best = next((p for p in result.passages if p.section == text), result.passages[0])
            if text and best.section == text:
                signals["heading"] = 1.0
                return _quoted(question, result, best, text, -1, signals, t)
        if signals.get("photo"):  # a photo named by its position: its caption is the answer
            caption = result.passages[0]
            return _quoted(question, result, caption, caption.text, 0, signals, t)
        evidence = notfound.evidence(signals, config)
        found = evidence >= 0.0 and choice is not None
        passages = result.passages
        # The passage the quote stands in leads the list when the sentence rules chose it and
        # the reader (if it read) answered there too.
        agreed = read is None or bool(short and read.passage_index == read.windows[0][0])
        lead = choice.passage_index if found and config.quote_first and agreed else 0
        if lead > 0:
            passages = [passages[lead]] + [p for j, p in enumerate(passages) if j != lead]
        result.timings["answer"] = time.perf_counter() - t - result.timings.get("reader", 0.0)
        return Answer(
            question=question.strip(),
            found=found,
            text=text if found else "",
            passages=passages,
            confidence=calibration.confidence(evidence, signals),  # P(right), from the dev sets
            passage_id=pid if found else None,
            start=start if found else -1,
            end=end if found else -1,
            matched_terms=matched,
            short=short if found else "",
            short_start=short_start if found and short else -1,
            short_end=short_end if found and short else -1,
            evidence=evidence,
            off_topic=not found and notfound.off_topic(signals, config),
            signals=signals,
            timings=dict(result.timings),
        )


def pick_span(spans: list[Span], config: RetrievalConfig) -> tuple[int, Span]:
    """Which window read answers, and its span (the windows in reading order, the chosen sentence's first).

    The chosen sentence's window keeps the answer unless another's margin beats it by
    ``config.reader_switch``: retrieval and sentence choice know the document better than one
    window's margin. Inside the window, the best span in the ranked sentence stands unless
    the window's best outscores it by ``config.reader_focus``. When no window's margin reaches
    ``config.reader_doubt`` the reader sees no answer anywhere and its pick is a guess: the
    ranked sentence stands, with the best span inside it.
    """
    best = max(range(len(spans)), key=lambda k: (spans[k].margin, -k))
    doubt = spans[best].margin < config.reader_doubt
    pick = 0 if doubt or spans[0].margin >= spans[best].margin - config.reader_switch else best
    span = spans[pick]
    if span.focus is not None and (doubt or span.focus.score >= span.score - config.reader_focus):
        span = span.focus
    return pick, span


def short_bounds(query: str, text: str, start: int, end: int) -> tuple[int, int]:
    """Where the short answer lies in its passage's `text`, given the reader's span `start:end`.

    The span itself, except for a question asking for a list ("有哪几类"): then the whole
    list the span is an item of (`qa.intents.widen_to_list`), not the item the reader liked best.
    """
    return widen_to_list(text, start, end) if asks_for_list(query) else (start, end)


def sentences_holding(sentences, start: int, end: int) -> list[int]:
    """The indices of the sentences that characters `start`..`end` of their passage overlap."""
    return [k for k, s in enumerate(sentences) if s.start < end and start < s.start + len(s.text)]


@dataclass(frozen=True)
class ReaderRead:
    """The reader's best span among the windows it read, and where its window stands."""

    passage_index: int  # among the ranked passages
    offset: int  # where the window starts in that passage's text
    span: Span
    windows: tuple[tuple[int, int, str], ...]  # every window read: (passage index, offset, text)
    spans: tuple[Span, ...]  # the best span of each
    focus: tuple[tuple[int, int], ...] = ()  # in each window, the ranked sentence it is centred on
    best_margin: float = 0.0  # the highest margin of any window: how answered the best window looks


def _quoted(question: str, result: SearchResult, passage: Passage, text: str, start: int, signals, t0: float) -> Answer:
    """An answer that quotes `text` of `passage` outright (a heading, a caption), not a sentence picked by score."""
    result.timings["answer"] = time.perf_counter() - t0 - result.timings.get("reader", 0.0)
    return Answer(
        question=question.strip(), found=True, text=text, passages=result.passages,
        confidence=calibration.quoted_confidence(), passage_id=passage.id, start=start,
        end=start + len(text) if start >= 0 else -1, matched_terms=[], evidence=notfound.QUOTED_EVIDENCE,
        signals=signals, timings=dict(result.timings),
    )
