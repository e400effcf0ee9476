"""Evaluation: metrics against hand-computed values, on a tiny fake index, and the report folder."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from qa import RetrievalConfig, Settings, load_index
from qa.evaluation import (
    QuestionFileError,
    Record,
    char_f1,
    check_gates,
    evaluate,
    format_table,
    load_questions,
    ranking_metrics,
    write_report,
)
from qa.notfound import fit_not_found
from tests.fakes import HashEncoder

ROOT = Path(__file__).resolve().parent.parent

DOC = """苹果报告

苹果园今年收获苹果三百吨。

香蕉报告

香蕉仓库存放香蕉五十箱。

樱桃报告

樱桃大棚种了樱桃八十棵。
"""

# Always accept / always reject, whatever the signals say.
ACCEPT = RetrievalConfig(not_found_threshold=-100.0, reader=False)
REJECT = RetrievalConfig(not_found_threshold=100.0, reader=False)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "fruit.txt"
    path.write_text(DOC, encoding="utf-8")
    return load_index(path, encoder=HashEncoder(), settings=Settings(home=tmp_path / "home"))


QUESTIONS = [
    {"id": "a", "question": "苹果园收获苹果多少吨", "answers": ["三百吨"], "type": "factoid"},
    {"id": "b", "question": "香蕉仓库存放香蕉几箱", "answers": ["五十箱"], "type": "factoid"},
    {"id": "c", "question": "樱桃大棚种了多少棵樱桃", "answers": ["八十棵"], "type": "factoid"},
    {"id": "u", "question": "西瓜田有多大", "answers": [], "type": "unanswerable"},
]


def test_ranking_metrics_match_hand_computation():
    m = ranking_metrics([3, 1, 2], {1})
    assert m["hit@1"] == 0.0 and m["hit@3"] == 1.0 and m["hit@5"] == 1.0
    assert m["mrr@10"] == pytest.approx(0.5)
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(3))
    # Two gold passages at ranks 1 and 3: DCG = 1 + 1/log2(4); ideal = 1 + 1/log2(3).
    m = ranking_metrics([5, 9, 7], {5, 7})
    assert m["ndcg@10"] == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))
    assert ranking_metrics([4, 5], {9}) == {"hit@1": 0.0, "hit@3": 0.0, "hit@5": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0}


def test_char_f1_is_cmrc_longest_common_substring():
    # LCS "公安局" = 3 chars; precision 3/6, recall 3/3 -> F1 = 2/3.
    assert char_f1("株洲市公安局", "公安局") == pytest.approx(2 / 3)
    # 11 characters once "。" is dropped; LCS "45561人" = 6: F1 = 2(6/11)(1) / (6/11 + 1) = 12/17.
    assert char_f1("共核查人员45561人。", "45561人") == pytest.approx(12 / 17)
    assert char_f1("完全无关", "公安局") == 0.0
    assert char_f1("", "公安局") == 0.0
    # Punctuation and spaces are ignored on both sides.
    assert char_f1("“公安 局”", "公安局") == pytest.approx(1.0)


def test_evaluate_on_tiny_fake_index_all_accepted(tiny):
    report = evaluate(QUESTIONS, index=tiny, retrievers=["hybrid"], config=ACCEPT)
    s = report.summary["hybrid"]
    assert s["n"] == 4 and s["answerable"] == 3 and s["unanswerable"] == 1
    assert s["hit@1"] == 1.0 and s["mrr@10"] == 1.0
    assert s["answer_acc"] == 1.0  # each answer sentence holds its gold string
    # Nothing rejected: not-found recall 0 and no answerable question wrongly rejected.
    assert s["notfound_recall"] == 0.0
    assert s["wrongly_rejected"] == 0.0
    assert math.isnan(s["notfound_precision"])  # no rejections: precision undefined
    by_type = report.by_type["hybrid"]
    assert by_type["factoid"]["n"] == 3 and by_type["unanswerable"]["n"] == 1


def test_evaluate_on_tiny_fake_index_all_rejected(tiny):
    report = evaluate(QUESTIONS, index=tiny, retrievers=["hybrid"], config=REJECT)
    s = report.summary["hybrid"]
    assert s["notfound_recall"] == 1.0
    assert s["notfound_precision"] == pytest.approx(1 / 4)  # 1 of the 4 rejected is unanswerable
    assert s["wrongly_rejected"] == 1.0
    assert s["answer_acc"] == 0.0  # a rejected question has no answer text
    assert s["hit@1"] == 1.0  # ranking is measured whether or not the answer is shown


def test_retrievers_side_by_side_and_bm25_alone(tiny):
    report = evaluate(QUESTIONS, index=tiny, retrievers=["bm25", "dense", "hybrid"], config=ACCEPT)
    assert report.retrievers == ["bm25", "dense", "hybrid"]
    for name in report.retrievers:
        assert report.summary[name]["hit@1"] == 1.0
    # An English question cannot match Chinese keywords: BM25 alone ranks by reading order.
    english = [{"id": "e", "question": "zzz qqq", "answers": ["八十棵"], "type": "english"}]
    r = evaluate(english, index=tiny, retrievers=["bm25"], config=ACCEPT)
    assert r.records["bm25"][0].ranked[0] == 1


def test_report_folder_and_table(tiny, tmp_path):
    report = evaluate(QUESTIONS, index=tiny, retrievers=["bm25", "hybrid"], config=ACCEPT)
    folder = write_report(report, tmp_path / "rep")
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert data["summary"]["hybrid"]["hit@1"] == 1.0
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "| hit@1 |" in md and "## Misses: hybrid" in md
    assert "西瓜田有多大" in md  # the unanswerable question wrongly answered is listed as a miss
    for png in ("chart.png", "threshold.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = format_table(report)
    assert "hit@1" in table and "bm25" in table and "hybrid" in table


def test_gates(tiny):
    report = evaluate(QUESTIONS, index=tiny, retrievers=["hybrid"], config=REJECT)
    assert check_gates(report, {"min_hit@1": 0.9}) == []
    failures = check_gates(report, {"max_wrongly_rejected": 0.05, "min_answer_acc": 0.5})
    assert len(failures) == 2 and any("wrongly_rejected" in f for f in failures)


def test_question_file_errors(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "ok", "answers": ["x"]}\nnot json\n', encoding="utf-8")
    with pytest.raises(QuestionFileError, match="line 2"):
        load_questions(bad)
    bad.write_text('{"answers": ["x"]}\n', encoding="utf-8")
    with pytest.raises(QuestionFileError, match="question"):
        load_questions(bad)
    with pytest.raises(ValueError, match="retriever"):
        evaluate(QUESTIONS, index=None, retrievers=["magic"])


def test_split_filter(tmp_path):
    f = tmp_path / "q.jsonl"
    rows = [{"question": "a", "answers": ["x"], "split": "dev"}, {"question": "b", "answers": [], "split": "test"}]
    f.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert [q.question for q in load_questions(f, split="dev")] == ["a"]
    assert len(load_questions(f)) == 2
    assert not load_questions(f, split="test")[0].answerable


def _record(answerable: bool, signal: float, hit: bool = True) -> Record:
    return Record(
        id="x", question="q", type="t", answerable=answerable, gold=[1] if answerable else [], answers=[],
        ranked=[1], found=True, text="", confidence=0.5, evidence=0.0, seconds=0.0,
        signals={"dense_z": signal}, metrics={"hit@1": float(hit)} if answerable else {},
    )


def test_fit_not_found_learns_the_separating_signal_and_respects_the_rejection_budget():
    records = [_record(True, 2.0 + i * 0.1) for i in range(20)] + [_record(False, -1.0 - i * 0.1) for i in range(10)]
    weights = fit_not_found(records, max_wrongly_rejected=0.0)
    assert weights["dense_z"] > 0
    z = [weights["bias"] + weights["dense_z"] * r.signals["dense_z"] for r in records]
    assert all(v >= 0 for v, r in zip(z, records) if r.answerable)  # none wrongly rejected
    assert all(v < 0 for v, r in zip(z, records) if not r.answerable)
    with pytest.raises(ValueError):
        fit_not_found([_record(True, 1.0)])


def _signals_record(answerable: bool, **signals) -> Record:
    rec = _record(answerable, 0.0)
    rec.signals = signals
    return rec


def _declined(weights, records):
    return [weights["bias"] + sum(weights.get(k, 0.0) * v for k, v in r.signals.items()) < 0 for r in records]


def test_the_rejection_budget_holds_in_every_group():
    """Two datasets on different scales: the bar is set so that neither loses more than its budget."""
    a = [_signals_record(True, dense_z=5.0 + i * 0.1) for i in range(50)] + [_signals_record(False, dense_z=3.0 + i * 0.1) for i in range(10)]
    b = [_signals_record(True, dense_z=1.0 + i * 0.1) for i in range(50)] + [_signals_record(False, dense_z=-1.0 + i * 0.1) for i in range(10)]
    records, groups = a + b, ["a"] * 60 + ["b"] * 60
    pooled = fit_not_found(records, max_wrongly_rejected=0.02)
    per_group = fit_not_found(records, max_wrongly_rejected=0.02, groups=groups)
    for weights, limit in ((per_group, 0.02),):
        for name in ("a", "b"):
            declined = [d for d, r, g in zip(_declined(weights, records), records, groups) if g == name and r.answerable]
            assert sum(declined) / len(declined) <= limit
    # Pooled, the budget is spent on one group: group b loses more than 2% of its answerable questions.
    declined_b = [d for d, r, g in zip(_declined(pooled, records), records, groups) if g == "b" and r.answerable]
    assert sum(declined_b) / len(declined_b) > 0.02


def test_refining_declines_more_unanswerable_questions_at_the_same_budget():
    """A logistic fit weighs every question; refining moves the weights to where the bar is."""
    import random

    rnd = random.Random(1)
    records = []
    for _ in range(200):  # answerable: high similarity; coverage is noise
        records.append(_signals_record(True, sent_sim_zh=rnd.uniform(0.6, 1.0), coverage=rnd.uniform(0.0, 1.0)))
    for _ in range(40):  # unanswerable: half betrayed by a missing name, half by low similarity
        if rnd.random() < 0.5:
            records.append(_signals_record(False, missing=1.0, sent_sim_zh=rnd.uniform(0.6, 1.0), coverage=rnd.uniform(0.0, 1.0)))
        else:
            records.append(_signals_record(False, sent_sim_zh=rnd.uniform(0.3, 0.7), coverage=rnd.uniform(0.0, 1.0)))
    plain = fit_not_found(records, max_wrongly_rejected=0.02)
    refined = fit_not_found(records, max_wrongly_rejected=0.02, refine=True)
    assert refined == fit_not_found(records, max_wrongly_rejected=0.02, refine=True)  # seeded: the same every run
    for weights in (plain, refined):
        answerable = [d for d, r in zip(_declined(weights, records), records) if r.answerable]
        assert sum(answerable) <= 0.02 * len(answerable)
    caught = lambda w: sum(d for d, r in zip(_declined(w, records), records) if not r.answerable)  # noqa: E731
    assert caught(refined) > caught(plain)  # 31 of 40 against 30 (hand-checked once; the data is seeded)


def test_bundled_question_set_is_valid():
    """Every answer string occurs verbatim in the document; types and splits are as documented."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "seeds" / "check_questions.py")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    qs = load_questions(ROOT / "seeds" / "questions.jsonl")
    assert len(qs) >= 150
    assert sum(1 for q in qs if not q.answerable) >= 30
    assert {q.split for q in qs} == {"dev", "test"}
    assert {"factoid", "paraphrase", "repaired", "caption", "list", "english", "unanswerable"} <= {q.type for q in qs}


def test_tags_break_the_report_down_by_each_label(tiny, tmp_path):
    tagged = [
        dict(QUESTIONS[0], tags=["fruit", "red"]),
        dict(QUESTIONS[1], tags="fruit"),  # one label may be a plain string
        dict(QUESTIONS[2], tags=["red"]),
        dict(QUESTIONS[3], tags=["fruit"]),
    ]
    accepted = evaluate(tagged, index=tiny, retrievers=["hybrid"], config=ACCEPT)
    fruit, red = accepted.by_tag["hybrid"]["fruit"], accepted.by_tag["hybrid"]["red"]
    assert set(accepted.by_tag["hybrid"]) == {"fruit", "red"}
    assert (fruit["n"], fruit["answerable"], fruit["unanswerable"]) == (3, 2, 1)
    assert (red["n"], red["answerable"], red["unanswerable"]) == (2, 2, 0)
    assert fruit["hit@1"] == 1.0 and fruit["notfound_recall"] == 0.0
    assert math.isnan(red["notfound_recall"])  # no unanswerable question carries the tag
    rejected = evaluate(tagged, index=tiny, retrievers=["hybrid"], config=REJECT)
    assert rejected.by_tag["hybrid"]["fruit"]["notfound_recall"] == 1.0
    assert rejected.by_tag["hybrid"]["fruit"]["wrongly_rejected"] == 1.0
    assert rejected.by_tag["hybrid"]["fruit"]["notfound_precision"] == pytest.approx(1 / 3)
    folder = write_report(accepted, tmp_path / "r")
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "## By tag" in md and "| fruit | 3 |" in md and "| red | 2 |" in md
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert data["by_tag"]["hybrid"]["red"]["n"] == 2
    assert data["records"]["hybrid"][0]["tags"] == ["fruit", "red"]
    untagged = evaluate(QUESTIONS, index=tiny, retrievers=["hybrid"], config=ACCEPT)
    assert untagged.by_tag["hybrid"] == {}
    assert "## By tag" not in (write_report(untagged, tmp_path / "u") / "report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("tags", [[1, 2], [""], {"a": 1}])
def test_bad_tags_are_a_question_file_error(tags):
    with pytest.raises(QuestionFileError, match="'tags' must be a list"):
        load_questions([{"question": "苹果园收获苹果多少吨", "answers": ["三百吨"], "tags": tags}])


def test_a_threshold_curve_point_is_what_that_threshold_gives(tiny):
    """Setting not_found_threshold to a point's threshold reproduces that point's figures."""
    questions = QUESTIONS + [
        {"id": "v", "question": "葡萄架上挂了多少串葡萄", "answers": [], "type": "unanswerable"},
        {"id": "w", "question": "苹果园的工人有几个", "answers": [], "type": "unanswerable"},
    ]
    base = evaluate(questions, index=tiny, retrievers=["hybrid"], config=RetrievalConfig())
    curve = base.threshold_curve["hybrid"]
    assert len(curve) >= 3
    for point in curve:
        moved = evaluate(
            questions, index=tiny, retrievers=["hybrid"], config=RetrievalConfig(not_found_threshold=point["threshold"])
        ).summary["hybrid"]
        assert moved["notfound_recall"] == pytest.approx(point["recall"])
        assert moved["wrongly_rejected"] == pytest.approx(point["wrongly_rejected"])
        if not math.isnan(moved["notfound_precision"]):
            assert moved["notfound_precision"] == pytest.approx(point["precision"])
