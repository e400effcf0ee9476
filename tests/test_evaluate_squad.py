"""`qa.evaluate` and `docqa eval` on a SQuAD-format file: a folder of articles, asked as a whole, with hand-computed metrics."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from qa import RetrievalConfig, Settings
from qa.cli import main
from qa.evaluation import evaluate
from tests.fakes import HashEncoder

ACCEPT = RetrievalConfig(not_found_threshold=-100.0, reader=False)
REJECT = RetrievalConfig(not_found_threshold=100.0, reader=False)


def _qa(qid, question, answer=None, start=None, impossible=False):
    row = {"id": qid, "question": question, "answers": [] if answer is None else [{"text": answer, "answer_start": start}]}
    if impossible:
        row["is_impossible"] = True
    return row


def _tiny_squad():
    apple = "苹果园在城东。今年苹果园收获苹果三百吨，售价每斤八元。"
    banana = "香蕉仓库在码头旁边。仓库存放香蕉五十箱。"
    grape = "葡萄架下种了薄荷。葡萄酒厂每年酿酒两千瓶。"
    return {
        "version": "tiny",
        "data": [
            {"title": "苹果", "paragraphs": [{"context": apple, "qas": [
                _qa("a1", "苹果园今年收获苹果多少吨？", "三百吨", apple.index("三百吨")),
                _qa("a2", "苹果售价每斤多少元？", "八元", apple.index("八元")),
                _qa("a3", "苹果园在哪里？", "城东", apple.index("城东")),
            ]}]},
            {"title": "香蕉", "paragraphs": [{"context": banana, "qas": [
                _qa("b1", "香蕉仓库存放香蕉几箱？", "五十箱", banana.index("五十箱")),
                _qa("b2", "香蕉仓库的租金是多少？", impossible=True),
            ]}]},
            {"title": "葡萄", "paragraphs": [{"context": grape, "qas": [
                _qa("g1", "葡萄酒厂每年酿多少瓶酒？", "两千瓶", grape.index("两千瓶")),
            ]}]},
        ],
    }


def _removal_half(title: str) -> bool:
    """The documented rule for the half of the articles that lose an answer sentence."""
    return int(hashlib.sha256(f"remove\nfruit\n{title}".encode()).hexdigest()[:8], 16) % 2 == 0


@pytest.fixture
def squad_file(tmp_path):
    path = tmp_path / "fruit" / "tiny.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_tiny_squad(), ensure_ascii=False), encoding="utf-8")
    return path


def _run(path, tmp_path, config, **options):
    return evaluate(path, settings=Settings(home=tmp_path / "home"), encoder=HashEncoder(), config=config, **options)


def test_every_question_is_asked_of_the_whole_folder_and_hits_its_own_file(squad_file, tmp_path):
    report = _run(squad_file, tmp_path, ACCEPT, retrievers=["bm25", "bigram"])
    assert report.questions == 6  # five answerable, one is_impossible
    for name in ("bm25", "bigram"):
        s = report.summary[name]
        assert (s["answerable"], s["unanswerable"]) == (5, 1)
        assert s["hit@1"] == 1.0  # each question's distinctive words lead to its own article
    recs = {r.id: r for r in report.records["bm25"]}
    assert recs["b2"].type == "impossible" and not recs["b2"].answerable
    # The folder holds all three articles: the banana question's passage is not passage 1.
    assert recs["b1"].gold == [2] and recs["g1"].gold == [3]
    assert report.summary["bm25"]["answer_acc"] == 1.0
    # Accepting everything: the impossible question was answered, nothing declined.
    assert report.summary["bm25"]["notfound_recall"] == 0.0 and report.summary["bm25"]["wrongly_rejected"] == 0.0
    # The baseline only ranks: no answer, no not-found figures.
    assert math.isnan(report.summary["bigram"]["answer_acc"]) and math.isnan(report.summary["bigram"]["notfound_recall"])
    assert report.by_tag["bm25"]["dataset:fruit"]["n"] == 6 and report.by_tag["bm25"]["script:simplified"]["n"] == 6


def test_make_unanswerable_cuts_one_answer_sentence_and_drops_the_questions_it_took(squad_file, tmp_path):
    assert [_removal_half(t) for t in ("苹果", "香蕉", "葡萄")] == [True, False, False]
    report = _run(squad_file, tmp_path, REJECT, retrievers=["bm25"], make_unanswerable=True)
    recs = {r.id: r for r in report.records["bm25"]}
    # The apple article lost "今年苹果园收获苹果三百吨，售价每斤八元。": one of a1 / a2 is now
    # unanswerable, the other lost its answer with it and is left out; a3 stays answerable.
    removed = [r for r in recs.values() if r.type == "answer removed"]
    assert len(removed) == 1 and removed[0].id in ("a1", "a2")
    assert ({"a1", "a2"} - {removed[0].id}) & set(recs) == set()
    assert report.dropped == {"answer lost with the removed sentence": 1}
    assert recs["a3"].answerable and recs["b2"].type == "impossible"
    s = report.summary["bm25"]
    assert (s["n"], s["answerable"], s["unanswerable"]) == (5, 3, 2)
    # Declining everything: both unanswerable questions declined, and all three answerable ones wrongly.
    assert s["notfound_recall"] == 1.0 and s["wrongly_rejected"] == 1.0 and s["notfound_precision"] == 2 / 5
    folder = next((tmp_path / "home" / "datasets").iterdir())
    text = "".join(p.read_text(encoding="utf-8") for p in folder.glob("*.txt"))
    assert "三百吨" not in text and "八元" not in text and "苹果园在城东。" in text


def test_split_and_sample_options(squad_file, tmp_path):
    one = _run(squad_file, tmp_path, ACCEPT, retrievers=["bm25"], articles=1)
    two = _run(squad_file, tmp_path, ACCEPT, retrievers=["bm25"], articles=2)
    ids = lambda r: {x.id for x in r.records["bm25"]}  # noqa: E731
    assert len({x[0] for x in ids(one)}) == 1 and ids(one) < ids(two)  # a larger sample holds the smaller
    with pytest.raises(ValueError, match="SQuAD"):
        evaluate([{"question": "x"}], retrievers=["bm25"], articles=3)


def test_docqa_eval_reads_a_squad_file(fake, squad_file, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["eval", str(squad_file), "--retriever", "bm25,bigram", "--make-unanswerable", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "bigram" in printed and "dataset:fruit" in printed and "left out: 1 questions" in printed
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["dropped"] == {"answer lost with the removed sentence": 1}
    assert "Questions left out" in (out / "report.md").read_text(encoding="utf-8")


def test_squad_options_on_a_question_file_are_a_one_line_error(fake, tmp_path, capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "x"}\n', encoding="utf-8")
    assert main(["eval", str(questions), "--articles", "5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SQuAD" in err
    assert fake.calls == 0


def test_a_bad_squad_file_is_a_one_line_error(fake, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": 3}', encoding="utf-8")
    assert main(["eval", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.json" in err


def test_docqa_eval_removal_round_asks_other_unanswerable_questions(fake, squad_file, tmp_path, capsys):
    def removed(round_: int) -> set[str]:
        out = tmp_path / f"report-{round_}"
        args = ["eval", str(squad_file), "--retriever", "bm25", "--make-unanswerable", "--out", str(out)]
        assert main(args + (["--removal-round", str(round_)] if round_ else [])) == 0
        records = json.loads((out / "report.json").read_text(encoding="utf-8"))["records"]["bm25"]
        return {r["id"] for r in records if r["type"] == "answer removed"}

    usual = removed(0)
    assert usual and usual <= {"a1", "a2"}  # the apple article, as the documented rule says
    draws = [removed(k) for k in range(1, 6)]
    assert any(d and d != usual for d in draws)  # other articles or questions lose their sentence
    assert removed(3) == draws[2]  # a draw is stable
    capsys.readouterr()
    assert main(["eval", str(squad_file), "--removal-round", "2"]) == 1  # without --make-unanswerable
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--make-unanswerable" in err
