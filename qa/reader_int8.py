"""Calibrate the reader for int8: ``python -m qa.reader_int8 [--folder qa/data/reader]``.

The reader's matrix products run in int8 (`embeddings.e5_onnx`, SmoothQuant then int8 per
output channel, ONNX Runtime's ``DynamicQuantizeMatMul``): about twice as fast on two cores.
What that needs is measured here, once, and shipped beside the weights: the largest absolute
value of each input channel of every product over a seeded draw of **train** windows
(``int8.npz``, float32, 32k values). Then the same **dev** windows are read in float32 and in
int8, and the manifest's ``int8`` entry records the file's sha256, alpha, and how far the two
agree (same span, F1 / EM against the reference, margins, time per window); the command prints it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ALPHA = 0.75  # SmoothQuant's migration strength; on 400 dev windows 0.5 kept 71% of spans, 0.75 91%, 0.9 88%


def _read_all(reader, rows) -> tuple[list, list[float]]:
    spans, seconds = [], []
    for e in rows:
        t0 = time.perf_counter()
        spans.append(reader.read(e.question, [e.context])[0])
        seconds.append(time.perf_counter() - t0)
    return spans, seconds


def agreement(fp32, int8, rows) -> dict:
    """How the int8 reader's spans and margins compare with the float32 reader's on `rows` (one window each)."""
    from qa.evaluation import char_f1, exact_match

    a, ta = _read_all(fp32, rows)
    b, tb = _read_all(int8, rows)
    gold = [e.context[e.start : e.end] if e.answerable else None for e in rows]
    answerable = [i for i, g in enumerate(gold) if g is not None]
    diff = np.array([abs(x.margin - y.margin) for x, y in zip(a, b) if np.isfinite(x.margin) and np.isfinite(y.margin)])

    def scores(spans, metric):
        return round(float(np.mean([metric(spans[i].text, gold[i]) for i in answerable])), 4) if answerable else None

    return {
        "windows": len(rows), "answerable": len(answerable),
        "same_span": round(float(np.mean([x.text == y.text for x, y in zip(a, b)])), 4),
        "f1": {"float32": scores(a, char_f1), "int8": scores(b, char_f1)},
        "em": {"float32": scores(a, exact_match), "int8": scores(b, exact_match)},
        "margin_abs_diff": {"median": round(float(np.median(diff)), 3), "p95": round(float(np.quantile(diff, 0.95)), 3),
                            "max": round(float(diff.max()), 3)},
        "ms_per_window_median": {"float32": round(statistics.median(ta) * 1000, 1), "int8": round(statistics.median(tb) * 1000, 1)},
    }


def main(argv=None) -> int:
    from qa.reader import READER_DIR, Reader, _sha256, encode_pair
    from qa.reader_train import examples

    ap = argparse.ArgumentParser(prog="python -m qa.reader_int8", description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=READER_DIR, help="the reader to calibrate (default the shipped one)")
    ap.add_argument("--calibrate", type=int, default=600, help="train windows for the ranges (default 600)")
    ap.add_argument("--check", type=int, default=1500, help="dev windows read both ways (default 1500)")
    ap.add_argument("--alpha", type=float, default=ALPHA)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    fp32 = Reader.load(args.folder, int8=False)
    train = examples("train", args.seed)
    random.Random(args.seed + 2).shuffle(train)
    sequences = [encode_pair(fp32.tokenizer, e.question, e.context, fp32.max_tokens)[0] for e in train[: args.calibrate]]
    ranges = fp32.model.input_ranges(sequences)
    path = args.folder / "int8.npz"
    np.savez(path, alpha=np.float32(args.alpha), **ranges)
    manifest_path = args.folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["int8"] = {
        "file": path.name, "sha256": _sha256(path), "alpha": args.alpha,
        "calibration": f"{len(sequences)} train windows (qa.reader_train.examples('train', {args.seed}), shuffled with seed {args.seed + 2})",
        "command": " ".join(["python -m qa.reader_int8", *(argv if argv is not None else sys.argv[1:])]),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    int8 = Reader.load(args.folder, int8=True)
    if not int8.model.int8:
        print(f"qa.reader_int8: the int8 reader did not load from {args.folder}", file=sys.stderr)
        return 1
    dev = examples("dev", args.seed)
    random.Random(args.seed + 1).shuffle(dev)
    manifest["int8"]["check"] = {"held_out": f"{args.check} dev windows (qa.reader_train.examples('dev', {args.seed}))",
                                 **agreement(fp32, int8, dev[: args.check])}
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(manifest["int8"], indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
