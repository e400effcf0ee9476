"""The confidence map: monotone, within [0, 1], its reliability table and ECE on known data, labels and fitting."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from qa import RetrievalConfig, Settings, load_index
from qa import calibration as cal
from qa.answer import Answer, Passage, confidence_label
from qa.cli import main
from qa.evaluation import confidence_samples, evaluate, format_reliability, write_report
from qa.settings import NOT_FOUND_FILE
from tests.fakes import HashEncoder


def _rec(confidence: float, right: bool, *, found: bool = True, answerable: bool = True) -> dict:
    """An evaluated question as report.json stores it."""
    return {
        "found": found, "confidence": confidence, "answerable": answerable,
        "metrics": {"answer_acc": float(found and right)} if answerable else {},
    }


def test_the_shipped_map_is_monotone_and_within_0_and_1_on_both_paths():
    shipped = cal.load()
    z = np.linspace(-60, 60, 2001)
    for signals in ({"reader": 0.3, "lang": 1.0}, {"lang": 1.0}):
        p = np.array([shipped.confidence(v, signals) for v in z])
        assert ((0.0 <= p) & (p <= 1.0)).all()
        assert (np.diff(p) >= 0).all() and p[-1] > p[0]
    # The two paths have their own maps: the same evidence means something else without the reader.
    assert shipped.maps["reader"] != shipped.maps["fast"]
    assert shipped.maps["reader"].slope > 0 and shipped.maps["fast"].slope > 0
    assert 0.5 <= shipped.high <= 1.0 and shipped.medium == 0.5 and 0.0 < shipped.quoted < 1.0


def test_a_decreasing_or_incomplete_map_is_refused():
    good = cal.Calibration().to_dict()
    with pytest.raises(ValueError, match="slope"):
        cal.Calibration.from_dict({**good, "fast": {"slope": -0.5, "intercept": 0.0}})
    with pytest.raises(ValueError, match="maps"):
        cal.Calibration.from_dict({"reader": good["reader"], "labels": good["labels"]})
    with pytest.raises(ValueError, match="medium <= high"):
        cal.Calibration.from_dict({**good, "labels": {"high": 0.4, "medium": 0.5}})


def test_reliability_table_and_ece_on_a_set_with_known_accuracy_per_bin():
    records = (
        [_rec(0.3, i < 3) for i in range(10)]  # bin 0-0.5: 3 of 10 right at 0.3: gap 0
        + [_rec(0.75, i < 5) for i in range(10)]  # bin 0.7-0.8: 5 of 10 at 0.75: gap 0.25
        + [_rec(0.95, i < 18) for i in range(19)] + [_rec(1.0, False)]  # bin 0.9-1.0 (1.0 inside): 18 of 20 at 0.9525
        + [_rec(0.2, False, found=False, answerable=i > 0) for i in range(4)]  # declined: 1 of 4 rightly
    )
    table = cal.reliability(records, calibration=cal.Calibration(high=0.9, medium=0.5))
    bins = {(b["lo"], b["hi"]): b for b in table["bins"]}
    assert [b["n"] for b in table["bins"]] == [10, 0, 10, 0, 20]
    assert bins[(0.0, 0.5)]["accuracy"] == pytest.approx(0.3) and bins[(0.0, 0.5)]["confidence"] == pytest.approx(0.3)
    assert bins[(0.7, 0.8)]["accuracy"] == pytest.approx(0.5)
    assert bins[(0.9, 1.0)]["accuracy"] == pytest.approx(0.9) and bins[(0.9, 1.0)]["confidence"] == pytest.approx(0.9525)
    assert math.isnan(bins[(0.5, 0.7)]["accuracy"])  # an empty bin has no accuracy
    # ECE: (10 * 0 + 10 * 0.25 + 20 * 0.0525) / 40
    assert table["answers"] == 40
    assert table["ece"] == pytest.approx((10 * 0.25 + 20 * 0.0525) / 40)
    labels = table["labels"]
    assert (labels["high"]["n"], labels["high"]["accuracy"]) == (20, pytest.approx(0.9))
    assert (labels["medium"]["n"], labels["medium"]["accuracy"]) == (10, pytest.approx(0.5))
    assert (labels["low"]["n"], labels["low"]["accuracy"]) == (10, pytest.approx(0.3))
    assert (labels[cal.NOT_FOUND]["n"], labels[cal.NOT_FOUND]["accuracy"]) == (4, pytest.approx(0.25))


def test_an_answer_to_an_unanswerable_question_is_wrong_and_a_ranking_baseline_is_skipped():
    table = cal.reliability([_rec(0.95, True, answerable=False), {"found": None, "confidence": float("nan")}])
    assert table["answers"] == 1 and table["bins"][-1]["accuracy"] == 0.0
    assert table["ece"] == pytest.approx(0.95)


def test_perfectly_calibrated_answers_have_an_ece_near_zero():
    rnd = random.Random(3)
    records = []
    for _ in range(20000):
        p = rnd.random()
        records.append(_rec(p, rnd.random() < p))
    assert cal.reliability(records)["ece"] < 0.06  # within-bin spread only: bins are 0.1-0.5 wide
    finer = cal.reliability(records, bins=tuple(np.linspace(0, 1, 21)))
    assert finer["ece"] < 0.02


def test_labels_follow_the_stored_cut_offs():
    c = cal.Calibration(high=0.8, medium=0.5)
    assert [c.label(v, True) for v in (0.8, 0.7999, 0.5, 0.4999, 0.0)] == ["high", "medium", "medium", "low", "low"]
    shipped = cal.load()
    assert confidence_label(shipped.high, True) == "high"
    assert confidence_label(shipped.high - 0.005, True) == "medium"
    assert confidence_label(shipped.medium, True) == "medium"
    assert confidence_label(shipped.medium - 0.005, True) == "low"
    data = json.loads(NOT_FOUND_FILE.read_text(encoding="utf-8"))["calibration"]
    assert (shipped.high, shipped.medium) == (data["labels"]["high"], data["labels"]["medium"])


def test_a_not_found_answer_is_labelled_not_in_the_document():
    assert confidence_label(0.99, False) == "not in the document"
    assert cal.Calibration(high=0.1, medium=0.0).label(1.0, False) == "not in the document"


def test_answer_to_dict_still_carries_confidence_and_its_label():
    p = Passage(id=1, text="园里收获苹果三百吨。", score=1.0, section="苹果")
    high = Answer(question="q", found=True, text=p.text, passages=[p], confidence=0.97, passage_id=1, start=0, end=len(p.text))
    d = high.to_dict()
    assert d["confidence"] == 0.97 and d["confidence_label"] == "high"
    assert Answer(question="q", found=True, text=p.text, passages=[p], confidence=0.3).to_dict()["confidence_label"] == "low"
    none = Answer(question="q", found=False, text="", passages=[p], confidence=0.1).to_dict()
    assert none["confidence"] == 0.1 and none["confidence_label"] == "not in the document"


def test_platt_fit_recovers_a_known_map_and_refuses_what_it_cannot_fit():
    rng = np.random.default_rng(0)
    z = rng.uniform(-3, 5, 20000)
    y = rng.random(len(z)) < 1 / (1 + np.exp(-(1.5 * z - 2.0)))
    m = cal.fit_map(z, y)
    assert m.slope == pytest.approx(1.5, abs=0.1) and m.intercept == pytest.approx(-2.0, abs=0.15)
    with pytest.raises(ValueError, match="does not increase"):
        cal.fit_map(z, ~y)
    with pytest.raises(ValueError, match="two right and two wrong"):
        cal.fit_map([1.0, 2.0, 3.0], [True, True, True])


def test_group_weights_make_each_dataset_weigh_the_same():
    w = cal.group_weights(["a"] * 30 + ["b"] * 10)
    assert w[:30].sum() == pytest.approx(w[30:].sum()) and w.sum() == pytest.approx(40)


def test_the_high_cut_off_holds_in_every_set():
    # Set a: right 95% from 0.8 up; set b: only 85% at 0.8-0.9 but 97% from 0.9 up.
    conf, right, groups = [], [], []
    for name, lo_acc in (("a", 0.95), ("b", 0.85)):
        for i in range(100):
            conf.append(0.85)
            right.append(i < lo_acc * 100)
            groups.append(name)
        for i in range(100):
            conf.append(0.95)
            right.append(i < 97)
            groups.append(name)
        for i in range(100):  # medium answers, often wrong
            conf.append(0.6)
            right.append(i < 50)
            groups.append(name)
    assert cal.choose_high(conf, right, groups) == 0.86  # 0.85 would give set b 0.91 (182 of 200: shown only 0.88)
    # Pooled, 0.935 from 0.85 down; no answer lies between 0.6 and 0.85, so the lowest cut keeping them is 0.61.
    assert cal.choose_high(conf, right, ["x"] * len(conf)) == 0.61
    assert cal.choose_high([0.6] * 50, [True] * 25 + [False] * 25) == 1.0  # nothing reaches it: no high label


def test_a_share_right_is_shown_only_with_enough_answers():
    """90% right is shown by 277 of 300 answers, by 76 of 80, and by no fewer than all of 20."""
    assert cal.wilson_lower(277, 300) >= 0.9 > cal.wilson_lower(276, 300)
    assert cal.wilson_lower(76, 80) >= 0.9 > cal.wilson_lower(75, 80)
    assert cal.wilson_lower(20, 20) >= 0.9 > cal.wilson_lower(19, 20)
    assert cal.wilson_lower(0, 0) == 0.0
    # The same share right (0.95) passes with 300 answers above the cut and fails with 20.
    conf = [0.95] * 300 + [0.6] * 100
    right = [i % 20 != 0 for i in range(300)] + [False] * 100
    assert cal.choose_high(conf, right) == 0.61
    assert cal.choose_high([0.95] * 20 + [0.6] * 10, [i != 0 for i in range(20)] + [False] * 10) == 1.0


def _samples(path: str, group: str, n: int, seed: int, slope: float = 1.2, intercept: float = -1.5):
    rng = np.random.default_rng(seed)
    z = rng.uniform(0, 5, n)
    y = rng.random(n) < 1 / (1 + np.exp(-(slope * z + intercept)))
    return [cal.Sample(path, group, float(a), bool(b), name=group) for a, b in zip(z, y)]


def test_fit_calibration_gives_each_path_its_map_and_high_answers_their_accuracy():
    samples = _samples("reader", "a", 800, 1) + _samples("reader", "b", 400, 2)
    samples += _samples("fast", "a", 800, 3, 0.6, -1.2) + _samples("fast", "b", 400, 4, 0.6, -1.2)
    samples += [cal.Sample("reader", "a", 2.0, i < 8, quoted=True, name="a") for i in range(10)]
    fitted = cal.fit_calibration(samples)
    assert fitted.maps["reader"].slope == pytest.approx(1.2, abs=0.3)
    assert fitted.maps["fast"].slope == pytest.approx(0.6, abs=0.2)
    assert fitted.quoted == 0.8
    for path, rows in cal.figures(samples, fitted).items():
        for name, m in rows.items():
            if m["high"]["n"] >= 20:
                right = round(m["high"]["accuracy"] * m["high"]["n"])
                assert cal.wilson_lower(right, m["high"]["n"]) >= cal.HIGH_PROMISE, (path, name)
            if m["low"]["n"] >= 20:
                assert m["low"]["accuracy"] < 0.5, (path, name)
    lodo = cal.leave_one_out(samples)
    assert set(lodo["reader"]) == set(lodo["fast"]) == {"a", "b"}


def test_samples_come_from_dev_reports_only():
    report = {
        "split": "dev", "document": "/x/doc.txt",
        "records": {
            "reader": [{**_rec(0.9, True), "evidence": 3.0, "signals": {"reader": 0.5}, "tags": ["dataset:cmrc2018"]},
                       {**_rec(0.2, False, found=False), "evidence": -1.0, "signals": {"reader": -0.5}, "tags": []}],
            "hybrid": [{**_rec(0.9, False), "evidence": 2.0, "signals": {"heading": 1.0}, "tags": []}],
            "bm25": [{**_rec(0.9, True), "evidence": 2.0, "signals": {}, "tags": []}],
        },
    }
    samples = confidence_samples(report, name="set1")
    assert [(s.path, s.group, s.evidence, s.right, s.quoted, s.name) for s in samples] == [
        ("reader", "cmrc2018", 3.0, True, False, "set1"),  # the declined question and bm25's answers are left out
        ("fast", "cmrc2018", 2.0, False, True, "set1"),
    ]
    with pytest.raises(ValueError, match="dev splits only"):
        confidence_samples({**report, "split": "test"})
    with pytest.raises(ValueError, match="neither"):
        confidence_samples({**report, "records": {"bm25": []}})


def test_save_keeps_the_data_files_other_keys_and_loads_back(tmp_path):
    path = tmp_path / "not_found.json"
    original = json.loads(NOT_FOUND_FILE.read_text(encoding="utf-8"))
    path.write_text(json.dumps(original), encoding="utf-8")
    fitted = cal.Calibration(maps={"reader": cal.ConfidenceMap(1.3, -1.4), "fast": cal.ConfidenceMap(0.5, -1.0)}, high=0.88, quoted=0.8)
    cal.save(fitted, path, about="test")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert {k: v for k, v in data.items() if k != cal.KEY} == {k: v for k, v in original.items() if k != cal.KEY}
    assert data[cal.KEY]["about"] == "test"
    assert cal.load(path) == fitted


def _report_file(tmp_path, name: str, split: str, seed: int):
    recs = {"reader": [], "hybrid": []}
    for s in _samples("reader", name, 300, seed):
        recs["reader"].append({**_rec(0.0, s.right), "evidence": s.evidence, "signals": {"reader": 0.1}, "tags": []})
    for s in _samples("fast", name, 300, seed + 10, 0.6, -1.0):
        recs["hybrid"].append({**_rec(0.0, s.right), "evidence": s.evidence, "signals": {}, "tags": []})
    folder = tmp_path / name
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps({"split": split, "document": name, "records": recs}), encoding="utf-8")
    return folder


def test_cli_fits_on_dev_reports_and_saves_into_the_data_file(tmp_path, capsys):
    a, b = _report_file(tmp_path, "a", "dev", 1), _report_file(tmp_path, "b", "dev", 2)
    target = tmp_path / "nf.json"
    target.write_text(json.dumps({"signals": ["x"], "weights": {"x": 1.0}}), encoding="utf-8")
    assert main(["eval", "--fit-confidence", str(a), str(b / "report.json"), "--save-confidence", str(target)]) == 0
    out = capsys.readouterr().out
    assert '"reader"' in out and "ECE" in out and "fitted without the dataset" in out
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["weights"] == {"x": 1.0}
    saved = cal.Calibration.from_dict(data[cal.KEY])
    assert saved.maps["reader"].slope > saved.maps["fast"].slope > 0
    assert "--fit-confidence" in data[cal.KEY]["about"]


def test_cli_refuses_a_test_report_and_a_stray_save(tmp_path, capsys):
    t = _report_file(tmp_path, "t", "test", 3)
    assert main(["eval", "--fit-confidence", str(t)]) == 1
    assert "dev splits only" in capsys.readouterr().err
    assert main(["eval", "--save-confidence", str(tmp_path / "x.json")]) == 1
    assert "--save-confidence goes with --fit-confidence" in capsys.readouterr().err


DOC = """苹果报告

苹果园今年收获苹果三百吨。

香蕉报告

香蕉仓库存放香蕉五十箱。
"""


def test_answers_carry_the_calibrated_confidence_and_eval_reports_its_reliability(tmp_path):
    path = tmp_path / "fruit.txt"
    path.write_text(DOC, encoding="utf-8")
    index = load_index(path, encoder=HashEncoder(), settings=Settings(home=tmp_path / "home"))
    accept = RetrievalConfig(not_found_threshold=-100.0, reader=False)
    answer = index.ask("苹果园收获苹果多少吨", config=accept)
    assert answer.confidence == pytest.approx(cal.load().maps["fast"](answer.evidence))
    questions = [
        {"id": "a", "question": "苹果园收获苹果多少吨", "answers": ["三百吨"]},
        {"id": "b", "question": "香蕉仓库存放香蕉几箱", "answers": ["五十箱"]},
        {"id": "u", "question": "西瓜田有多大", "answers": []},
    ]
    report = evaluate(questions, index=index, retrievers=["hybrid", "bigram"], config=accept)
    rel = report.reliability["hybrid"]
    assert "bigram" not in report.reliability  # a ranking-only baseline gives no answers
    assert rel["answers"] == 3 and sum(b["n"] for b in rel["bins"]) == 3
    assert sum(rel["labels"][k]["n"] for k in cal.LABELS) == 3
    assert "expected calibration error" in format_reliability(report)
    folder = write_report(report, tmp_path / "rep")
    assert (folder / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Confidence" in (folder / "report.md").read_text(encoding="utf-8")
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert data["reliability"]["hybrid"]["answers"] == 3
