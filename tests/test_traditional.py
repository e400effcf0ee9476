"""Traditional Chinese: a Taiwanese document answers as its simplified copy does, and quotes stay as written.

The document is a real one: the DRCD article 下萨克森州 (Wikipedia, traditional characters,
six paragraphs, 18 annotators' questions) from seeds/public, written out as docqa's
evaluation lays an article out.
"""

from __future__ import annotations

from pathlib import Path

import opencc
import pytest

import qa
from qa import RetrievalConfig, Settings
from qa.lexical import tokenize
from qa.normalize import fold_script
from qa.squad import article_text, load_squad
from tests.fakes import HashEncoder
from ui.render import highlight

DRCD = Path(__file__).resolve().parent.parent / "seeds" / "public" / "drcd" / "DRCD_dev.json"
TITLE = "下萨克森州"
T2S = opencc.OpenCC("t2s")
S2T = opencc.OpenCC("s2t")
BM25 = RetrievalConfig(mode="bm25", not_found_threshold=-100.0)
ACCEPT = RetrievalConfig(not_found_threshold=-100.0)


@pytest.fixture(scope="module")
def article():
    return next(a for a in load_squad(DRCD) if a.title == TITLE)


def _library(tmp_path, name, text, encoder):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return qa.load_index(path, encoder=encoder, settings=Settings(home=tmp_path / "home"))


def _hit(answer, gold):
    return any(g in answer.passages[0].text for g in gold)


def test_the_document_really_is_traditional(article):
    text = article_text(article)
    changed = sum(a != b for a, b in zip(text, T2S.convert(text)))
    assert changed > 100  # hundreds of characters differ from the simplified copy


def test_folding_keeps_every_position():
    text = "語言學家認為，希臘語與梵語最為相近。"
    folded = fold_script(text)
    assert folded == "语言学家认为，希腊语与梵语最为相近。" and len(folded) == len(text)
    assert fold_script("English only") == "English only"


def test_traditional_and_simplified_text_cut_into_the_same_keywords(article):
    for paragraph in article.paragraphs:
        assert tokenize(paragraph) == tokenize(T2S.convert(paragraph))
    for q in article.questions:
        assert tokenize(q.question) == tokenize(T2S.convert(q.question))


def test_keyword_side_ranks_alike_in_either_script(article, tmp_path):
    """BM25 alone: traditional and simplified copies, asked in either script, rank passages identically."""
    trad = _library(tmp_path, "trad.txt", article_text(article), HashEncoder())
    simp = _library(tmp_path, "simp.txt", T2S.convert(article_text(article)), HashEncoder())
    hits = 0
    for q in article.questions:
        rankings = {
            (doc_name, script): [p.id for p in doc.ask(question, 5, config=BM25).passages]
            for doc_name, doc in (("trad", trad), ("simp", simp))
            for script, question in (("trad", q.question), ("simp", T2S.convert(q.question)))
        }
        assert len({tuple(r) for r in rankings.values()}) == 1, (q.question, rankings)
        hits += _hit(trad.ask(q.question, 5, config=BM25), q.answers)
    assert hits >= 0.8 * len(article.questions)  # the words themselves now match (was 語言 vs 语言)


def test_quotes_and_highlights_stay_in_the_documents_script(article, tmp_path):
    trad = _library(tmp_path, "trad.txt", article_text(article), HashEncoder())
    q = article.questions[0]
    answer = trad.ask(T2S.convert(q.question), 5, config=ACCEPT)  # a simplified question
    assert answer.found and answer.text in article_text(article)  # verbatim, traditional
    assert answer.text != T2S.convert(answer.text)
    assert answer.matched_terms  # simplified words, matched in the traditional sentence
    marked = highlight(answer.text, answer.matched_terms)
    assert "<mark" in marked and marked.replace('<mark class="term">', "").replace("</mark>", "") == highlight(answer.text, [])


def test_a_simplified_document_answers_a_traditional_question(tmp_path):
    simp = _library(tmp_path, "s.txt", "语言研究\n\n语言学家认为希腊语与梵语最为相近。\n\n另一段讲天气。\n", HashEncoder())
    answer = simp.ask(S2T.convert("哪两种语言最为相近？"), 3, config=BM25)
    assert answer.passages[0].id == 1 and "语言学家" in answer.text


@pytest.mark.model
def test_end_to_end_a_traditional_document_answers_as_its_simplified_copy(article, tmp_path, real_encoder):
    """The real model: the traditional article and its simplified copy find the same passages."""
    trad = _library(tmp_path, "trad.txt", article_text(article), real_encoder)
    simp = _library(tmp_path, "simp.txt", T2S.convert(article_text(article)), real_encoder)
    trad_hits = simp_hits = same_top = found = 0
    for q in article.questions:
        a, b = trad.ask(q.question, 5), simp.ask(q.question, 5)
        trad_hits += _hit(a, q.answers)
        simp_hits += _hit(b, [T2S.convert(g) for g in q.answers])
        same_top += a.passages[0].id == b.passages[0].id
        found += a.found
        if a.found:
            assert a.text in article_text(article)  # quoted as written
    n = len(article.questions)
    assert trad_hits >= 0.85 * n and trad_hits >= simp_hits - 1
    assert same_top >= n - 1
    assert found >= n - 2  # answerable questions are not declined for their script
