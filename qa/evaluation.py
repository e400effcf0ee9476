"""Evaluation: a question set run through one or more retrievers, with metrics and a report folder."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from qa import calibration
from qa.library import Library
from qa.metrics import char_f1, exact_match  # noqa: F401  (re-exported: the span metrics)
from qa.settings import RetrievalConfig

log = logging.getLogger(__name__)

RETRIEVERS = ("bm25", "dense", "hybrid", "bigram", "reader")
# "reader" is the product's default path: hybrid retrieval, then the trained reader. The
# other answering retrievers run without it (the retrieval-only path), so one run compares both.
# Retrievers that only rank passages: no answer sentence, no not-found decision.
RANKING_ONLY = ("bigram",)
UNANSWERABLE = "unanswerable"


class QuestionFileError(ValueError):
    """The question file is malformed; the message names the line and the problem."""


@dataclass(frozen=True)
class Question:
    """One evaluation question. An empty `answers` (and no `gold_ids`) means unanswerable."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    gold_ids: tuple[int, ...] = ()
    type: str = ""
    split: str = ""
    tags: tuple[str, ...] = ()
    file: str = ""  # for collections: the file the answer is in (its name or path)

    @property
    def answerable(self) -> bool:
        return bool(self.answers or self.gold_ids)


def load_questions(source: str | Path | Iterable[dict], *, split: str | None = None) -> list[Question]:
    """Read questions from a JSON-lines file (or dicts), optionally keeping one split.

    Each line: ``{"id", "question", "answers": [...], "gold_ids": [...], "type", "split", "tags"}``;
    only ``question`` is required.

    Raises:
        QuestionFileError: a line is not JSON or lacks a usable question.
        FileNotFoundError: the file does not exist.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise QuestionFileError(f"{path.name} line {n}: not valid JSON ({exc.msg})") from None
    else:
        rows = list(enumerate(source, start=1))
    out = []
    for n, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise QuestionFileError(f"line {n}: needs a non-empty 'question' string")
        answers = row.get("answers") or []
        if not isinstance(answers, list) or not all(isinstance(a, str) and a for a in answers):
            raise QuestionFileError(f"line {n}: 'answers' must be a list of non-empty strings")
        tags = row.get("tags") or []
        if isinstance(tags, str):  # one label
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise QuestionFileError(f"line {n}: 'tags' must be a list of non-empty strings")
        q = Question(
            id=str(row.get("id", f"q{n}")),
            question=row["question"],
            answers=tuple(answers),
            gold_ids=tuple(int(i) for i in row.get("gold_ids") or []),
            type=str(row.get("type") or ("answerable" if answers else UNANSWERABLE)),
            split=str(row.get("split") or ""),
            tags=tuple(dict.fromkeys(t.strip() for t in tags)),
            file=str(row.get("file") or ""),
        )
        if split in (None, "", "all") or q.split == split:
            out.append(q)
    return out


def public_split(dataset: str, title: str) -> str:
    """The fixed split of a public reading-comprehension article: "train", "dev" or "test".

    By article, so no article is on two sides: the first 32 bits of
    ``sha256(dataset + "\n" + title)`` as a fraction; below 0.6 train, below 0.8 dev,
    else test (``seeds/public/README.md``; computed by `qa.squad.article_split`).
    """
    from qa.squad import article_split

    return article_split(dataset, title)


# -- metrics -------------------------------------------------------------------


def ranking_metrics(ranked_ids: Sequence[int], gold: set[int]) -> dict[str, float]:
    """hit@1/3/5, MRR@10 and nDCG@10 (binary relevance) of one ranked list."""
    rel = [1.0 if i in gold else 0.0 for i in ranked_ids[:10]]
    first = next((r for r, v in enumerate(rel, start=1) if v), None)
    dcg = sum(v / math.log2(r + 1) for r, v in enumerate(rel, start=1))
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(gold), 10) + 1))
    return {
        "hit@1": float(first is not None and first <= 1),
        "hit@3": float(first is not None and first <= 3),
        "hit@5": float(first is not None and first <= 5),
        "mrr@10": 1.0 / first if first else 0.0,
        "ndcg@10": dcg / ideal if ideal else 0.0,
    }


def resolve_files(index: Library, source: str | Path | Iterable[dict]) -> list[dict]:
    """Question rows with ``"file"`` resolved to gold passage ids of that file.

    A row may name the file that answers it (``"file": "report.pdf"``, a citation name
    or a file name). Its answers are then looked for in that file only, and the ids of
    the passages holding them become its ``gold_ids``. Rows without ``"file"`` pass as
    they are.

    Raises:
        QuestionFileError: a row names a file not in the library, or none of its
            answers occurs in that file.
    """
    if isinstance(source, (str, Path)):
        rows = []
        for n, line in enumerate(Path(source).read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise QuestionFileError(f"{Path(source).name} line {n}: not valid JSON ({exc.msg})") from None
    else:
        rows = list(source)
    by_name: dict[str, str] = {}
    for d in index.documents:
        by_name[d.name] = d.name
        by_name.setdefault(Path(d.name).name, d.name)
    sources = {u.source for u in index.units}
    out = []
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not row.get("file"):
            out.append(row)
            continue
        name = by_name.get(str(row["file"]))
        if name is None:
            raise QuestionFileError(
                f"line {n}: 'file' {row['file']!r} is not in the library "
                f"({', '.join(d.name for d in index.documents)})"
            )
        source_name = name if name in sources else ""  # a library of one file cites no file name
        answers = row.get("answers") or []
        gold = [u.id for u in index.units if u.source == source_name and any(a in u.text for a in answers)]
        if answers and not gold and not row.get("gold_ids"):
            raise QuestionFileError(f"line {n}: none of its answers occurs in {name}")
        out.append({**row, "gold_ids": sorted(set(row.get("gold_ids") or []) | set(gold))})
    return out


def gold_passages(question: Question, index: Library) -> set[int]:
    """Ids of passages that hold one of the question's answers (or its listed gold ids)."""
    gold = set(question.gold_ids)
    units = [u for u in index.units if _same_file(u.source, question.file)]
    for u in units:
        if any(a in u.text for a in question.answers):
            gold.add(u.id)
    if not gold and question.answers:  # the answer is a heading: the passages under it count
        for u in units:
            if any(a in u.section for a in question.answers):
                gold.add(u.id)
    return gold


def _same_file(source: str, wanted: str) -> bool:
    if not wanted:
        return True
    return source == wanted or Path(source).name == Path(wanted).name or source.endswith("/" + wanted)


# -- running -------------------------------------------------------------------


@dataclass
class Record:
    """What one retriever did with one question."""

    id: str
    question: str
    type: str
    answerable: bool
    gold: list[int]
    answers: list[str]
    ranked: list[int]
    found: bool | None  # None for a ranking-only baseline, which never answers or declines
    text: str
    confidence: float
    evidence: float
    seconds: float
    signals: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    short: str = ""  # the reader's exact answer ("" without the reader)


@dataclass
class EvalReport:
    """Metrics per retriever (overall, per question type and per tag), the misses and the raw records."""

    document: str
    questions: int
    split: str
    retrievers: list[str]
    summary: dict[str, dict[str, float]]
    by_type: dict[str, dict[str, dict[str, float]]]
    records: dict[str, list[Record]]
    threshold_curve: dict[str, list[dict[str, float]]]
    by_tag: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # only tags the questions use
    dropped: dict[str, int] = field(default_factory=dict)  # SQuAD sets: questions left out, by reason
    # Answering retrievers: how often answers of each confidence are right (`qa.calibration.reliability`).
    reliability: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "document": self.document,
            "questions": self.questions,
            "split": self.split,
            "retrievers": self.retrievers,
            "summary": self.summary,
            "by_type": self.by_type,
            "by_tag": self.by_tag,
            "threshold_curve": self.threshold_curve,
            "dropped": self.dropped,
            "reliability": self.reliability,
            "records": {r: [asdict(x) for x in recs] for r, recs in self.records.items()},
        }

    def misses(self, retriever: str) -> list[Record]:
        """Answerable questions whose top passage or answer sentence was wrong, and wrong not-found calls."""
        out = []
        for r in self.records[retriever]:
            if r.answerable and (not r.metrics.get("hit@1") or not r.metrics.get("answer_acc")):
                out.append(r)
            elif not r.answerable and r.found:
                out.append(r)
        return out


def _rank_one(index: Library, q: Question, ranker, k: int) -> Record:
    """A ranking-only baseline's record: its top `k` passages, nothing answered or declined."""
    gold = sorted(gold_passages(q, index))
    t = time.perf_counter()
    ranked = [index.units[i].id for i in ranker.rank(q.question, k)]
    seconds = time.perf_counter() - t
    rec = Record(
        id=q.id, question=q.question, type=q.type, answerable=q.answerable, gold=gold, answers=list(q.answers),
        ranked=ranked, found=None, text="", confidence=float("nan"), evidence=float("nan"), seconds=seconds,
        tags=list(q.tags),
    )
    if q.answerable:
        rec.metrics = ranking_metrics(ranked, set(gold))
        rec.metrics.update(answer_acc=float("nan"), f1=float("nan"), short_em=float("nan"), short_f1=float("nan"))
    return rec


def _bigram_ranker(index: Library):
    from qa.squad import BigramBM25

    return BigramBM25.build([f"{u.section}\n{u.text}" if u.section else u.text for u in index.units])


def _evaluate_one(index: Library, q: Question, config: RetrievalConfig, k: int) -> Record:
    gold = sorted(gold_passages(q, index))
    t = time.perf_counter()
    answer = index.ask(q.question, k, config=config)
    seconds = time.perf_counter() - t
    ranked = [p.id for p in answer.passages]
    rec = Record(
        id=q.id, question=q.question, type=q.type, answerable=q.answerable, gold=gold,
        answers=list(q.answers), ranked=ranked, found=answer.found, text=answer.text,
        confidence=answer.confidence, evidence=answer.evidence, seconds=seconds,
        signals=dict(answer.signals), tags=list(q.tags),
    )
    rec.short = answer.short if answer.found else ""  # unanswerable too: what a wrong answer would have shown
    if q.answerable:
        rec.metrics = ranking_metrics(ranked, set(gold))
        rec.metrics["answer_acc"] = float(answer.found and any(a in answer.text for a in q.answers))
        best_text = answer.text if answer.found else ""
        rec.metrics["f1"] = max((char_f1(best_text, a) for a in q.answers), default=0.0) if q.answers else 0.0
        # The short answer: the reader's span, or (without the reader) the sentence itself.
        short = (answer.short or answer.text) if answer.found else ""
        rec.metrics["short_em"] = max((exact_match(short, a) for a in q.answers), default=0.0)
        rec.metrics["short_f1"] = max((char_f1(short, a) for a in q.answers), default=0.0)
    return rec


def _summarise(records: list[Record]) -> dict[str, float]:
    ans = [r for r in records if r.answerable]
    una = [r for r in records if not r.answerable]
    out: dict[str, float] = {"n": len(records), "answerable": len(ans), "unanswerable": len(una)}
    if not records:
        return out
    for key in ("hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "answer_acc", "f1", "short_em", "short_f1"):
        out[key] = float(np.mean([r.metrics.get(key, float("nan")) for r in ans])) if ans else float("nan")
    if records[0].found is None:
        out.update(answer_acc=float("nan"), f1=float("nan"), short_em=float("nan"), short_f1=float("nan"))
    if any(r.found is None for r in records):  # a ranking-only baseline declines nothing
        out.update(notfound_precision=float("nan"), notfound_recall=float("nan"), wrongly_rejected=float("nan"))
    else:
        rejected = [r for r in records if not r.found]
        out["notfound_precision"] = (
            sum(1 for r in rejected if not r.answerable) / len(rejected) if rejected else float("nan")
        )
        out["notfound_recall"] = sum(1 for r in una if not r.found) / len(una) if una else float("nan")
        out["wrongly_rejected"] = sum(1 for r in ans if not r.found) / len(ans) if ans else float("nan")
    secs = [r.seconds * 1000 for r in records]
    out["p50_ms"] = float(np.percentile(secs, 50)) if secs else float("nan")
    out["p95_ms"] = float(np.percentile(secs, 95)) if secs else float("nan")
    return out


def _threshold_curve(records: list[Record]) -> list[dict[str, float]]:
    """Not-found precision/recall if the evidence threshold were each observed value."""
    una = [r for r in records if not r.answerable]
    ans = [r for r in records if r.answerable]
    points = []
    if any(r.found is None for r in records):
        return points
    for t in sorted({round(r.evidence, 4) for r in records}):
        rejected = [r for r in records if r.evidence < t]
        tp = sum(1 for r in rejected if not r.answerable)
        points.append(
            {
                "threshold": t,
                "precision": tp / len(rejected) if rejected else 1.0,
                "recall": tp / len(una) if una else 0.0,
                "wrongly_rejected": sum(1 for r in rejected if r.answerable) / len(ans) if ans else 0.0,
            }
        )
    return points


def is_squad_file(path: str | Path) -> bool:
    """Whether a question file is SQuAD-format JSON (a ``.json`` file) rather than JSON lines."""
    return isinstance(path, (str, Path)) and Path(path).suffix.lower() == ".json"


def squad_dataset_name(path: str | Path) -> str:
    """A SQuAD file's dataset name for its split and sample: the folder it lies in
    (``seeds/public/drcd/DRCD_dev.json`` -> ``drcd``), lower-cased."""
    return Path(path).resolve().parent.name.lower() or Path(path).stem.lower()


def lay_out_squad(
    path: str | Path,
    *,
    home: Path,
    split: str | None = None,
    articles: int | None = None,
    make_unanswerable: bool = False,
    dataset: str | None = None,
    max_passage_chars: int = 1200,
    removal_round: int = 0,
):
    """A SQuAD file's articles (one split, a sample) as a folder of documents under ``home/datasets``.

    Returns:
        The `qa.squad.Layout`: the folder, the question rows, what was left out.

    Raises:
        qa.squad.SquadError: the file is not SQuAD-format JSON (a one-line message).
        ValueError: the split or sample leaves no article.
    """
    import hashlib

    from qa import squad

    path = Path(path)
    dataset = dataset or squad_dataset_name(path)
    chosen = squad.select_articles(squad.load_squad(path), dataset=dataset, split=split, articles_n=articles)
    if not chosen:
        raise ValueError(f"{path.name}: no article in split {split!r}")
    options = json.dumps([dataset, split or "all", articles, make_unanswerable, max_passage_chars]
                         + ([removal_round] if make_unanswerable and removal_round else []))
    digest = hashlib.sha256((path.resolve().as_posix() + "\n" + options).encode("utf-8")).hexdigest()[:12]
    folder = home / "datasets" / f"{path.stem}-{digest}"
    return squad.lay_out(
        chosen, folder, dataset=dataset, split=split or "", make_unanswerable=make_unanswerable,
        max_passage_chars=max_passage_chars, removal_round=removal_round,
    )


def evaluate(
    questions: str | Path | Sequence[Question] | Iterable[dict],
    *,
    index: Library | None = None,
    retrievers: Sequence[str] = RETRIEVERS,
    split: str | None = None,
    config: RetrievalConfig | None = None,
    k: int = 10,
    articles: int | None = None,
    make_unanswerable: bool = False,
    dataset: str | None = None,
    settings=None,
    removal_round: int = 0,
    encoder=None,
    progress=None,
) -> EvalReport:
    """Run a question set through each retriever and measure it.

    Args:
        questions: a JSON-lines file, `Question`s / dicts, or a SQuAD-format ``.json``
            file (CMRC 2018, DRCD, SQuAD 1.1/2.0). A SQuAD file's articles are laid out
            as a folder of documents, one file an article (`lay_out_squad`), indexed
            once, and every question is asked of the whole folder; a hit is a passage
            of the question's own file holding a reference answer.
        index: the document index (the bundled document when omitted; for a SQuAD file,
            its folder).
        retrievers: any of ``"bm25"``, ``"dense"``, ``"hybrid"`` (these three without the
            reader), ``"reader"`` (hybrid, then the trained reader: the product's default)
            and ``"bigram"`` (the model-free character-bigram BM25 baseline, ranking only).
        split: keep only this split (``"dev"``, ``"test"``); all when omitted. For a
            SQuAD file, the articles of that split (`public_split`).
        config: retrieval settings (the index's when omitted); `retrievers` override its mode.
        k: passages retrieved per question (metrics look at the top 10).
        articles: SQuAD only: a stable sample of this many articles.
        make_unanswerable: SQuAD only: in a stable half of the articles, remove the
            sentence that answers one question, which is then asked as unanswerable.
        removal_round: with `make_unanswerable`, another draw of those articles and
            questions (0, the usual one; 1, 2, … give other unanswerable questions).
        dataset: SQuAD only: the set's name for the split and sample (default: the
            file's folder name, ``cmrc2018`` / ``drcd`` for the bundled sets).
        settings: `qa.Settings` for the index a SQuAD file's folder gets.
        encoder: the encoder for that index (the settings' when omitted).
        progress: ``progress(stage, done, total)`` while that index is built.

    Returns:
        An `EvalReport`.

    Raises:
        ValueError: an unknown retriever, no questions, or SQuAD options on a
            JSON-lines set.
    """
    for r in retrievers:
        if r not in RETRIEVERS:
            raise ValueError(f"retriever must be one of {', '.join(RETRIEVERS)}, got {r!r}")
    dropped: dict[str, int] = {}
    source, shown_split = "", split
    if is_squad_file(questions):
        from qa.settings import Settings

        settings = settings or (index.settings if index is not None else Settings())
        layout = lay_out_squad(
            questions, home=settings.home, split=split, articles=articles, make_unanswerable=make_unanswerable,
            dataset=dataset, max_passage_chars=settings.max_passage_chars, removal_round=removal_round,
        )
        dropped, source = dict(layout.dropped), str(layout.folder)
        if index is None:
            from qa.api import load_set

            index = load_set(layout.folder, encoder=encoder, settings=settings, progress=progress)
        questions, split = resolve_files(index, layout.questions), None
    elif articles is not None or make_unanswerable or dataset is not None or removal_round:
        raise ValueError("articles, make_unanswerable, removal_round and dataset apply to a SQuAD-format .json file only")
    if isinstance(questions, (str, Path)):
        qs = load_questions(questions, split=split)
    else:
        items = list(questions)
        qs = items if items and isinstance(items[0], Question) else load_questions(items, split=split)
        if split not in (None, "", "all"):
            qs = [q for q in qs if q.split == split]
    if not qs:
        raise ValueError("questions: none to evaluate (check the file and --split)")
    if index is None:
        from qa.api import load_set

        index = load_set(encoder=encoder, settings=settings, progress=progress)
    base = config or index.settings.retrieval
    records: dict[str, list[Record]] = {}
    summary, by_type, by_tag, curves, reliable = {}, {}, {}, {}, {}
    for name in retrievers:
        if name in RANKING_ONLY:
            ranker = _bigram_ranker(index)
            recs = [_rank_one(index, q, ranker, k) for q in qs]
        else:
            cfg = replace(base, mode="hybrid", reader=True) if name == "reader" else replace(base, mode=name, reader=False)
            recs = [_evaluate_one(index, q, cfg, k) for q in qs]
        records[name] = recs
        summary[name] = _summarise(recs)
        types = sorted({r.type for r in recs})
        by_type[name] = {t: _summarise([r for r in recs if r.type == t]) for t in types}
        tags = sorted({t for r in recs for t in r.tags})
        by_tag[name] = {t: _summarise([r for r in recs if t in r.tags]) for t in tags}
        curves[name] = _threshold_curve(recs)
        if name not in RANKING_ONLY:
            reliable[name] = calibration.reliability(recs)
    return EvalReport(
        document=source or index.document.path, questions=len(qs), split=shown_split or "all", retrievers=list(retrievers),
        summary=summary, by_type=by_type, records=records, threshold_curve=curves, by_tag=by_tag, dropped=dropped,
        reliability=reliable,
    )


# -- the report folder ---------------------------------------------------------

_TABLE_KEYS = (
    ("hit@1", "hit@1"), ("hit@3", "hit@3"), ("hit@5", "hit@5"), ("mrr@10", "MRR@10"), ("ndcg@10", "nDCG@10"),
    ("answer_acc", "answer acc"), ("f1", "char F1"), ("short_em", "short EM"), ("short_f1", "short F1"),
    ("notfound_precision", "NF prec"),
    ("notfound_recall", "NF recall"), ("wrongly_rejected", "wrongly rejected"), ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
)


def _fmt(value: float, key: str) -> str:
    if value != value:  # NaN: the metric does not apply to these questions
        return "–"
    return f"{value:.0f}" if key.endswith("_ms") or key == "n" else f"{value:.3f}"


def format_table(report: EvalReport) -> str:
    """The summary as a plain-text table, one column per retriever."""
    names = report.retrievers
    width = max(len(label) for _, label in _TABLE_KEYS) + 2
    lines = [" " * width + "".join(f"{n:>10}" for n in names)]
    for key, label in (("n", "questions"),) + _TABLE_KEYS:
        lines.append(f"{label:<{width}}" + "".join(f"{_fmt(report.summary[n][key], key):>10}" for n in names))
    return "\n".join(lines)


def format_tags(report: EvalReport) -> str:
    """Per tag (dataset, script, ...): questions and each retriever's hit@1 / hit@5, as plain text ("" without tags)."""
    names = report.retrievers
    tags = sorted({t for n in names for t in report.by_tag.get(n, {})})
    if not tags:
        return ""
    width = max(len(t) for t in tags) + 2
    lines = [" " * width + f"{'n':>6}" + "".join(f"{n:>14}" for n in names)]
    for t in tags:
        first = report.by_tag[names[0]].get(t, {})
        cells = []
        for n in names:
            m = report.by_tag[n].get(t, {})
            cells.append(f"{_fmt(m.get('hit@1', float('nan')), 'hit@1')}/{_fmt(m.get('hit@5', float('nan')), 'hit@5')}")
        lines.append(f"{t:<{width}}{first.get('n', 0):>6.0f}" + "".join(f"{c:>14}" for c in cells))
    return "\n".join(lines)


_LABEL_NAMES = {"high": "高 high", "medium": "中 medium", "low": "低 low", calibration.NOT_FOUND: "not in the document"}


def default_retriever(report: EvalReport) -> str | None:
    """The answering retriever a report is judged by: "reader" (the product's path), else "hybrid", else the last answering one."""
    answering = [r for r in report.retrievers if r in report.reliability]
    return next((r for r in ("reader", "hybrid") if r in answering), answering[-1] if answering else None)


def format_reliability(report: EvalReport, retriever: str | None = None) -> str:
    """The reliability table of one answering retriever (default: `default_retriever`) as plain text ("" without one)."""
    name = retriever or default_retriever(report)
    rel = report.reliability.get(name) if name else None
    if not rel:
        return ""
    lines = [f"confidence ({name}): {rel['answers']} answers, expected calibration error {_fmt(rel['ece'], 'ece')}", ""]
    lines.append(f"  {'confidence':<12}{'answers':>8}{'mean conf':>11}{'accuracy':>10}")
    for b in rel["bins"]:
        lines.append(f"  {b['lo']:.1f}–{b['hi']:.1f}     {b['n']:>8}{_fmt(b['confidence'], 'c'):>11}{_fmt(b['accuracy'], 'a'):>10}")
    lines += ["", f"  {'label':<22}{'n':>6}{'accuracy':>10}"]
    for label, m in rel["labels"].items():
        note = "  (share rightly declined)" if label == calibration.NOT_FOUND else ""
        lines.append(f"  {_LABEL_NAMES.get(label, label):<22}{m['n']:>6}{_fmt(m['accuracy'], 'a'):>10}{note}")
    return "\n".join(lines)


def _reliability_markdown(report: EvalReport) -> list[str]:
    names = [n for n in report.retrievers if n in report.reliability]
    if not names:
        return []
    rel = report.reliability
    out = ["", "## Confidence", "",
           "Answers given, by their confidence (the estimated probability that the answer is right) and by label; "
           "accuracy = the share right (a reference answer inside the answer; any answer to an unanswerable question "
           "is wrong). ECE: expected calibration error.", ""]
    out += ["| confidence | " + " | ".join(f"answers ({n}) | mean conf ({n}) | accuracy ({n})" for n in names) + " |"]
    out += ["|---|" + "---|" * (3 * len(names))]
    for i, b in enumerate(rel[names[0]]["bins"]):
        cells = []
        for n in names:
            row = rel[n]["bins"][i]
            cells += [str(row["n"]), _fmt(row["confidence"], "c"), _fmt(row["accuracy"], "a")]
        out.append(f"| {b['lo']:.1f}–{b['hi']:.1f} | " + " | ".join(cells) + " |")
    cells = []
    for n in names:
        full = [b for b in rel[n]["bins"] if b["n"]]
        total = sum(b["n"] for b in full)
        mean = lambda key: sum(b["n"] * b[key] for b in full) / total if total else float("nan")  # noqa: E731
        cells += [str(total), _fmt(mean("confidence"), "c"), _fmt(mean("accuracy"), "a")]
    out.append("| all | " + " | ".join(cells) + " |")
    out += ["", "Expected calibration error: " + ", ".join(f"{n} **{_fmt(rel[n]['ece'], 'ece')}**" for n in names) + "."]
    out += ["", "| label | " + " | ".join(f"n ({n}) | accuracy ({n})" for n in names) + " |", "|---|" + "---|" * (2 * len(names))]
    for label in rel[names[0]]["labels"]:
        cells = [c for n in names for c in (str(rel[n]["labels"][label]["n"]), _fmt(rel[n]["labels"][label]["accuracy"], "a"))]
        out.append(f"| {_LABEL_NAMES.get(label, label)} | " + " | ".join(cells) + " |")
    out += ["", "For “not in the document”, accuracy is the share of the declined questions that the document indeed "
            "does not answer.", "", "![reliability](reliability.png)"]
    return out


def format_markdown(report: EvalReport) -> str:
    """report.md: the tables, the per-type breakdown and the misses."""
    names = report.retrievers
    out = [f"# Evaluation: {Path(report.document).name}", "", f"{report.questions} questions, split `{report.split}`.", ""]
    out += ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, label in (("n", "questions"),) + _TABLE_KEYS:
        out.append(f"| {label} | " + " | ".join(_fmt(report.summary[n][key], key) for n in names) + " |")
    if report.dropped:
        out += ["", "Questions left out when the set was laid out as a folder:", ""]
        out += [f"- {why}: {n}" for why, n in sorted(report.dropped.items())]
    out += ["", "## By question type", ""] + _breakdown(report.by_type, names, "type")
    if any(report.by_tag.get(n) for n in names):
        out += ["", "## By tag", "", "A question counts under each of its tags.", ""] + _breakdown(report.by_tag, names, "tag")
    out += _reliability_markdown(report)
    out += ["", "![hit@1 by question type](chart.png)", "", "![not-found threshold](threshold.png)", ""]
    for n in names:
        misses = report.misses(n)
        out += [f"## Misses: {n} ({len(misses)})", "", "| id | type | question | gold | top passages | found | answer |"]
        out += ["|---|---|---|---|---|---|---|"]
        for r in misses:
            gold = ", ".join(r.answers) if r.answers else "(not in the document)"
            ans = (r.text[:60] + "…") if len(r.text) > 60 else r.text
            out.append(
                f"| {r.id} | {r.type} | {_md(r.question)} | {_md(gold)} | {r.gold} → {r.ranked[:3]} | {r.found} | {_md(ans)} |"
            )
        out.append("")
    return "\n".join(out)


def _breakdown(groups: dict[str, dict[str, dict[str, float]]], names: list[str], label: str) -> list[str]:
    """Markdown rows: per group (question type or tag), the main metrics of each retriever."""
    keys = ("hit@1", "hit@5", "answer_acc", "wrongly_rejected", "notfound_recall")
    out = ["| " + label + " | n | " + " | ".join(f"{k} ({n})" for n in names for k in keys) + " |"]
    out += ["|---|---|" + "---|" * (len(keys) * len(names))]
    for g in sorted({g for n in names for g in groups.get(n, {})}):
        n0 = groups[names[0]].get(g, {}).get("n", 0)
        cells = [_fmt(groups[n].get(g, {}).get(k, float("nan")), k) for n in names for k in keys]
        out.append(f"| {_md(g)} | {n0:.0f} | " + " | ".join(cells) + " |")
    return out


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(report: EvalReport, folder: str | Path) -> Path:
    """Write report.json, report.md, chart.png, threshold.png and reliability.png into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "report.md").write_text(format_markdown(report), encoding="utf-8")
    _charts(report, folder)
    return folder


def _charts(report: EvalReport, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report.retrievers
    types = sorted({t for n in names for t, m in report.by_type[n].items() if m.get("answerable")})
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(types) + 2), 4))
    width = 0.8 / max(1, len(names))
    for j, n in enumerate(names):
        vals = [report.by_type[n].get(t, {}).get("hit@1", 0.0) for t in types]
        ax.bar([i + j * width for i in range(len(types))], vals, width, label=n)
    ax.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(types))], types, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("hit@1")
    ax.set_title("hit@1 by question type")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "chart.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for n in names:
        pts = report.threshold_curve[n]
        if pts:
            ax.plot([p["recall"] for p in pts], [p["precision"] for p in pts], marker=".", label=n)
    for n in names:  # mark the operating point actually used
        s = report.summary[n]
        if s["notfound_recall"] == s["notfound_recall"] and s["notfound_precision"] == s["notfound_precision"]:
            ax.scatter([s["notfound_recall"]], [s["notfound_precision"]], s=60, marker="x", color="black")
    ax.set_xlabel("not-found recall (unanswerable rejected)")
    ax.set_ylabel("not-found precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("not-found precision/recall over thresholds\n(x = the threshold in use)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "threshold.png", dpi=110)
    plt.close(fig)
    _reliability_chart(report, folder, plt)


def _reliability_chart(report: EvalReport, folder: Path, plt) -> None:
    """reliability.png: per answering retriever, accuracy against mean confidence in each bin, and the answers per label."""
    names = [n for n in report.retrievers if n in report.reliability]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    main = default_retriever(report)
    for n in names:
        pts = [b for b in report.reliability[n]["bins"] if b["n"]]
        ax.plot([b["confidence"] for b in pts], [b["accuracy"] for b in pts], marker="o",
                label=f"{n} (ECE {_fmt(report.reliability[n]['ece'], 'ece')})", linewidth=2 if n == main else 1)
        if n == main:
            for b in pts:
                ax.annotate(str(b["n"]), (b["confidence"], b["accuracy"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence in the bin")
    ax.set_ylabel("share of answers right")
    ax.set_title("reliability (numbers: answers in each bin, " + (main or "") + ")")
    ax.legend(fontsize=8, loc="upper left")
    labels = list(calibration.LABELS)
    width = 0.8 / max(1, len(names))
    for j, n in enumerate(names):
        vals = [report.reliability[n]["labels"][lab]["accuracy"] for lab in labels]
        bars = bx.bar([i + j * width for i in range(len(labels))], [v if v == v else 0.0 for v in vals], width, label=n)
        for bar, lab in zip(bars, labels):
            bx.annotate(str(report.reliability[n]["labels"][lab]["n"]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
    bx.axhline(0.9, linestyle=":", color="grey", linewidth=1)
    bx.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(labels))], labels)
    bx.set_ylim(0, 1.1)
    bx.set_ylabel("share right")
    bx.set_title("accuracy by label (numbers: answers)")
    if names:
        bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "reliability.png", dpi=110)
    plt.close(fig)


def confidence_samples(report: dict, *, name: str = "") -> list[calibration.Sample]:
    """The answers a saved report (``report.json``) gave on the product's paths, to fit the confidence map on.

    The "reader" retriever's answers (the reader's path, when its signal is there) and
    the "hybrid" ones (the path without the reader); the dataset is the questions'
    ``dataset:`` tag, else `name`, else the document's name.

    Raises:
        ValueError: the report is not of a dev split (test splits are never fitted on),
            or holds neither retriever.
    """
    where = name or report.get("document", "report")
    if report.get("split") != "dev":
        raise ValueError(f"{where}: the confidence map is fitted on dev splits only; this report is of split {report.get('split')!r}")
    runs = [r for r in ("reader", "hybrid") if r in report.get("records", {})]
    if not runs:
        raise ValueError(f"{where}: holds neither the reader nor the hybrid retriever's records (run docqa eval --retriever reader,hybrid)")
    records = [rec for r in runs for rec in report["records"][r]]
    tag = next((t for rec in records for t in rec.get("tags", []) if t.startswith("dataset:")), "")
    group = tag.split(":", 1)[1] if tag else (name or Path(report.get("document", "")).name)
    return [
        calibration.Sample(
            path=calibration.path_of(rec["signals"]), group=group, evidence=float(rec["evidence"]),
            right=calibration.is_right(rec), quoted=bool(rec["signals"].get("heading") or rec["signals"].get("photo")),
            name=name or group,
        )
        for rec in records if rec.get("found")
    ]


def check_gates(report: EvalReport, gates: dict[str, float], *, retriever: str | None = None) -> list[str]:
    """Which `--min-…` / `--max-…` gates the report fails, as readable lines (empty when all pass)."""
    name = retriever or ("hybrid" if "hybrid" in report.retrievers else report.retrievers[-1])
    s = report.summary[name]
    failures = []
    for gate, bound in gates.items():
        kind, metric = gate.split("_", 1)
        value = s.get(metric, float("nan"))
        ok = value >= bound if kind == "min" else value <= bound
        if not ok or value != value:
            failures.append(f"{name} {metric} = {value:.3f}, gate {kind} {bound}")
    return failures
