"""Confidence: the probability that an answer is right, mapped from the not-found evidence; its labels, fit and reliability.

The not-found model's evidence (its log-odds, `Answer.evidence`) says how answerable a
question looks, not how often the answer shown is right. `Calibration` maps it to the
second: Platt scaling, ``P(right) = sigmoid(slope * evidence + intercept)``, one map for
the reader's path and one for the path without it (their evidence has different scales:
`qa.notfound.evidence` picks its weights by whether the signal ``"reader"`` is present),
fitted on the dev sets (`fit_calibration`; ``docqa eval --fit-confidence``). The label
cut-offs (high / medium / low) are on that probability and stored next to the maps in
``qa/data/not_found.json`` under ``"calibration"``.

"Right" is the evaluation's answer accuracy: an answer was given and a reference answer
lies inside it; an answer to an unanswerable question is wrong.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from qa.settings import NOT_FOUND_FILE

KEY = "calibration"  # the data file's key
PATHS = ("reader", "fast")  # the reader's path (the default) and the path without it
LABELS = ("high", "medium", "low")
NOT_FOUND = "not in the document"
# Reliability bins over the calibrated probability: low answers together, finer near the top.
BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 1.0)
HIGH_PROMISE = 0.90  # answers labelled high are right at least this often
# ...and on dev that is shown with one-sided 90% confidence (Wilson's lower bound, z = 1.28),
# not by the point estimate: a 0.92 point estimate (the margin used before) on CMRC 2018
# trial's 82 dev answers became 0.873 on its 79 test answers, within that set's noise.
HIGH_Z = 1.28

# Before a map is fitted: the not-found model's own sigmoid and the old fixed cut-offs.
_QUOTED_FALLBACK = 0.9  # qa.notfound.QUOTED_CONFIDENCE


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True)
class ConfidenceMap:
    """Platt scaling: ``P(right) = sigmoid(slope * evidence + intercept)``; monotone when ``slope > 0``."""

    slope: float = 1.0
    intercept: float = 0.0

    def __call__(self, evidence: float) -> float:
        return _sigmoid(self.slope * float(evidence) + self.intercept)


@dataclass(frozen=True)
class Calibration:
    """The maps per path, the label cut-offs on their probability, and the value of a quoted answer."""

    maps: Mapping[str, ConfidenceMap] = field(default_factory=lambda: {p: ConfidenceMap() for p in PATHS})
    high: float = 0.75  # confidence >= high: "high"
    medium: float = 0.5  # confidence >= medium: "medium"; below: "low" (probably not right)
    quoted: float = _QUOTED_FALLBACK  # a heading or caption quoted outright (not scored by the model)

    def confidence(self, evidence: float, signals: Mapping[str, float] | None = None) -> float:
        """P(right) of an answer with this evidence, on the path its signals come from."""
        return self.maps[path_of(signals or {})](evidence)

    def label(self, confidence: float, found: bool) -> str:
        """The label of an answer: "high", "medium", "low", or "not in the document" when nothing was found."""
        if not found:
            return NOT_FOUND
        if confidence >= self.high:
            return "high"
        if confidence >= self.medium:
            return "medium"
        return "low"

    def to_dict(self) -> dict:
        out: dict = {p: {"slope": round(m.slope, 5), "intercept": round(m.intercept, 5)} for p, m in self.maps.items()}
        out["labels"] = {"high": self.high, "medium": self.medium}
        out["quoted"] = self.quoted
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Calibration:
        """From the data file's ``"calibration"`` object.

        Raises:
            ValueError: a map or cut-off is missing, not a number, not monotone, or
                the cut-offs are out of order.
        """
        try:
            maps = {p: ConfidenceMap(float(data[p]["slope"]), float(data[p]["intercept"])) for p in PATHS}
            high, medium = float(data["labels"]["high"]), float(data["labels"]["medium"])
            quoted = float(data.get("quoted", _QUOTED_FALLBACK))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"calibration: needs {', '.join(PATHS)} maps (slope, intercept) and labels (high, medium): {exc}") from None
        for p, m in maps.items():
            if not (math.isfinite(m.slope) and math.isfinite(m.intercept)) or m.slope <= 0:
                raise ValueError(f"calibration.{p}: slope must be a positive number (a monotone map), got {m.slope}")
        if not 0.0 <= medium <= high <= 1.0:
            raise ValueError(f"calibration.labels: need 0 <= medium <= high <= 1, got medium {medium}, high {high}")
        if not 0.0 <= quoted <= 1.0:
            raise ValueError(f"calibration.quoted: must be between 0 and 1, got {quoted}")
        return cls(maps=maps, high=high, medium=medium, quoted=quoted)


def path_of(signals: Mapping[str, float]) -> str:
    """The path an answer's signals come from: "reader" when the reader's margin is among them, else "fast"."""
    return "reader" if "reader" in signals else "fast"


@functools.lru_cache(maxsize=4)
def load(path: str | Path = NOT_FOUND_FILE) -> Calibration:
    """The shipped calibration (the defaults when the data file has none yet)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return Calibration.from_dict(data[KEY]) if KEY in data else Calibration()


def confidence(evidence: float, signals: Mapping[str, float] | None = None) -> float:
    """P(right) of an answer, from its evidence and signals, by the shipped map."""
    return load().confidence(evidence, signals)


def label(confidence: float, found: bool) -> str:
    """The label of an answer by the shipped cut-offs (see `Calibration.label`)."""
    return load().label(confidence, found)


def quoted_confidence() -> float:
    """The fixed confidence of an answer quoted outright (a heading, a caption)."""
    return load().quoted


# -- measuring -------------------------------------------------------------------


def is_right(record) -> bool:
    """Whether an evaluated question's answer is right: given, and a reference answer inside it.

    `record` is a `qa.evaluation.Record` or its dict (``found``, ``answerable``, ``metrics``).
    """
    get = record.get if isinstance(record, Mapping) else lambda k, d=None: getattr(record, k, d)
    return bool(get("found")) and bool(get("answerable")) and bool((get("metrics") or {}).get("answer_acc"))


def reliability(records: Iterable, *, bins: Sequence[float] = BINS, calibration: Calibration | None = None) -> dict:
    """How well the confidences of evaluated answers match how often they are right.

    Args:
        records: evaluated questions (`qa.evaluation.Record`s or their dicts: ``found``,
            ``confidence``, ``answerable``, ``metrics``); a ranking-only baseline's
            (``found`` None) are skipped.
        bins: edges over the confidence; the last bin holds 1.0.
        calibration: whose label cut-offs to use (the shipped ones when omitted).

    Returns:
        See `reliability_table`; "not in the document" counts the declined questions
        and the share of them the document indeed does not answer.
    """
    rows = [r for r in records if _get(r, "found") is not None]
    answers = [(float(_get(r, "confidence")), is_right(r)) for r in rows if _get(r, "found")]
    declined = [bool(_get(r, "answerable")) for r in rows if not _get(r, "found")]
    return reliability_table(answers, declined=declined, bins=bins, calibration=calibration)


def reliability_table(
    answers: Sequence[tuple[float, bool]], *, declined: Sequence[bool] = (), bins: Sequence[float] = BINS,
    calibration: Calibration | None = None,
) -> dict:
    """The reliability of answers given as ``(confidence, right)``; `declined`: whether each declined question was answerable.

    Returns:
        ``{"answers", "ece", "bins": [{"lo", "hi", "n", "confidence", "accuracy"}],
        "labels": {label: {"n", "confidence", "accuracy"}}}``: per bin the answers,
        their mean confidence and the share right (NaN for an empty bin); ``ece`` the
        expected calibration error, the bins' gaps between accuracy and mean
        confidence weighted by their answers; per label (high, medium, low, and "not in
        the document" for the declined, whose accuracy is the share rightly declined)
        its questions and share right.
    """
    cal = calibration or load()
    nan = float("nan")
    table = []
    for i, (lo, hi) in enumerate(zip(bins[:-1], bins[1:])):
        last = i == len(bins) - 2
        inside = [(c, y) for c, y in answers if lo <= c < hi or (last and c == hi)]
        table.append({
            "lo": lo, "hi": hi, "n": len(inside),
            "confidence": float(np.mean([c for c, _ in inside])) if inside else nan,
            "accuracy": float(np.mean([y for _, y in inside])) if inside else nan,
        })
    gaps = sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in table if b["n"])
    labels: dict[str, dict] = {}
    for name in LABELS:
        mine = [(c, y) for c, y in answers if cal.label(c, True) == name]
        labels[name] = {
            "n": len(mine),
            "confidence": float(np.mean([c for c, _ in mine])) if mine else nan,
            "accuracy": float(np.mean([y for _, y in mine])) if mine else nan,
        }
    labels[NOT_FOUND] = {
        "n": len(declined), "confidence": nan,
        "accuracy": float(np.mean([not a for a in declined])) if len(declined) else nan,
    }
    return {"answers": len(answers), "ece": float(gaps / len(answers)) if answers else nan, "bins": table, "labels": labels}


def _get(record, key: str):
    return record.get(key) if isinstance(record, Mapping) else getattr(record, key)


# -- fitting ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One answer given on a dev set: its path, dataset, evidence, whether it was right, whether it was quoted."""

    path: str  # "reader" or "fast"
    group: str  # the dataset: groups weigh the same in the fit
    evidence: float
    right: bool
    quoted: bool = False  # a heading or caption quoted outright: `Calibration.quoted`, not the map
    name: str = ""  # the question set it comes from, for the figures per set


def group_weights(groups: Sequence[str]) -> np.ndarray:
    """Weights that make each group (dataset) weigh the same whatever its size, summing to ``len(groups)``."""
    sizes = {g: groups.count(g) for g in set(groups)}
    return np.array([len(groups) / (len(sizes) * sizes[g]) for g in groups], dtype=np.float64)


def fit_map(evidence: Sequence[float], right: Sequence[bool], weights: Sequence[float] | None = None) -> ConfidenceMap:
    """Platt scaling: a weighted 1-D logistic regression of `right` on `evidence` (Newton's method).

    Raises:
        ValueError: fewer than two answers of each kind, or the fit is not increasing
            in the evidence (no monotone map to give).
    """
    z = np.asarray(evidence, dtype=np.float64)
    y = np.asarray(right, dtype=np.float64)
    w = np.ones_like(z) if weights is None else np.asarray(weights, dtype=np.float64)
    if y.sum() < 2 or (1 - y).sum() < 2:
        raise ValueError("calibration: need at least two right and two wrong answers to fit a map")
    x = np.stack([z, np.ones_like(z)], axis=1)
    theta = np.zeros(2)
    ridge = np.diag([1e-6, 0.0]) * w.sum()  # keeps a separable set finite; far below the data's weight
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -50, 50)))
        grad = x.T @ (w * (p - y)) + ridge @ theta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + ridge
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    if not theta[0] > 0:
        raise ValueError(f"calibration: P(right) does not increase with the evidence (slope {theta[0]:.3f})")
    return ConfidenceMap(float(theta[0]), float(theta[1]))


def wilson_lower(right: int, n: int, z: float = HIGH_Z) -> float:
    """Wilson's lower confidence bound on a share: `right` of `n`, one-sided at `z` (1.28: 90%)."""
    if n <= 0:
        return 0.0
    p = right / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def choose_high(
    confidence: Sequence[float], right: Sequence[bool], groups: Sequence[str] | None = None, *,
    promise: float = HIGH_PROMISE, z: float = HIGH_Z, floor: float = 0.5, min_answers: int = 20,
) -> float:
    """The lowest cut-off (on a 0.01 grid, from `floor`) at which, in every group, the answers labelled high are shown to be right `promise` of the time.

    Shown: the Wilson lower bound (`wilson_lower`, one-sided at `z`) of the share right
    is at least `promise`, so that the cut does not rest on a lucky sample: the fewer
    the answers above it, the higher their share right must be (20 answers need all 20
    right; 80 need 76, 0.95; 300 need 277, 0.923). Groups (a question set on one path) with fewer than
    `min_answers` answers at or above a cut are too small to measure and do not count
    (with none big enough, all answers together decide). The cut is the lowest of a
    run of passing cuts from the top down, so a lucky cut below an unlucky one is never
    chosen. When none passes, 1.0: nothing is labelled high.
    """
    c = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(right, dtype=bool)
    g = np.asarray(list(groups) if groups is not None else [""] * len(c))
    best = 1.0
    for cut in np.round(np.arange(0.99, floor - 1e-9, -0.01), 2):  # from the top down
        above = c >= cut
        if not above.any():
            continue
        sized = [above & (g == name) for name in np.unique(g) if (above & (g == name)).sum() >= min_answers]
        if all(wilson_lower(int(y[m].sum()), int(m.sum()), z) >= promise for m in sized or [above]):
            best = float(cut)
        elif sized:  # a miss among fewer answers is noise, not a reason to stop
            break
    return best


def fit_calibration(samples: Sequence[Sample], *, promise: float = HIGH_PROMISE, medium: float = 0.5) -> Calibration:
    """Fit the maps and the high cut-off on dev answers (`Sample`s of both paths), each dataset weighing the same.

    Each path's map is fitted on its answers that the model scored (quoted ones keep a
    fixed value: the share of the quoted dev answers that were right). The high cut-off
    is the lowest at which the answers labelled high are shown to be right `promise` of
    the time (at one-sided 90% confidence) on every question set (`Sample.name`) and
    path (`choose_high`; quoted answers included, as they carry labels too). "Low" is below `medium`, 0.5: probably not
    right. One cut-off serves both paths because each path's map is calibrated: the
    label reads the probability, not the path.

    Raises:
        ValueError: a path has no samples, or its map cannot be fitted (see `fit_map`).
    """
    maps = {}
    for path in PATHS:
        scored = [s for s in samples if s.path == path and not s.quoted]
        if not scored:
            raise ValueError(f"calibration: no dev answers of the {path} path to fit on")
        weights = group_weights([s.group for s in scored])
        maps[path] = fit_map([s.evidence for s in scored], [s.right for s in scored], weights)
    quoted = [s for s in samples if s.quoted]
    quoted_value = round(float(np.mean([s.right for s in quoted])), 2) if quoted else _QUOTED_FALLBACK
    conf = [quoted_value if s.quoted else maps[s.path](s.evidence) for s in samples]
    sets = [f"{s.path}/{s.name or s.group}" for s in samples]
    high = choose_high(conf, [s.right for s in samples], sets, promise=promise, floor=medium)
    return Calibration(maps=maps, high=high, medium=medium, quoted=quoted_value)


def figures(samples: Sequence[Sample], calibration: Calibration, *, by: str = "name") -> dict[str, dict[str, dict]]:
    """Per path and per set (`by` a `Sample` field): answers, ECE and each label's answers and accuracy under `calibration`."""
    out: dict[str, dict[str, dict]] = {}
    for path in PATHS:
        mine = [s for s in samples if s.path == path]
        for key in sorted({getattr(s, by) for s in mine}):
            part = [s for s in mine if getattr(s, by) == key]
            answers = [(calibration.quoted if s.quoted else calibration.maps[path](s.evidence), s.right) for s in part]
            out.setdefault(path, {})[key] = _brief(reliability_table(answers, calibration=calibration))
    return out


def leave_one_out(samples: Sequence[Sample], **options) -> dict[str, dict[str, dict]]:
    """Per path and dataset (group): the figures of a calibration fitted on the other datasets only."""
    out: dict[str, dict[str, dict]] = {}
    for group in sorted({s.group for s in samples}):
        held = [s for s in samples if s.group == group]
        cal = fit_calibration([s for s in samples if s.group != group], **options)
        for path, rows in figures(held, cal, by="group").items():
            out.setdefault(path, {}).update({group: {**rows[group], "high_cut": cal.high}})
    return out


def _brief(table: dict) -> dict:
    out = {"answers": table["answers"], "ece": round(table["ece"], 4)}
    for name in LABELS:
        lab = table["labels"][name]
        out[name] = {"n": lab["n"], "accuracy": round(lab["accuracy"], 4) if lab["n"] else None}
    return out


def save(calibration: Calibration, path: str | Path, *, about: str) -> Path:
    """Write `calibration` under ``"calibration"`` in the JSON data file at `path`, keeping its other keys.

    Written to a temporary file and renamed over the old one; `about` (how it was
    fitted) is stored with it.

    Raises:
        ValueError: the file exists but does not hold a JSON object.
    """
    target = Path(path)
    data = json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}
    if not isinstance(data, dict):
        raise ValueError(f"{target}: does not hold a JSON object; not overwritten")
    data[KEY] = {"about": about, **calibration.to_dict()}
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    load.cache_clear()
    return target
