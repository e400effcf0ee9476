"""Which window's span the reader answers with: `reader_switch`, `reader_focus`, `reader_doubt`, tuned on the dev sets.

Asks every dev question once on the reader's path (the dev sets of `tests.perf.tune`: the
bundled document's dev questions and the public sets' dev articles, with answer sentences
removed), keeps what the reader read (its windows, each window's best span and the best
span inside the ranked sentence), then replays `qa.retrieval.pick_span` under each setting
of a grid without reading again. Each question keeps the not-found decision of the run
(the settings only move which sentence is quoted; its similarity signal may move a little,
so check the chosen setting with ``docqa eval``). Only dev splits are read.

    python -m tests.perf.reader_pick                  # the grid (~3 min on 2 cores)
    python -m tests.perf.reader_pick --articles 10    # a quick look
    python -m tests.perf.reader_pick --switch 5 --focus 2 --doubt=-1000,-8   # two settings (a leading "-" needs "=")

Prints, per setting, answer accuracy (a reference inside the quoted sentence) and short
F1 on each dev set and their means, best mean answer accuracy first; ``*`` marks the
shipped setting.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from dataclasses import dataclass, replace

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class Read:
    """One question's read: what `pick_span` chooses from, and where the ranked sentence is."""

    spans: list
    windows: list  # (passage index, offset, text)
    sentences: dict  # passage index -> its sentences
    texts: dict  # passage index -> its text
    ranked: tuple[int, int, int]  # the ranked sentence: passage index, start, end
    query: str = ""  # the normalised question (a list question's short answer is the whole list)


def collect(sets) -> dict[str, list[tuple[object, Read | None]]]:
    """Every dev question asked once on the reader's path: (its record, its read)."""
    import qa.retrieval as retrieval
    from qa.evaluation import evaluate

    reads: dict[str, Read] = {}
    original = retrieval.Retriever._read

    def recording(self, question, result, ranked, config):
        read = original(self, question, result, ranked, config)
        if read is not None:
            used = {j for j, _, _ in read.windows} | {ranked[0].passage_index}
            reads[question] = Read(
                spans=list(read.spans), windows=list(read.windows),
                sentences={j: self.index.sentences[result.indices[j]] for j in used},
                texts={j: result.passages[j].text for j in used},
                ranked=(ranked[0].passage_index, ranked[0].sentence.start, ranked[0].end),
                query=result.query,
            )
        return read

    retrieval.Retriever._read = recording
    try:
        out = {}
        for name, (lib, rows) in sets.items():
            reads.clear()
            report = evaluate(rows, index=lib, retrievers=["reader"])
            out[name] = [(r, reads.get(r.question)) for r in report.records["reader"]]
            print(f"{name}: {len(out[name])} questions read", file=sys.stderr)
        return out
    finally:
        retrieval.Retriever._read = original


def quoted(read: Read, config) -> tuple[str, str]:
    """The sentence quoted and the short answer under `config`: as `Retriever.ask` builds them."""
    from qa.answer import quote_end
    from qa.retrieval import pick_span, sentences_holding, short_bounds

    pick, span = pick_span(read.spans, config)
    j, offset, _ = read.windows[pick]
    if span.start >= 0:
        a, b = short_bounds(read.query, read.texts[j], offset + span.start, offset + span.end)
        sents = read.sentences[j]
        hold = sentences_holding(sents, a, b)
        if hold:
            return read.texts[j][sents[hold[0]].start : quote_end(sents, hold[0], hold[-1])], read.texts[j][a:b]
    j, start, end = read.ranked
    return read.texts[j][start:end], ""


def replayable(collected) -> dict[str, list[tuple[object, Read | None]]]:
    """The same pairs, with None for the read of an answer quoted outright (a heading, a caption):
    that quote is not the reader's, and stays as answered whatever the settings."""
    base = _default()
    return {name: [(rec, read if read is not None and quoted(read, base)[0] == rec.text else None) for rec, read in pairs]
            for name, pairs in collected.items()}


def score(collected, config) -> dict[str, tuple[float, float]]:
    """Per dev set: answer accuracy and short F1 of the answerable questions under `config` (pairs from `replayable`)."""
    from qa.evaluation import char_f1

    out = {}
    for name, pairs in collected.items():
        acc, f1, n = 0.0, 0.0, 0
        for rec, read in pairs:
            if not rec.answerable:
                continue
            n += 1
            if not rec.found:
                continue
            text, short = rec.text, rec.short
            if read is not None:
                text, short = quoted(read, config)
            acc += any(a in text for a in rec.answers)
            f1 += max((char_f1(short or text, a) for a in rec.answers), default=0.0)
        out[name] = (acc / max(n, 1), f1 / max(n, 1))
    return out


def _default():
    from qa.settings import RetrievalConfig

    return RetrievalConfig()


def main(argv=None) -> int:
    from tests.perf.tune import load_sets

    parser = argparse.ArgumentParser(prog="python -m tests.perf.reader_pick", description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=None, help="a stable sample of each public set's dev articles")
    parser.add_argument("--switch", default="0,2,5,8", help="reader_switch values")
    parser.add_argument("--focus", default="1,2,4", help="reader_focus values")
    parser.add_argument("--doubt", default="-1000,-12,-10,-8,-6,-5,-4,-2,0", help="reader_doubt values (-1000: off)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DOCQA_READER", "on")
    collected = replayable(collect(load_sets(args.articles)))
    base = _default()
    floats = lambda text: [float(x) for x in text.split(",")]  # noqa: E731
    rows = []
    for sw, fo, dt in itertools.product(floats(args.switch), floats(args.focus), floats(args.doubt)):
        config = replace(base, reader_switch=sw, reader_focus=fo, reader_doubt=dt)
        res = score(collected, config)
        shipped = (sw, fo, dt) == (base.reader_switch, base.reader_focus, base.reader_doubt)
        rows.append((np.mean([v[0] for v in res.values()]), np.mean([v[1] for v in res.values()]), sw, fo, dt, shipped, res))
    names = list(collected)
    print("  switch focus  doubt | answer accuracy: " + " ".join(f"{n[:12]:>12}" for n in names) + "   mean | short F1 mean")
    for acc, f1, sw, fo, dt, shipped, res in sorted(rows, key=lambda r: (-r[0], -r[1])):
        print(f"{'*' if shipped else ' '} {sw:6g} {fo:5g} {dt:6g} |                  "
              + " ".join(f"{res[n][0]:12.3f}" for n in names) + f"  {acc:.3f} | {f1:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
