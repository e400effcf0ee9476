"""The reader's question-level training: a mined question's windows in one batch, and the loss on the window the product would pick."""

from __future__ import annotations

import random

import numpy as np
import pytest

from qa.reader_data import NO_ANSWER, ReaderExample
from qa.reader_train import group_loss, pack_units, question_units, window_margins

torch = pytest.importorskip("torch")


def _ex(id_, kind, start=NO_ANSWER):
    return ReaderExample(id=id_, question="问？", context="一句话。", start=start, end=start + 1 if start >= 0 else NO_ANSWER,
                         kind=kind, dataset="cmrc2018", title="文章")


def test_a_mined_questions_windows_form_one_unit_and_its_cut_windows_another():
    rows = [_ex("q1#answer", "answer", 0), _ex("q2#read0", "read-answer", 0), _ex("q1#cut", "cut"), _ex("q2#read1", "read-wrong"),
            _ex("q2#read0", "read-cut"), _ex("q3#read0", "read-cut"), _ex("q2#read2", "read-cut")]
    units = question_units(rows)
    assert sorted(map(sorted, units)) == [[0], [1, 3], [2], [4, 6], [5]]


def test_batches_keep_units_whole_and_hold_every_window_once():
    units = [[0], [1, 2, 3], [4], [5, 6], [7], [8, 9, 10], [11]]
    batches = pack_units(units, 4, random.Random(3))
    assert sorted(i for b in batches for i in b) == list(range(12))
    assert all(len(b) <= 4 for b in batches)
    for u in units:
        assert sum(all(i in b for i in u) for b in batches) == 1  # each unit lies whole in one batch
    assert batches == pack_units(units, 4, random.Random(3))  # seeded: the same batches again


def test_the_margin_is_the_products_best_span_against_no_answer():
    from qa.reader import MAX_ANSWER_TOKENS

    rng = np.random.default_rng(0)
    n, offset = 60, 9
    start, end = rng.normal(size=(2, n)).astype(np.float32) * 3
    ok = np.zeros(n, dtype=bool)
    ok[offset : n - 1] = True  # as Reader.read: the window's tokens, not the question's nor the last </s>
    band = np.tri(n, n, MAX_ANSWER_TOKENS - 1, dtype=bool) & ~np.tri(n, n, -1, dtype=bool)
    pair = np.where(band & ok[:, None] & ok[None, :], start[:, None] + end[None, :], -np.inf)
    product = pair.max() - (start[0] + end[0])
    allowed = ok.copy()
    allowed[0] = True  # training keeps <s> (no answer) and masks the rest far below
    neg = torch.finfo(torch.float32).min / 2
    s = torch.tensor(start).masked_fill(~torch.tensor(allowed), neg)[None]
    e = torch.tensor(end).masked_fill(~torch.tensor(allowed), neg)[None]
    assert window_margins(s, e).item() == pytest.approx(float(product), abs=1e-4)


def test_the_loss_pushes_the_most_tempting_cut_window_down_and_the_answer_window_above_the_wrong_one():
    n = 8
    start = torch.full((5, n), -2.0)
    end = torch.full((5, n), -2.0)
    start[:, 0] = end[:, 0] = 0.0  # no answer at 0
    start[1, 3] = end[1, 4] = 3.0  # the cut question's most tempting window
    start[3, 2] = end[3, 2] = 2.0  # a wrong window that looks more answered than the answer's
    start.requires_grad_(True)
    end.requires_grad_(True)
    rows = [_ex("c#read0", "read-cut"), _ex("c#read1", "read-cut"), _ex("a#read0", "read-answer", 0), _ex("a#read1", "read-wrong"),
            _ex("x#answer", "answer", 0)]
    loss = group_loss(start, end, rows)
    loss.backward()
    assert loss.item() > 0
    assert start.grad[1, 3] > 0 and start.grad[1, 0] < 0  # lower the tempting span, raise its no answer
    assert start.grad[0].abs().sum() == 0  # the less tempting cut window is left to the per-window loss
    assert start.grad[3, 2] > 0 and start.grad[2].min() < 0  # the wrong window down, the answer window's best span up
    assert start.grad[4].abs().sum() == 0  # a window that is not mined takes no part
    assert group_loss(start[4:], end[4:], rows[4:]).item() == 0.0
