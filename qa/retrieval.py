"""Hybrid retrieval: BM25 over jieba words fused with dense FAISS search, then the answer."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from embeddings import Encoder, VectorIndex
from qa.answer import Answer, Passage, asks_for_heading, choose_sentence, coverage, expected_answer, number_word
from qa.config import MAX_K, MAX_QUESTION_CHARS, RetrievalConfig
from qa.corpus import Sentence, Unit
from qa.lexical import LexicalIndex, specific_terms, tokenize
from qa.normalize import cjk_ratio, normalize_query

_PLACE_SUFFIXES = frozenset("省市区县镇乡村州")
# "第一张配图" / "最后一张照片" / "the second picture": a photo named by its position.
_PHOTO_AT = re.compile(
    r"(?:第([一二三四五六七八九十]|\d{1,2})|(最后一?|末))\s*[张幅]\s*(?:配图|照片|图片|相片|插图|图)"
    r"|\b(first|second|third|fourth|fifth|last)\s+(?:photo|picture|image|photograph)s?\b",
    re.I,
)
_YEAR = re.compile(r"(?<![\d.])(?:19|20)\d\d(?![\d.])")
# "X是谁" / "X叫什么": a question for the holder of a title, and the titles it can ask for.
_TITLE = (
    r"(?:副|常务|执行)?(?:局长|支队长|大队长|中队长|队长|所长|书记|主任|市长|省长|县长|区长|部长|厅长|"
    r"政委|处长|科长|院长|校长|主席|总经理|经理|董事长|总裁|教导员|秘书长)"
)
_ASKS_TITLE_HOLDER = re.compile(r"(" + _TITLE + r")(?:是谁|是哪位|叫什么|叫啥|姓什么|的名字|的姓名)|谁(?:是|担任)(" + _TITLE + r")")
STAGES = ("normalise", "encode", "lexical", "dense", "fusion", "answer")


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
    indices: list[int]  # positions of `passages` in the document's unit list
    fused: np.ndarray  # fused scores of `passages`, 0..1
    sentence_sims: dict[int, np.ndarray]  # unit index -> cosine of each of its sentences
    signals: dict[str, float]  # features of the best match, for the not-found decision
    timings: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Scores passages for a question and picks the answer sentence."""

    def __init__(
        self,
        *,
        units: Sequence[Unit],
        sentences: Sequence[Sequence[Sentence]],
        sentence_offsets: np.ndarray,
        encoder: Encoder,
        dense: VectorIndex,
        sentence_vectors: np.ndarray,
        lexical: LexicalIndex,
    ) -> None:
        self.units = units
        self.sentences = sentences
        self.offsets = sentence_offsets
        self.encoder = encoder
        self.dense = dense
        self.sentence_vectors = sentence_vectors
        self.lexical = lexical
        self._doc_text: str | None = None
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

            self._bridge_obj = Bridge(self.lexical.vocabulary())
        return self._bridge_obj

    def _in_document(self, term: str) -> bool:
        """Whether the document mentions `term` (a word it indexed, or any substring of a small one)."""
        term = term.lower()
        if self.lexical.has(term):
            return True
        if len(self.units) > 20_000:  # a large corpus: its vocabulary is the affordable check
            return False
        return term in self._text()

    def _text(self) -> str:
        """The whole (small) document, normalised as questions are."""
        if self._doc_text is None:
            self._doc_text = "\n".join(_norm_text(f"{u.section}\n{u.text}") for u in self.units)
        return self._doc_text

    def _photo_by_position(self, query: str) -> int | None:
        """The caption a question points at by position ("第二张照片", "the last photo"), if any."""
        m = _PHOTO_AT.search(query)
        if not m:
            return None
        captions = [i for i, u in enumerate(self.units) if u.kind == "caption"]
        word = next(g for g in m.groups() if g).lower()
        if word in ("最后", "最后一", "末", "last"):
            pos = len(captions) - 1
        else:
            pos = number_word(word) - 1
        return captions[pos] if 0 <= pos < len(captions) else None

    def _names_place(self, term: str) -> bool:
        """Whether the document mentions a place name, with or without its administrative suffix.

        CC-CEDICT and jieba name places in full (荷塘区, 湖南省); a document often
        writes the bare name (荷塘分局).
        """
        if self._in_document(term):
            return True
        return len(term) >= 3 and term[-1] in _PLACE_SUFFIXES and self._in_document(term[:-1])

    def _absent_title(self, query: str) -> list[str]:
        """The title a "who is the X" question asks about, when the document never uses it.

        A document that never says 副局长 names no deputy director; 市长 inside 副市长
        does not count (a deputy is not the holder).
        """
        m = _ASKS_TITLE_HOLDER.search(query)
        if not m or len(self.units) > 20_000:
            return []
        title = m.group(1) or m.group(2)
        start = m.start(1) if m.group(1) else m.start(2)
        # The unit the title belongs to, when the question names it right before the
        # title (政治部主任, 交警支队长): the document must name that holder, not another 主任.
        words = tokenize(query[:start])
        unit = words[-1] if words and query[:start].endswith(words[-1]) and len(words[-1]) >= 2 else ""
        text = self._text()
        for name in ([unit + title] if unit else []) + [title]:
            if not re.search(r"(?<![副常执])" + re.escape(name), text):
                return [name]
        return []

    def _signals(self, query, terms, groups, top, order, dp, ds, dense_c, lang) -> dict[str, float]:
        """Features of the best match that tell an answer from a near miss.

        Similarities alone overlap for answerable and unanswerable questions about the
        same topic, so the decision also looks at how many of the question's words the
        document has at all, and at the best passage's share of them.
        """
        if not top:
            return {"missing": 1.0, "dense": 0.0, "dense_z": 0.0, "coverage": 0.0, "oov": 1.0, "lang": lang}
        best = int(order[0])
        spread = float(dense_c.std()) or 1.0
        top_text = _norm_text(self.units[top[0]].text)
        if groups is not None:  # the question's words, through the bridge
            cov = sum(any(t in top_text for t in g) for g in groups) / len(groups) if groups else 0.0
            oov = sum(not g for g in groups) / len(groups) if groups else 1.0
        else:
            total = sum(len(t) for t in terms) or 1
            cov = coverage(terms, top_text)
            oov = sum(len(t) for t in terms if not self.lexical.has(t)) / total if terms else 1.0
        missing = [t for t in specific_terms(query) if not self._names_place(t)] + self._absent_title(query)
        if groups is not None:
            from qa.bridge import absent_names

            missing += absent_names(query, self._names_place)
        return {
            "missing": float(bool(missing)),
            "dense": float(max(dp[best], ds[best])),
            "dense_z": float((dense_c[best] - dense_c.mean()) / spread),
            "coverage": cov,
            "oov": oov,
            "lang": lang,
        }

    def search(self, question: str, k: int, config: RetrievalConfig) -> SearchResult:
        question = check_question(question)
        k = check_k(k)
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
        lex = self.lexical.scores(lex_terms) if lex_terms else np.zeros(n, dtype=np.float32)
        timings["lexical"] = time.perf_counter() - t

        t = time.perf_counter()
        n_cand = min(n, max(config.candidates, k))
        hits = self.dense.search(qvec, n_cand)
        timings["dense"] = time.perf_counter() - t

        t = time.perf_counter()
        cand = list(dict.fromkeys([int(i) for i in hits.ids] + [int(i) for i in _top_indices(lex, n_cand) if lex[i] > 0]))
        photo = self._photo_by_position(query) if config.mode == "hybrid" else None
        if photo is not None and photo not in cand:
            cand.append(photo)
        if config.mode == "bm25":
            cand.sort()  # ties among keyword scores fall back to reading order, not to the dense side
        dense_p = dict(zip((int(i) for i in hits.ids), (float(s) for s in hits.scores)))
        missing = [i for i in cand if i not in dense_p]
        if missing:  # keyword-only candidates still need their dense score
            for i, s in zip(missing, self.dense.reconstruct(missing) @ qvec):
                dense_p[i] = float(s)
        sims: dict[int, np.ndarray] = {}
        for i in cand:
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            sims[i] = self.sentence_vectors[lo:hi] @ qvec if hi > lo else np.zeros(0, dtype=np.float32)
        dp = np.array([dense_p.get(i, 0.0) for i in cand], dtype=np.float32)
        ds = np.array([float(sims[i].max()) if len(sims[i]) else dp[j] for j, i in enumerate(cand)], dtype=np.float32)
        dense_c = (dp + config.sentence_weight * ds) / (1.0 + config.sentence_weight)
        lx = np.array([lex[i] for i in cand], dtype=np.float32)
        fused = _fuse(dense_c, lx, wl, config)
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
            )
            for i, j in zip(top, order)
        ]
        signals = self._signals(query, terms, groups, top, order, dp, ds, dense_c, lang)
        if photo is not None and top and top[0] == photo:
            signals["photo"] = 1.0
        timings["fusion"] = time.perf_counter() - t
        return SearchResult(query, terms, passages, top, fused[order], sims, signals, timings)

    def ask(self, question: str, k: int, config: RetrievalConfig) -> Answer:
        result = self.search(question, k, config)
        t = time.perf_counter()
        expect = expected_answer(result.query)
        top = result.fused[0] if len(result.fused) else 1.0
        cands = []
        for j, i in enumerate(result.indices[: config.answer_passages]):
            pscore = float(result.fused[j] / top) if top > 0 else 0.0
            cands.append((j, pscore, self.sentences[i], result.sentence_sims.get(i, np.zeros(0)), self.units[i].text))
        choice = choose_sentence(cands, result.terms, expect=expect)
        text, pid, start, end, matched = "", None, -1, -1, []
        signals = dict(result.signals, type_gap=0.5, sent_sim_zh=0.0, sent_sim_other=0.0, sent_cov=0.0)
        if choice is not None:
            passage = result.passages[choice.passage_index]
            pid, start, end = passage.id, choice.sentence.start, choice.end
            text = passage.text[start:end]
            low = _norm_text(text)
            matched = [t for t in result.terms if t in low]
            lang = result.signals["lang"]
            signals["type_gap"] = choice.type_gap
            signals["sent_sim_zh"] = choice.similarity * lang
            signals["sent_sim_other"] = choice.similarity * (1.0 - lang)
            signals["sent_cov"] = coverage(result.terms, low) * lang  # bridged questions: see "coverage"
            if any(year not in text for year in _YEAR.findall(result.query)):
                # "2015年的破案率": a sentence about other years does not answer for this one.
                signals["missing"] = 1.0
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
        evidence = not_found_evidence(signals, config)
        confidence = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, evidence))))
        found = evidence >= 0.0 and choice is not None
        result.timings["answer"] = time.perf_counter() - t
        return Answer(
            question=question.strip(),
            found=found,
            text=text if found else "",
            passages=result.passages,
            confidence=float(confidence),
            passage_id=pid if found else None,
            start=start if found else -1,
            end=end if found else -1,
            matched_terms=matched,
            evidence=evidence,
            signals=signals,
            timings=dict(result.timings),
        )


def _quoted(question: str, result: SearchResult, passage: Passage, text: str, start: int, signals, t0: float) -> Answer:
    """An answer that quotes `text` of `passage` outright (a heading, a caption), not a sentence picked by score."""
    result.timings["answer"] = time.perf_counter() - t0
    return Answer(
        question=question.strip(), found=True, text=text, passages=result.passages, confidence=0.9,
        passage_id=passage.id, start=start, end=start + len(text) if start >= 0 else -1, matched_terms=[],
        evidence=2.0, signals=signals, timings=dict(result.timings),
    )


def not_found_evidence(signals: dict[str, float], config: RetrievalConfig) -> float:
    """Log-odds that the best match answers the question; below 0 means "not in the document".

    A logistic model over the match's signals, its weights fitted on the dev split
    (`docqa eval --calibrate`), shifted by ``config.not_found_threshold``. Chinese
    questions and questions in other languages have models of their own: their
    similarities live on different scales.
    """
    w = config.not_found_weights
    if "zh" in w or "other" in w:
        w = w.get("zh" if signals.get("lang", 0.0) >= 0.5 else "other", {})
    z = w.get("bias", 0.0) + sum(w.get(name, 0.0) * value for name, value in signals.items())
    if signals.get("oov", 0.0) >= 0.999 and signals.get("dense_z", 0.0) < config.off_topic_z:
        # Not one word of the question occurs in the document (for an English question
        # on a Chinese one: not one reaches it through the dictionary), and no passage
        # stands out for the dense model either: an off-topic question ("今天天气怎么样？",
        # "How do I bake bread?").
        z = min(z, -1.0)
    return float(z - config.not_found_threshold)


def _top_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` highest scores, best first, without sorting them all."""
    if len(scores) > n:
        idx = np.argpartition(-scores, n)[:n]
    else:
        idx = np.arange(len(scores))
    return idx[np.argsort(-scores[idx], kind="stable")]


def _norm_text(text: str) -> str:
    return normalize_query(text).lower()


def _fuse(dense: np.ndarray, lexical: np.ndarray, wl: float, config: RetrievalConfig) -> np.ndarray:
    """Combine dense and keyword scores of the same candidates into one 0..1 score.

    `wl` is the keyword side's weight for this question: in proportion to how
    Chinese it is (a question in another script only matches Chinese words by
    accident, and must not drown the multilingual dense side), or the bridge's
    weight when its keywords were translated.
    """
    if len(dense) == 0:
        return dense
    if config.mode == "dense":
        return dense.astype(np.float32)
    if config.mode == "bm25":
        mx = float(lexical.max())
        return (lexical / mx if mx > 0 else np.zeros_like(lexical)).astype(np.float32)
    if config.fusion == "rrf":
        rd = np.empty(len(dense)); rd[np.argsort(-dense, kind="stable")] = np.arange(1, len(dense) + 1)
        rl = np.empty(len(lexical)); rl[np.argsort(-lexical, kind="stable")] = np.arange(1, len(lexical) + 1)
        lex_term = np.where(lexical > 0, 1.0 / (config.rrf_k + rl), 0.0)
        score = config.dense_weight / (config.rrf_k + rd) + wl * lex_term
        return (score / score.max()).astype(np.float32) if score.max() > 0 else score.astype(np.float32)
    if config.fusion == "zscore":
        # Standardised scores: a dense lead of a hair counts as a hair, not as the full range.
        dz = (dense - dense.mean()) / (dense.std() or 1.0)
        lz = (lexical - lexical.mean()) / (lexical.std() or 1.0) if lexical.max() > 0 else np.zeros_like(lexical)
        score = config.dense_weight * dz + wl * lz
        lo, hi = float(score.min()), float(score.max())
        return ((score - lo) / (hi - lo) if hi > lo else np.ones_like(score)).astype(np.float32)
    lo, hi = float(dense.min()), float(dense.max())
    dn = (dense - lo) / (hi - lo) if hi > lo else np.ones_like(dense)
    mx = float(lexical.max())
    ln = lexical / mx if mx > 0 else np.zeros_like(lexical)
    score = (config.dense_weight * dn + wl * ln) / (config.dense_weight + wl)
    return score.astype(np.float32)
