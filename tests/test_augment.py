"""The reader's training variants of questions: reworded Chinese, and word-by-word English."""

from __future__ import annotations

import random
import re
from pathlib import Path

from qa.augment import gloss, reword
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
