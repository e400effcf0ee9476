"""The windows the product reads, mined from the train articles: hard examples for the reader.

    python -m qa.reader_mine --out reports/mined.jsonl [--rounds 0,1]

`qa.reader_data` makes no-answer windows from the question's own article (the answer's
sentence cut, a neighbouring paragraph, the window sharing the most bigrams). At question
time the reader reads other windows: those around the best-ranked sentences of the whole
folder (`Retriever.reader_windows`). This lays out the **train** articles of each public
set as a folder, SQuAD 2.0 style (`qa.squad.lay_out` with ``make_unanswerable``: half of
the articles lose one question's answer sentence), asks every question of the whole folder
as the product does, and writes the windows it would read (`qa.reader_data.ReaderExample`
rows, JSON lines):

* ``"read-cut"``: every window read for a question whose answer sentence was removed;
* ``"read-wrong"``: a window read for an answerable question that holds none of its answers;
* ``"read-answer"``: a window read that holds the first reference answer exactly once (its span).

Each ``--rounds`` value is another draw of the removed questions (`removal_round`). Only the
train articles are read (``--split dev`` mines the dev articles, to measure on); the reader itself is not run (retrieval and sentence ranking
choose the windows), so mining takes minutes on 2 cores, most of it building the indexes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.reader_data import NO_ANSWER, ReaderExample, write_examples  # noqa: E402
from qa.reader_train import PUBLIC, SETS  # noqa: E402 - the sets the reader trains on


@contextlib.contextmanager
def capture_windows(sink: list):
    """While inside, `Retriever` does not run the reader: each ask appends the windows it would read to `sink`."""
    from qa.retrieval import Retriever

    original = Retriever._read

    def record(self, question, result, ranked, config):
        sink.append(self.reader_windows(result, ranked, config)[0] if ranked else [])
        return None

    Retriever._read = record
    try:
        yield sink
    finally:
        Retriever._read = original


def window_examples(row: dict, windows, *, dataset: str, title: str) -> list[ReaderExample]:
    """The examples one asked question gives: its windows, labelled as in the module's docstring."""
    answers = [a for a in row.get("answers") or [] if a]
    qid = row["id"]
    out = []
    for n, (_, _, text) in enumerate(windows):
        base = dict(id=f"{qid}#read{n}", question=row["question"], context=text, dataset=dataset, title=title)
        if not answers:
            out.append(ReaderExample(start=NO_ANSWER, end=NO_ANSWER, kind="read-cut", **base))
        elif not any(a in text for a in answers):
            out.append(ReaderExample(start=NO_ANSWER, end=NO_ANSWER, kind="read-wrong", **base))
        elif text.count(answers[0]) == 1:
            at = text.index(answers[0])
            out.append(ReaderExample(start=at, end=at + len(answers[0]), kind="read-answer", **base))
    return out


def mine(rounds=(0,), *, home: Path, split: str = "train", sets=SETS, progress=print) -> list[ReaderExample]:
    """Every `split` question of `sets` asked of its laid-out folder, for each removal round; the windows read."""
    from qa.api import load_set
    from qa import squad
    from qa.evaluation import lay_out_squad, resolve_files
    from qa.settings import Settings

    settings = Settings(home=home)
    config = settings.retrieval
    out: list[ReaderExample] = []
    seen: set[tuple[str, str]] = set()  # (question, window): a window read in two rounds counts once
    for name, dataset in sets:
        for r in rounds:
            t = time.perf_counter()
            layout = lay_out_squad(PUBLIC / name, home=home, split=split, make_unanswerable=True, dataset=dataset, removal_round=r)
            index = load_set(layout.folder, settings=settings)
            chosen = squad.select_articles(squad.load_squad(PUBLIC / name), dataset=dataset, split=split)
            titles = {squad.file_name(n, a.title): a.title for n, a in enumerate(chosen, start=1)}
            rows = [row for row in resolve_files(index, layout.questions) if row.get("type") != "impossible"]
            sink: list = []
            made = 0
            with capture_windows(sink):
                for row in rows:
                    before = len(sink)
                    index.ask(row["question"], 10, config=config)
                    windows = sink[-1] if len(sink) > before else []
                    for e in window_examples(row, windows, dataset=dataset, title=titles[row["file"]]):
                        key = (e.question, e.context)
                        if key not in seen:
                            seen.add(key)
                            out.append(e)
                            made += 1
            progress(f"{name} round {r}: {len(rows)} questions, {made} windows, {time.perf_counter() - t:.0f} s")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.reader_mine", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="reports/mined.jsonl")
    parser.add_argument("--rounds", default="0", help="removal rounds, comma-separated (each another draw of removed questions)")
    parser.add_argument("--split", choices=("train", "dev"), default="train", help="whose articles (dev: to measure a reader on, never to train)")
    parser.add_argument("--home", default=None, help="where the laid-out folders and their indexes go (default: docqa's home)")
    args = parser.parse_args(argv)
    from qa.settings import Settings

    home = Path(args.home) if args.home else Settings().home
    rounds = tuple(int(x) for x in args.rounds.split(",") if x.strip())
    rows = mine(rounds, home=home, split=args.split)
    kinds: dict[str, int] = {}
    for e in rows:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    write_examples(rows, args.out)
    print(f"{len(rows)} windows -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
