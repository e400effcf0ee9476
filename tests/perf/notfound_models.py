"""Which kind of not-found model ranks the dev questions best: the shipped logistic model or others.

The reader path's records of every dev set (the bundled document's dev questions; the
public sets' dev articles with answer sentences removed, draws ``--rounds``: draw 0 gives the
answerable questions, every draw more unanswerable ones) are scored 2-fold by question
(article for the public sets): each model is fitted on one half and measured on the other.
Two figures per set, answerable / unanswerable declined at the one bar that declines at
most ``--budgets`` of every set's answerable questions in the fitting half (what the
product does: one bar for every kind of document), and in brackets the unanswerable declined
at the set's own bar declining 3% of its answerable questions (the ranking alone).

    python -m tests.perf.notfound_models --rounds 0,1,2,3,4,5,6,7,8 --save /tmp/nf.jsonl  # ~25 min on 2 cores
    python -m tests.perf.notfound_models --records /tmp/nf.jsonl                          # the comparison alone
    python -m tests.perf.notfound_models --records /tmp/nf.jsonl --models logistic,refit,"tail loss" \
        --budgets 0.01,0.015,0.02,0.025 --splits 3                                        # the trade-off, 3 splits

Only dev splits are read. "shipped" is the shipped weights as they are (fitted on draw 0 of
these dev sets, so in-sample there); "refit" the shipped procedure (`fit_not_found`,
refined); "logistic" and "logistic × language" plain sklearn logistic models (the second
with every signal also multiplied by the question's Chinese share); "trees" gradient-boosted
trees (sklearn's HistGradientBoostingClassifier) of depth 2 and 3; "tail loss" the
logistic fit refined by a smooth pairwise loss instead of the random search (`tail_refine`).

Models land at different answerable declines for the same budget, so compare them at the
same held-out answerable declines: ``--budgets`` fits each at several budgets, and each row
ends with the most answerable questions any set loses and the mean unanswerable declined.
``--splits N`` averages N different 2-fold partitions (the first is the one above).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import zlib
from dataclasses import asdict, replace
from types import SimpleNamespace

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GROUP = {"bundled": "bundled", "cmrc_trial": "cmrc2018", "cmrc_dev_part": "cmrc2018", "drcd": "drcd"}


def collect(rounds: list[int]) -> list[dict]:
    """The reader path's records of the dev sets, answerable ones from draw 0 only."""
    from qa.settings import RetrievalConfig
    from tests.perf.tune import load_sets, run

    out = []
    for k in rounds:
        for name, result in run(load_sets(None, removal_round=k), RetrievalConfig(reader=True)).items():
            for rec in result["_records"]:
                if k and rec.answerable:
                    continue
                out.append(dict(asdict(rec), set=name, round=k))
        print(f"draw {k}: {len(out)} records", file=sys.stderr, flush=True)
    return out


def _fold(r, salt: str = "") -> int:
    return zlib.crc32((salt + r.id.split("#")[0]).encode()) % 2


def _kept(rows):
    """What `qa.notfound.fit_logistic` fits on: answerable questions retrieved right, and every unanswerable one."""
    return [r for r in rows if not r.answerable or r.metrics.get("hit@1")]


def _weights(rows):
    """Each (dataset group, answerable) cell weighs the same."""
    cells = collections.Counter((GROUP[r.set], r.answerable) for r in rows)
    return np.array([1.0 / cells[(GROUP[r.set], r.answerable)] for r in rows])


def models(budget: float) -> dict:
    from qa import notfound
    from qa.settings import RetrievalConfig

    names = list(notfound.signals())
    config = RetrievalConfig(reader=True)

    def features(r, inter: bool):
        x = [r.signals.get(n, 0.0) for n in names]
        return x + [v * r.signals.get("lang", 0.0) for v in x] if inter else x

    def shipped(train):
        return lambda r: notfound.evidence(r.signals, config)

    def refit(train):
        w = notfound.fit_not_found(train, groups=[GROUP[r.set] for r in train], max_wrongly_rejected=budget, refine=True)
        cfg = replace(config, not_found_weights=w)
        return lambda r: notfound.evidence(r.signals, cfg)

    def tail(train):
        labels = [GROUP[r.set] for r in train]
        w = notfound.fit_not_found(train, groups=labels, max_wrongly_rejected=budget)
        w = tail_refine(train, w, labels, budget)
        cfg = replace(config, not_found_weights=w)
        return lambda r: notfound.evidence(r.signals, cfg)

    def sk(make, inter=False):
        def fit(train):
            rows = _kept(train)
            x = np.array([features(r, inter) for r in rows])
            y = np.array([r.answerable for r in rows])
            model = make().fit(x, y, **{_last_step(make): _weights(rows)})
            return lambda r: float(model.decision_function(np.array([features(r, inter)]))[0])
        return fit

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def logistic():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))

    return {
        "shipped": shipped,
        "refit": refit,
        "tail loss": tail,
        "logistic": sk(logistic),
        "logistic × language": sk(logistic, inter=True),
        "trees, depth 2": sk(lambda: HistGradientBoostingClassifier(max_depth=2, max_iter=150, learning_rate=0.05, random_state=0)),
        "trees, depth 3": sk(lambda: HistGradientBoostingClassifier(max_depth=3, max_iter=200, learning_rate=0.05,
                                                                    min_samples_leaf=20, random_state=0)),
    }


def _last_step(make) -> str:
    """The fit keyword that passes sample weights: a pipeline names its last step."""
    model = make()
    return f"{model.steps[-1][0]}__sample_weight" if hasattr(model, "steps") else "sample_weight"


def tail_refine(records, weights: dict, labels: list[str], budget: float, *, tail: float = 0.15, tau: float = 0.3,
                pull: float = 0.05, steps: int = 600) -> dict:
    """The logistic weights' direction moved to rank unanswerable questions below the lowest answerable ones.

    Softplus of (unanswerable − answerable score) / `tau`, scores scaled to unit spread, each
    answerable question (retrieved right) weighed by how far it lies in the lowest `tail` of
    its group's scores, each group the same, pulled towards the logistic direction (Adam).
    The bar is then set as `qa.notfound.fit_logistic` sets it. Tried, not shipped (docs/reader.md).
    """
    from qa import notfound

    names = list(notfound.signals())
    x = np.array([[r.signals.get(s, 0.0) for s in names] for r in records])
    labels = np.array(labels)
    answerable = np.array([bool(r.answerable) for r in records])
    usable = np.array([not r.answerable or bool(r.metrics.get("hit@1")) for r in records])
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    xs = (x - mu) / sd
    start = np.array([weights.get(s, 0.0) for s in names]) * sd
    start /= np.linalg.norm(start)
    wa, wu = np.zeros(len(x)), np.zeros(len(x))
    for g in np.unique(labels):
        pos, neg = (labels == g) & answerable & usable, (labels == g) & ~answerable
        wa[pos], wu[neg] = 1.0 / max(1, pos.sum()), 1.0 / max(1, neg.sum())
    ia, iu = np.flatnonzero(wa), np.flatnonzero(wu)
    xa, xu, wa, wu = xs[ia], xs[iu], wa[ia], wu[iu]
    v, m1, m2 = start.copy(), np.zeros(len(names)), np.zeros(len(names))
    for t in range(1, steps + 1):
        norm = np.linalg.norm(v)
        u = v / norm
        z = xs @ u
        spread = float(z.std())
        za, zu = xa @ u / spread, xu @ u / spread
        ta = wa / (1.0 + np.exp(-(np.quantile(za, tail) - za) / 0.2))
        gz = (ta[:, None] * wu[None, :] / (ta.sum() * wu.sum())) / (1.0 + np.exp(-(zu[None, :] - za[:, None]) / tau)) / tau
        g_zu, g_za = gz.sum(axis=0), -gz.sum(axis=1)
        d_spread = xs.T @ (z - z.mean()) / (len(z) * spread)
        gu = (xu.T @ g_zu + xa.T @ g_za) / spread - (g_za @ za + g_zu @ zu) * d_spread / spread + 2.0 * pull * (u - start)
        gv = (gu - u * (u @ gu)) / norm
        m1, m2 = 0.9 * m1 + 0.1 * gv, 0.999 * m2 + 0.001 * gv**2
        v = v - 0.02 * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-8)
    w = v / np.linalg.norm(v) / sd
    # On the logistic fit's scale: the evidence is clamped at -1 for off-topic questions.
    w *= np.linalg.norm(np.array([weights.get(s, 0.0) for s in names]) * sd) / np.linalg.norm(w * sd)
    out = {s: float(val) for s, val in zip(names, w)}
    out["bias"] = -notfound._bar(x @ w, answerable, labels, budget)
    return out


def compare(records: list[dict], budget: float, *, splits: int = 1, only: list[str] | None = None) -> dict:
    rows = [SimpleNamespace(**r) for r in records]
    out = {}
    for name, fitter in models(budget).items():
        if only and name not in only:
            continue
        per = collections.defaultdict(list)
        for salt, k in ((str(i) if i else "", k) for i in range(splits) for k in (0, 1)):
            train = [r for r in rows if _fold(r, salt) != k]
            test = [r for r in rows if _fold(r, salt) == k]
            score = fitter(train)
            s_train = np.array([score(r) for r in train])
            bars = []
            for g in set(GROUP.values()):
                a = np.sort([v for v, r in zip(s_train, train) if r.answerable and GROUP[r.set] == g])
                bars.append(a[int(np.floor(budget * len(a)))])
            bar = min(bars)
            for n in GROUP:
                rs = [r for r in test if r.set == n]
                s = np.array([score(r) for r in rs])
                ans = np.array([r.answerable for r in rs])
                own = np.sort(s[ans])[int(np.floor(0.03 * ans.sum()))]
                per[n].append((np.mean(s[ans] < bar), np.mean(s[~ans] < bar), np.mean(s[~ans] < own)))
        out[name] = {n: [float(np.mean([v[i] for v in vals])) for i in range(3)] for n, vals in per.items()}
        worst = max(v[0] for v in out[name].values())
        mean = float(np.mean([v[1] for v in out[name].values()]))
        print(f"{name:22s}{budget:<7.4g}" + "  ".join(f"{n} {a:.1%} / {u:.1%} ({o:.1%})" for n, (a, u, o) in out[name].items())
              + f"  | most answerable declined {worst:.1%}, mean unanswerable declined {mean:.1%}", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", default="0,1,2,3,4,5,6,7,8", help="draws of removed answer sentences (0 first)")
    parser.add_argument("--records", help="read the records from this file instead of collecting them")
    parser.add_argument("--save", help="write the collected records here (JSON lines)")
    parser.add_argument("--budgets", default="0.015", help="shares of each set's answerable questions the one bar may decline (comma-separated)")
    parser.add_argument("--splits", type=int, default=1, help="2-fold partitions to average (different article halves)")
    parser.add_argument("--models", default="", help="only these models (comma-separated names as printed)")
    args = parser.parse_args(argv)
    if args.records:
        with open(args.records, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    else:
        records = collect([int(x) for x in args.rounds.split(",") if x.strip()])
        if args.save:
            with open(args.save, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    counts = collections.Counter((r["set"], r["answerable"]) for r in records)
    print("records: " + ", ".join(f"{n} {counts[(n, True)]} answerable / {counts[(n, False)]} unanswerable" for n in GROUP))
    only = [m.strip() for m in args.models.split(",") if m.strip()]
    for budget in (float(b) for b in args.budgets.split(",")):
        compare(records, budget, splits=args.splits, only=only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
