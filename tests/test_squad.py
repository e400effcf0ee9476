"""SQuAD-format sets as a folder of documents: reading, sampling, the files, removed answers, the bigram baseline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from qa.squad import (
    BigramBM25,
    SquadError,
    article_split,
    article_text,
    bigrams,
    file_name,
    lay_out,
    load_squad,
    script_of,
    select_articles,
)

PUBLIC = Path(__file__).resolve().parent.parent / "seeds" / "public"
DRCD = PUBLIC / "drcd" / "DRCD_dev.json"
CMRC_DEV = PUBLIC / "cmrc2018" / "cmrc2018_dev_part.json"
CMRC_TRIAL = PUBLIC / "cmrc2018" / "cmrc2018_trial.json"

# Three small articles of the made-up set "toy". For dataset "toy", 长江 is in the half of
# articles that lose an answer sentence, 黄河 and 宜昌 are not (asserted in the tests below).
YANGTZE_P0 = "长江是中国最长的河流。长江全长约六千三百公里。长江流经十一个省份。"
YANGTZE_P1 = "三峡大坝位于湖北省宜昌市。三峡大坝于二〇〇六年建成。"
YELLOW_P0 = "黄河是中国第二长河。\n黄河全长约五千四百公里。"  # a line break inside a paragraph
YICHANG_P0 = "宜昌市位于湖北省西部。湖北省宜昌市是三峡大坝所在地。"


def _qa(qid, question, answer=None, context="", *, start=True, impossible=False):
    row = {"id": qid, "question": question, "answers": []}
    if answer is not None:
        a = {"text": answer}
        if start:
            a["answer_start"] = context.index(answer) if answer in context else 0
        row["answers"] = [a]
    if impossible:
        row["is_impossible"] = True
    return row


def _toy(yichang=YICHANG_P0) -> dict:
    return {
        "version": "toy",
        "data": [
            {
                "title": "长江",
                "paragraphs": [
                    {
                        "context": YANGTZE_P0,
                        "qas": [
                            _qa("len", "长江全长约多少公里？", "六千三百公里", YANGTZE_P0),
                            # no answer_start: never the question whose sentence is removed
                            _qa("len2", "长江大约有多长？", "约六千三百公里", YANGTZE_P0, start=False),
                        ],
                    },
                    {
                        "context": YANGTZE_P1,
                        "qas": [
                            _qa("dam", "三峡大坝位于哪里？", "湖北省宜昌市", YANGTZE_P1),
                            _qa("imp", "长江上有多少座桥？", impossible=True),
                        ],
                    },
                ],
            },
            {
                "title": "黄河",
                "paragraphs": [
                    {
                        "context": YELLOW_P0,
                        "qas": [
                            _qa("hh-len", "黄河全长多少公里？", "五千四百公里", YELLOW_P0),
                            _qa("hh-bad", "黄河有多长？", "五千五百公里", YELLOW_P0),  # not in the text
                        ],
                    }
                ],
            },
            {
                "title": "宜昌",
                "paragraphs": [{"context": yichang, "qas": [_qa("yc", "宜昌市位于湖北省哪里？", "西部", yichang)]}],
            },
        ],
    }


def _write(tmp_path: Path, data, name: str = "toy.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _removal_half(dataset: str, title: str) -> bool:
    """The documented rule: sha256("remove\n" + dataset + "\n" + title), first 32 bits even."""
    return int(hashlib.sha256(f"remove\n{dataset}\n{title}".encode()).hexdigest()[:8], 16) % 2 == 0


def _sha_id(qid: str) -> str:
    return hashlib.sha256(qid.encode()).hexdigest()


# -- reading -------------------------------------------------------------------


def test_load_squad_reads_articles_questions_and_answers(tmp_path):
    articles = load_squad(_write(tmp_path, _toy()))
    assert [a.title for a in articles] == ["长江", "黄河", "宜昌"]
    yangtze = articles[0]
    assert yangtze.paragraphs == (YANGTZE_P0, YANGTZE_P1)
    q = {q.id: q for q in yangtze.questions}
    assert q["len"].answers == ("六千三百公里",) and q["len"].starts == (YANGTZE_P0.index("六千三百公里"),)
    assert q["len"].paragraph == 0 and not q["len"].impossible
    assert q["len2"].starts == (-1,)
    assert q["dam"].paragraph == 1
    assert q["imp"].impossible and q["imp"].answers == () and q["imp"].starts == ()


def test_answers_are_stripped_and_deduplicated(tmp_path):
    context = "甲乙丙丁。"
    data = {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": [{
        "id": "1", "question": "什么？",
        "answers": [{"text": " 乙丙", "answer_start": 0}, {"text": "乙丙", "answer_start": 1}, {"text": "丁", "answer_start": 3}],
    }]}]}]}
    (q,) = load_squad(_write(tmp_path, data))[0].questions
    assert q.answers == ("乙丙", "丁")
    assert q.starts == (1, 3)  # the first occurrence's start, moved past the stripped space


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not valid JSON"),
        ({"version": "1.1"}, "no 'data' list"),
        ({"data": [{"title": "空", "paragraphs": []}]}, "has no paragraphs"),
        ({"data": [{"title": "t", "paragraphs": [{"context": "正文。", "qas": [
            {"id": "q1", "answers": [{"text": "正文", "answer_start": 0}]}]}]}]}, "has no question text"),
        ({"data": [{"title": "t", "paragraphs": [{"context": "正文。", "qas": [
            {"id": "q1", "question": "问？", "answers": []}]}]}]}, "is not marked is_impossible"),
        ({"data": [{"title": "t", "paragraphs": [{"context": "正文。", "qas": [
            {"id": "q1", "question": "问？", "answers": [{"text": "正文", "answer_start": 0}]},
            {"id": "q1", "question": "又问？", "answers": [{"text": "正文", "answer_start": 0}]}]}]}]}, "used twice"),
    ],
)
def test_bad_files_raise_squad_error_naming_the_file(tmp_path, content, problem):
    path = _write(tmp_path, content, name="broken-set.json")
    with pytest.raises(SquadError) as info:
        load_squad(path)
    message = str(info.value)
    assert "broken-set.json" in message and problem in message and "\n" not in message


def test_a_blank_question_is_left_out_not_fatal(tmp_path):
    # CMRC 2018's own trial file has two questions whose text is "".
    data = {"data": [{"title": "t", "paragraphs": [{"context": "正文。", "qas": [
        {"id": "blank", "question": "  ", "answers": [{"text": "正文", "answer_start": 0}]},
        {"id": "ok", "question": "问？", "answers": [{"text": "正文", "answer_start": 0}]}]}]}]}
    assert [q.id for q in load_squad(_write(tmp_path, data))[0].questions] == ["ok"]
    trial = load_squad(CMRC_TRIAL)
    ids = {q.id for a in trial for q in a.questions}
    assert len(trial) == 256 and len(ids) == 1002 - 2 and "TRIAL_20_QUERY_0" not in ids


# -- script and selection -------------------------------------------------------


def test_script_of_tells_drcd_from_cmrc_on_real_articles():
    drcd = load_squad(DRCD)[0]
    cmrc = load_squad(CMRC_DEV)[0]
    assert script_of(drcd.paragraphs[0]) == "traditional"
    assert script_of(cmrc.paragraphs[0]) == "simplified"
    assert script_of(article_text(drcd)) == "traditional"
    assert script_of("The Yangtze is the longest river in Asia.") == "other"
    assert script_of("") == "other"


def test_the_split_is_the_one_qa_evaluation_documents():
    from qa.evaluation import public_split

    for path, dataset in ((DRCD, "drcd"), (CMRC_DEV, "cmrc2018"), (CMRC_TRIAL, "cmrc2018")):
        for a in load_squad(path):
            assert article_split(dataset, a.title) == public_split(dataset, a.title)


def test_select_articles_filters_by_split(tmp_path):
    articles = load_squad(_write(tmp_path, _toy()))
    # sha256("toy\n" + title): 长江 and 黄河 fall in dev, 宜昌 in train, none in test.
    assert [a.title for a in select_articles(articles, dataset="toy", split="dev")] == ["长江", "黄河"]
    assert [a.title for a in select_articles(articles, dataset="toy", split="train")] == ["宜昌"]
    assert select_articles(articles, dataset="toy", split="test") == []
    assert select_articles(articles, dataset="toy", split="all") == articles
    assert select_articles(articles, dataset="toy") == articles
    with pytest.raises(ValueError, match="split"):
        select_articles(articles, dataset="toy", split="validation")
    # The real sets, as seeds/public/README.md counts them.
    assert len(select_articles(load_squad(DRCD), dataset="drcd", split="test")) == 66
    assert len(select_articles(load_squad(CMRC_DEV), dataset="cmrc2018", split="test")) == 86


def test_a_sample_is_stable_and_a_larger_one_holds_a_smaller(tmp_path):
    articles = load_squad(_write(tmp_path, _toy()))
    one = select_articles(articles, dataset="toy", articles_n=1)
    two = select_articles(articles, dataset="toy", articles_n=2)
    # Ordered by sha256("sample\ntoy\n" + title): 黄河, 长江, 宜昌; kept in the file's order.
    assert [a.title for a in one] == ["黄河"]
    assert [a.title for a in two] == ["长江", "黄河"]
    assert select_articles(articles, dataset="toy", articles_n=5) == articles
    assert select_articles(articles, dataset="toy", articles_n=0) == []

    drcd = load_squad(DRCD)
    small = select_articles(drcd, dataset="drcd", split="test", articles_n=5)
    large = select_articles(drcd, dataset="drcd", split="test", articles_n=12)
    assert len(small) == 5 and len(large) == 12 and set(a.title for a in small) <= set(a.title for a in large)
    place = {a.title: i for i, a in enumerate(drcd)}
    assert [place[a.title] for a in large] == sorted(place[a.title] for a in large)
    assert select_articles(drcd, dataset="drcd", split="test", articles_n=12) == large
    assert {article_split("drcd", a.title) for a in large} == {"test"}


def test_a_sample_of_the_whole_set_is_not_all_train():
    sample = select_articles(load_squad(DRCD), dataset="drcd", articles_n=40)
    assert {article_split("drcd", a.title) for a in sample} == {"train", "dev", "test"}


# -- the files -------------------------------------------------------------------


def test_file_names_and_texts(tmp_path):
    assert file_name(3, "AC/DC: Live!") == "0003-AC_DC_Live.txt"
    assert file_name(12, "长江 (河流)") == "0012-长江_河流.txt"
    assert file_name(1, "???") == "0001-article.txt"
    assert len(file_name(1, "长" * 100)) == len("0001-") + 40 + len(".txt")
    articles = load_squad(_write(tmp_path, _toy()))
    assert article_text(articles[1]) == "黄河\n\n黄河是中国第二长河。黄河全长约五千四百公里。\n"


def test_lay_out_writes_one_file_per_article_and_a_row_per_question(tmp_path):
    articles = load_squad(_write(tmp_path, _toy()))
    layout = lay_out(articles, tmp_path / "toy", dataset="toy", split="dev")
    assert sorted(p.name for p in layout.folder.iterdir()) == [
        "0001-长江.txt", "0002-黄河.txt", "0003-宜昌.txt", "layout.json",
    ]
    read = lambda name: (layout.folder / name).read_text(encoding="utf-8")  # noqa: E731
    assert read("0001-长江.txt") == f"长江\n\n{YANGTZE_P0}\n\n{YANGTZE_P1}\n"
    assert read("0002-黄河.txt") == "黄河\n\n黄河是中国第二长河。黄河全长约五千四百公里。\n"
    assert read("0003-宜昌.txt") == f"宜昌\n\n{YICHANG_P0}\n"

    rows = {r["id"]: r for r in layout.questions}
    assert list(rows) == ["len", "len2", "dam", "imp", "hh-len", "yc"]  # hh-bad: its answer is not in 黄河
    assert layout.dropped == {"answer not inside one passage": 1}
    assert rows["len"] == {
        "id": "len", "question": "长江全长约多少公里？", "answers": ["六千三百公里"], "file": "0001-长江.txt",
        "type": "answerable", "tags": ["dataset:toy", "script:simplified"], "split": "dev",
    }
    assert rows["imp"]["type"] == "impossible" and rows["imp"]["answers"] == []
    assert rows["hh-len"]["file"] == "0002-黄河.txt" and rows["yc"]["file"] == "0003-宜昌.txt"
    assert layout.removals == {} and not layout.reused

    from qa.evaluation import load_questions

    qs = load_questions(layout.questions, split="dev")
    assert [(q.id, q.answerable, q.file) for q in qs][:4] == [
        ("len", True, "0001-长江.txt"), ("len2", True, "0001-长江.txt"), ("dam", True, "0001-长江.txt"),
        ("imp", False, "0001-长江.txt"),
    ]


def test_an_answer_cut_between_two_passages_is_dropped(tmp_path):
    context = "第一句在这里结束。第二句也在这里结束。"
    data = {"data": [{"title": "长句", "paragraphs": [{"context": context, "qas": [
        _qa("across", "问？", "结束。第二句", context), _qa("inside", "问？", "第二句也", context)]}]}]}
    articles = load_squad(_write(tmp_path, data))
    whole = lay_out(articles, tmp_path / "whole", dataset="toy")
    assert [r["id"] for r in whole.questions] == ["across", "inside"]
    cut = lay_out(articles, tmp_path / "cut", dataset="toy", max_passage_chars=10)  # one passage per sentence
    assert [r["id"] for r in cut.questions] == ["inside"]
    assert cut.dropped == {"answer not inside one passage": 1}


def test_make_unanswerable_removes_the_answer_sentence(tmp_path):
    articles = load_squad(_write(tmp_path, _toy()))
    assert _removal_half("toy", "长江") and not _removal_half("toy", "黄河") and not _removal_half("toy", "宜昌")
    # 长江's candidates, by sha256 of the id: "dam" first, then "len" ("len2" has no answer start).
    assert _sha_id("dam") < _sha_id("len")
    layout = lay_out(articles, tmp_path / "toy", dataset="toy", make_unanswerable=True)

    # "dam"'s answer 湖北省宜昌市 is also in 宜昌's file, so its sentence stays; "len"'s goes.
    text = (layout.folder / "0001-长江.txt").read_text(encoding="utf-8")
    assert text == f"长江\n\n长江是中国最长的河流。长江流经十一个省份。\n\n{YANGTZE_P1}\n"
    assert (layout.folder / "0003-宜昌.txt").read_text(encoding="utf-8") == f"宜昌\n\n{YICHANG_P0}\n"

    rows = {r["id"]: r for r in layout.questions}
    assert rows["len"] == {
        "id": "len", "question": "长江全长约多少公里？", "answers": [], "file": "0001-长江.txt",
        "type": "answer removed", "tags": ["dataset:toy", "script:simplified"], "split": "",
        "removed_answers": ["六千三百公里"], "removed_text": "长江全长约六千三百公里。",
    }
    assert "len2" not in rows  # its answer, 约六千三百公里, went with the sentence
    assert rows["dam"]["type"] == "answerable" and rows["imp"]["type"] == "impossible"
    assert layout.dropped == {"answer not inside one passage": 1, "answer lost with the removed sentence": 1}
    assert layout.removals == {"articles chosen for a removal": 1, "articles with a sentence removed": 1}
    for t in (p.read_text(encoding="utf-8") for p in layout.folder.glob("*.txt")):
        assert "六千三百公里" not in t

    from qa.evaluation import load_questions

    removed = next(q for q in load_questions(layout.questions) if q.id == "len")
    assert not removed.answerable and removed.type == "answer removed"


def _rivers(n: int) -> dict:
    """`n` articles of two sentences, each answering one of two questions, every answer unique."""
    data = []
    for i in range(n):
        context = f"第{i}号河全长{i + 100}公里。第{i}号河流经{i + 30}个省份。"
        a, b = f"{i + 100}公里", f"{i + 30}个省份"
        data.append({"title": f"第{i}号河", "paragraphs": [{"context": context, "qas": [
            {"id": f"r{i}-len", "question": f"第{i}号河全长多少？", "answers": [{"text": a, "answer_start": context.index(a)}]},
            {"id": f"r{i}-prov", "question": f"第{i}号河流经几个省份？", "answers": [{"text": b, "answer_start": context.index(b)}]},
        ]}]})
    return {"version": "toy", "data": data}


def test_another_removal_round_cuts_other_articles_and_questions_and_round_zero_is_unchanged(tmp_path):
    articles = load_squad(_write(tmp_path, _rivers(24)))

    def removed(folder, round_):
        layout = lay_out(articles, tmp_path / folder, dataset="toy", make_unanswerable=True, removal_round=round_)
        cut = {r["id"] for r in layout.questions if r["type"] == "answer removed"}
        for r in layout.questions:
            if r["type"] == "answer removed":  # its answer is gone from every file
                assert all(r["removed_answers"][0] not in p.read_text(encoding="utf-8") for p in layout.folder.glob("*.txt"))
        return cut

    usual = removed("r0", 0)
    assert usual == {f"r{i}-{min(('len', 'prov'), key=lambda k: _sha_id(f'r{i}-{k}'))}"
                     for i in range(24) if _removal_half("toy", f"第{i}号河")}  # the documented rule, as before
    first, second = removed("r1", 1), removed("r2", 2)
    assert first and second and len({frozenset(usual), frozenset(first), frozenset(second)}) == 3
    assert removed("r1-again", 1) == first  # a round is stable


@pytest.mark.parametrize("elsewhere", ["宜昌离长江的源头约六千三百公里。", "宜昌离长江的源头约六千三百公裏。"])
def test_an_article_stays_whole_when_every_removed_answer_is_elsewhere(tmp_path, elsewhere):
    # 宜昌 also holds 六千三百公里 (the second time in traditional script, which matching folds).
    articles = load_squad(_write(tmp_path, _toy(yichang=YICHANG_P0 + elsewhere)))
    layout = lay_out(articles, tmp_path / "toy", dataset="toy", make_unanswerable=True)
    assert (layout.folder / "0001-长江.txt").read_text(encoding="utf-8") == article_text(articles[0])
    assert not [r for r in layout.questions if r["type"] == "answer removed"]
    assert [r["id"] for r in layout.questions][:4] == ["len", "len2", "dam", "imp"]
    assert layout.removals == {
        "articles chosen for a removal": 1, "articles left whole: removed answer still elsewhere in the folder": 1,
    }


def test_removal_leaves_clean_text(tmp_path):
    english = "Alpha is first. Beta is second. Gamma is third."
    lone, other = "第一段只有一句话。", "第二段还在这里。"
    three = "甲城在北方。乙城在南方。丙城在东方。"
    data = {"data": [
        {"title": "Greek letters", "paragraphs": [{"context": english, "qas": [
            _qa("beta", "Which letter is second?", "Beta", english)]}]},
        {"title": "两段", "paragraphs": [
            {"context": lone, "qas": [_qa("one", "第一段有几句话？", "只有一句话", lone)]},
            {"context": other, "qas": []}]},
        {"title": "三句", "paragraphs": [{"context": three, "qas": [_qa("span", "哪两座城？", "北方。乙城", three)]}]},
    ]}
    assert all(_removal_half("rivers", t) for t in ("Greek letters", "两段", "三句"))
    layout = lay_out(load_squad(_write(tmp_path, data)), tmp_path / "out", dataset="rivers", make_unanswerable=True)
    read = lambda name: (layout.folder / name).read_text(encoding="utf-8")  # noqa: E731
    assert read("0001-Greek_letters.txt") == "Greek letters\n\nAlpha is first. Gamma is third.\n"  # one space
    assert read("0002-两段.txt") == "两段\n\n第二段还在这里。\n"  # the emptied paragraph is gone
    assert read("0003-三句.txt") == "三句\n\n丙城在东方。\n"  # an answer over two sentences takes both
    assert [r["type"] for r in layout.questions] == ["answer removed"] * 3
    assert layout.questions[0]["tags"] == ["dataset:rivers", "script:other"]


def test_a_removal_that_would_empty_the_file_is_not_made(tmp_path):
    only = "全文只有这一句。"
    data = {"data": [{"title": "两段", "paragraphs": [{"context": only, "qas": [_qa("q", "问？", "这一句", only)]}]}]}
    layout = lay_out(load_squad(_write(tmp_path, data)), tmp_path / "out", dataset="rivers", make_unanswerable=True)
    assert (layout.folder / "0001-两段.txt").read_text(encoding="utf-8") == f"两段\n\n{only}\n"
    assert layout.questions[0]["type"] == "answerable"
    assert layout.removals == {
        "articles chosen for a removal": 1, "articles left whole: no question whose answer could be removed": 1,
    }


def test_the_same_input_gives_the_same_bytes(tmp_path):
    articles = load_squad(_write(tmp_path, _toy()))
    a = lay_out(articles, tmp_path / "a", dataset="toy", make_unanswerable=True)
    b = lay_out(articles, tmp_path / "b", dataset="toy", make_unanswerable=True)
    files = sorted(p.name for p in a.folder.iterdir())
    assert files == sorted(p.name for p in b.folder.iterdir())
    assert all((a.folder / f).read_bytes() == (b.folder / f).read_bytes() for f in files)
    assert a.questions == b.questions


def test_an_existing_layout_is_reused_without_rewriting(tmp_path):
    articles = load_squad(_write(tmp_path, _toy()))
    folder = tmp_path / "toy"
    first = lay_out(articles, folder, dataset="toy", make_unanswerable=True)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = lay_out(articles, folder, dataset="toy", make_unanswerable=True)
    assert again.reused and again.questions == first.questions and again.dropped == first.dropped
    assert again.removals == first.removals
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps

    other = lay_out(articles, folder, dataset="toy", make_unanswerable=False)  # other inputs: laid out again
    assert not other.reused
    assert "六千三百公里" in (folder / "0001-长江.txt").read_text(encoding="utf-8")
    (folder / "0002-黄河.txt").write_text("edited", encoding="utf-8")  # a file changed by hand
    assert not lay_out(articles, folder, dataset="toy").reused
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folders left


def test_a_folder_that_is_not_a_layout_is_never_overwritten(tmp_path):
    articles = load_squad(_write(tmp_path, _toy()))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes", encoding="utf-8")
    with pytest.raises(FileExistsError, match="mine"):
        lay_out(articles, mine, dataset="toy")
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "my notes"


def test_an_interrupted_run_leaves_no_half_written_folder(tmp_path, monkeypatch):
    articles = load_squad(_write(tmp_path, _toy()))
    real = Path.write_bytes
    calls = []

    def failing(self, data):
        calls.append(self)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        lay_out(articles, tmp_path / "toy", dataset="toy")
    monkeypatch.undo()
    assert not (tmp_path / "toy").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["toy.json"]
    assert not lay_out(articles, tmp_path / "toy", dataset="toy").reused


# -- the baseline ------------------------------------------------------------------


def test_bigrams():
    assert bigrams("长江，全长！") == ["长江", "江全", "全长"]
    assert bigrams("ＡＢ c") == ["ab", "bc"]  # NFKC, lower case, no spaces
    assert bigrams("江") == ["江"]
    assert bigrams("。！") == []


def test_bigram_bm25_ranks_the_passage_sharing_the_questions_bigrams_first():
    texts = ["黄河是中国第二长河。", "长江全长约六千三百公里。", "Python is a programming language.", "。", "长江"]
    bm25 = BigramBM25.build(texts)
    assert bm25.rank("长江有多长？")[:1] == [4]  # the shortest text holding 长江 (BM25 length norm)
    assert set(bm25.rank("长江有多长？")) == {1, 4}
    assert bm25.rank("长江全长多少公里？")[0] == 1
    assert bm25.rank("黄河") == [0]
    assert bm25.rank("ＰＹＴＨＯＮ") == [2]
    assert bm25.rank("火星") == []
    assert bm25.rank("長江") == []  # no traditional/simplified folding: the naive baseline
    assert bm25.rank("长江有多长？", k=1) == [4]
    assert BigramBM25.build([]).rank("长江") == []


def test_bigram_bm25_breaks_ties_in_text_order():
    bm25 = BigramBM25.build(["无关的文字", "长江", "长江", "无关"])
    assert bm25.rank("长江") == [1, 2]


def test_answers_in_two_places_take_only_their_own_sentences(tmp_path):
    # Two reference answers (as CMRC gives three) in the first and last sentence: the middle stays.
    context = "甲城在北方。乙城在南方。丙城也在北边。"
    qa = {"id": "two", "question": "在哪？", "answers": [
        {"text": "北方", "answer_start": context.index("北方")}, {"text": "北边", "answer_start": context.index("北边")}]}
    data = {"data": [{"title": "三句", "paragraphs": [{"context": context, "qas": [qa]}, {"context": "另一段。", "qas": []}]}]}
    layout = lay_out(load_squad(_write(tmp_path, data)), tmp_path / "out", dataset="rivers", make_unanswerable=True)
    assert (layout.folder / "0001-三句.txt").read_text(encoding="utf-8") == "三句\n\n乙城在南方。\n\n另一段。\n"
    assert layout.questions[0]["removed_text"] == "甲城在北方。丙城也在北边。"
    assert layout.questions[0]["removed_answers"] == ["北方", "北边"]
