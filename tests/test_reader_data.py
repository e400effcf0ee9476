"""Reader examples: a window with the answer's span, and windows that look like it but do not answer."""

from __future__ import annotations

from pathlib import Path

from qa.reader_data import read_examples, reader_examples, write_examples
from qa.squad import SquadArticle, SquadQuestion, load_squad, select_articles

PUBLIC = Path(__file__).resolve().parent.parent / "seeds" / "public"

P0 = "苹果园在城东。今年苹果园收获苹果三百吨。苹果销往全国各地。明年苹果园计划扩建。"
P1 = "香蕉仓库在码头。仓库存放香蕉五十箱。"


def _article():
    return SquadArticle(
        title="水果",
        paragraphs=(P0, P1),
        questions=(
            SquadQuestion("q1", "苹果园今年收获苹果多少吨？", ("三百吨",), False, 0, (P0.index("三百吨"),)),
            SquadQuestion("q2", "香蕉仓库的租金是多少？", (), True, 1, ()),
        ),
    )


def test_an_answerable_question_gives_its_window_and_three_that_do_not_answer():
    ex = {e.kind: e for e in reader_examples([_article()], dataset="fruit") if e.id.startswith("q1")}
    assert set(ex) == {"answer", "cut", "neighbour", "retrieved"}
    answer = ex["answer"]
    # The answer's sentence with one neighbour each side; the span is the answer, verbatim.
    assert answer.context == "苹果园在城东。今年苹果园收获苹果三百吨。苹果销往全国各地。"
    assert answer.context[answer.start : answer.end] == "三百吨"
    assert ex["cut"].context == "苹果园在城东。苹果销往全国各地。"  # the answer's sentence taken out
    assert ex["neighbour"].context == P1  # the next paragraph
    # The closest window that stays clear of the answer's sentence.
    assert ex["retrieved"].context == "苹果销往全国各地。明年苹果园计划扩建。"
    assert all(not e.answerable for k, e in ex.items() if k != "answer")


def test_an_impossible_question_gives_its_best_window_without_an_answer():
    ex = [e for e in reader_examples([_article()], dataset="fruit") if e.id.startswith("q2")]
    assert [e.kind for e in ex] == ["impossible"] and "香蕉仓库" in ex[0].context and not ex[0].answerable


def test_a_long_neighbour_is_left_out_of_the_window():
    long = "甲" * 80 + "。"
    p = long + "乙城的人口是三万。" + long
    art = SquadArticle("t", (p,), (SquadQuestion("q", "乙城的人口是多少？", ("三万",), False, 0, (p.index("三万"),)),))
    answer = next(e for e in reader_examples([art], dataset="x", max_chars=80) if e.kind == "answer")
    assert answer.context == "乙城的人口是三万。" and answer.context[answer.start : answer.end] == "三万"


def test_real_articles_give_verbatim_spans_and_clean_negatives(tmp_path):
    for name, dataset in (("cmrc2018/cmrc2018_trial.json", "cmrc2018"), ("drcd/DRCD_dev.json", "drcd")):
        articles = select_articles(load_squad(PUBLIC / name), dataset=dataset, split="train", articles_n=20)
        answers = {q.id: q.answers for a in articles for q in a.questions}
        examples = reader_examples(articles, dataset=dataset)
        positives = [e for e in examples if e.answerable]
        assert len(positives) >= 0.95 * sum(not q.impossible for a in articles for q in a.questions)
        for e in examples:
            qid = e.id.split("#")[0]
            if e.answerable:
                assert e.context[e.start : e.end] in answers[qid]
            else:
                assert not any(ans in e.context for ans in answers[qid])
            assert len(e.context) <= 400
        assert examples == reader_examples(articles, dataset=dataset)  # deterministic
        path = write_examples(examples, tmp_path / f"{dataset}.jsonl")
        assert read_examples(path) == examples


def test_more_retrieved_windows_are_distinct_best_first_and_never_answer():
    articles = select_articles(load_squad(PUBLIC / "drcd" / "DRCD_dev.json"), dataset="drcd", split="train", articles_n=5)
    one = [e for e in reader_examples(articles, dataset="drcd") if e.kind == "retrieved"]
    three = [e for e in reader_examples(articles, dataset="drcd", retrieved=3) if e.kind == "retrieved"]
    by_q: dict[str, list] = {}
    for e in three:
        by_q.setdefault(e.id, []).append(e.context)
    assert len(three) > len(one) and max(len(v) for v in by_q.values()) == 3
    for e in one:
        assert by_q[e.id][0] == e.context  # the first is the single best window
    answers = {q.id: q.answers for a in articles for q in a.questions}
    for qid, contexts in by_q.items():
        assert len(set(contexts)) == len(contexts)
        assert not any(ans in c for c in contexts for ans in answers[qid.split("#")[0]])


def test_shifted_windows_hold_the_whole_answer_off_centre():
    articles = select_articles(load_squad(PUBLIC / "cmrc2018" / "cmrc2018_trial.json"), dataset="cmrc2018", split="train", articles_n=5)
    ex = reader_examples(articles, dataset="cmrc2018", shifted=True)
    answer = {e.id.split("#")[0]: e for e in ex if e.kind == "answer"}
    shifted = [e for e in ex if e.kind == "shifted"]
    assert shifted
    for e in shifted:
        a = answer[e.id.split("#")[0]]
        assert e.context[e.start : e.end] == a.context[a.start : a.end] and e.context != a.context
