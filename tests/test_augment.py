"""The reader's training variants of questions: reworded Chinese, word-by-word English, and swapped names or numbers."""

from __future__ import annotations

import random
import re
from pathlib import Path

from qa.augment import entities, gloss, reword, swap
from qa.reader_train import examples

CJK = re.compile(r"[\u4e00-\u9fff]")
PUBLIC = Path(__file__).resolve().parent.parent / "seeds" / "public"


def test_gloss_opens_with_the_english_question_word_and_translates_the_rest():
    out = gloss("疫情期间共核查了多少人员？")
    assert out.startswith("How many ")
    assert "epidemic" in out and out.endswith("?")
    assert not CJK.search(out)  # every word of this one is in CC-CEDICT


def test_gloss_reads_traditional_and_simplified_alike():
    assert gloss("這座城市有多少人口？") == gloss("这座城市有多少人口？")
    assert gloss("誰發現了這個島？").startswith("Who ")


def test_gloss_gives_names_their_english_and_leaves_unknown_words_as_written():
    out = gloss("株洲有多少个乡镇？")
    assert "Zhuzhou" in out
    assert "尤金" not in gloss("尤金是谁？")  # Eugene
    out = gloss("X9型号是哪年发布的？")
    assert "X9" in out and out.startswith("Which ")  # what CC-CEDICT lacks stays as written


def test_grammar_words_are_not_glossed_by_their_first_sense():
    out = gloss("它是何时被发现的？").lower()
    assert "quilt" not in out  # 被's first sense
    assert out.startswith("when ")


def test_reword_swaps_words_for_same_sense_ones_and_keeps_the_question_word():
    q = "市公安局依托什么平台搭建起全省首个分析模型？"
    outs = {reword(q, random.Random(seed), share=1.0, drop=0.0) for seed in range(5)}
    assert any(o != q for o in outs)
    assert all("什么" in o for o in outs)
    assert reword(q, random.Random(3)) == reword(q, random.Random(3))  # seeded


def test_reword_keeps_the_script():
    q = "負責管理國家風景區的單位是什麼？"
    for seed in range(5):
        out = reword(q, random.Random(seed), share=1.0, drop=0.0)
        assert "什麼" in out and "什么" not in out


def test_training_variants_copy_a_share_of_questions_with_their_windows():
    plain = examples("train", 0)
    both = examples("train", 0, variants={"reword": 0.25, "gloss": 0.25})
    by_id = {(e.id, e.context) for e in plain}
    variants = [e for e in both if e.variant]
    assert {e.variant for e in variants} == {"reword", "gloss"}
    share = len({e.id.split("#")[0] for e in variants if e.variant == "gloss"}) / len({e.id.split("#")[0] for e in plain})
    assert 0.18 < share < 0.32
    for e in variants:
        assert (e.id, e.context) in by_id  # same window and answer, only the question differs
    assert [e for e in both if not e.variant] == plain
    assert examples("train", 0, variants={"reword": 0.25, "gloss": 0.25}) == both  # the same on every run


def test_swap_asks_about_a_year_the_window_does_not_hold():
    context = "2015年，该市刑事案件破案率为90%。2016年升至92%。"
    for seed in range(5):
        out = swap("2015年该市刑事案件的破案率是多少？", context, {}, random.Random(seed))
        year = re.match(r"(\d{4})年该市刑事案件的破案率是多少？$", out)
        assert year and year.group(1) not in context and 2010 <= int(year.group(1)) <= 2020


def test_swap_replaces_a_name_by_another_of_the_same_kind_from_the_pool():
    pool = {"nr": ["杜甫", "李白"], "ns": ["广州"]}
    out = swap("李白出生于哪一年？", "李白出生于碎叶城，是唐代诗人。", pool, random.Random(0))
    assert out == "杜甫出生于哪一年？"  # 李白 is in the window; the pool's other person is not
    assert swap("李白出生于哪一年？", "李白与杜甫并称李杜。", {"nr": ["杜甫"]}, random.Random(0)) is None


def test_swap_changes_a_chinese_ordinal_and_leaves_questions_it_cannot_change():
    out = swap("电子眼二期总投资是多少？", "电子眼二期总投资3亿元。", {}, random.Random(0))
    assert re.fullmatch(r"电子眼[一三四五六七八九十]期总投资是多少？", out)
    assert swap("总投资是多少？", "总投资3亿元。", {"nr": ["杜甫"]}, random.Random(0)) is None


def test_entities_tags_traditional_names_and_skips_common_words():
    found = dict(entities("長沙市公安局局長是誰？"))
    assert found == {"長沙市": "ns"}  # 公安局 is a common word, not a name


def test_training_swaps_pair_the_answer_window_with_a_question_it_does_not_answer():
    plain = examples("dev", 0)
    both = examples("dev", 0, swap=0.5)
    answers = {e.id.split("#")[0]: e for e in plain if e.kind == "answer"}
    swapped = [e for e in both if e.variant == "swap"]
    assert 0.2 < len(swapped) / len(answers) < 0.5  # half the questions drawn, those with a term to swap kept
    for e in swapped:
        a = answers[e.id.split("#")[0]]
        assert e.kind == "swapped" and not e.answerable and e.context == a.context and e.question != a.question
    assert [e for e in both if not e.variant] == plain
    assert examples("dev", 0, swap=0.5) == both
