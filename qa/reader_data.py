"""Examples for an extractive reader (span + no-answer), made from SQuAD-format articles.

A reader reads a short window: the sentence that may answer, with its neighbours. Each
answerable question gives one window holding its answer (``kind="answer"``, the answer's
character span in the window) and up to three windows that do not, SQuAD 2.0 style:

* ``"cut"``: the same window with the answer's sentence taken out (kept only when no
  reference answer is left in it), the tempting case of a document that talks about the
  subject but does not say;
* ``"neighbour"``: a window of a neighbouring paragraph of the same article;
* ``"retrieved"``: the window of the article, outside the answer's sentence, that shares
  the most character bigrams with the question (the best wrong passage a retriever finds).

SQuAD 2.0 ``is_impossible`` questions give their own best window as ``"impossible"``.
Everything is deterministic: the same articles give the same examples.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from qa.corpus import split_sentences
from qa.squad import SquadArticle, answer_spans, bigrams, remove_sentences

NO_ANSWER = -1


@dataclass(frozen=True)
class ReaderExample:
    """A question and a window of its article; ``start``/``end`` the answer in ``context`` (-1 when it holds none)."""

    id: str
    question: str
    context: str
    start: int
    end: int
    kind: str
    dataset: str
    title: str
    variant: str = ""  # "" as written; "reword" or "gloss" (`qa.augment`): the question made over

    @property
    def answerable(self) -> bool:
        return self.start != NO_ANSWER


@dataclass(frozen=True)
class Window:
    paragraph: int
    first: int  # sentence indices [first, last] of the paragraph
    last: int
    start: int  # character span in the paragraph
    end: int


def _windows(paragraph: str, index: int, neighbours: int, max_chars: int) -> list[Window]:
    """Every sentence of a paragraph with up to `neighbours` sentences each side, at most `max_chars` long."""
    sents = split_sentences(paragraph)
    return [window_around(sents, index, i, neighbours, max_chars) for i in range(len(sents))]


def window_around(sents, paragraph: int, i: int, neighbours: int = 1, max_chars: int = 240) -> Window:
    """Sentence `i` of `sents` with up to `neighbours` sentences each side, while the window stays within `max_chars`."""
    first, last = i, i
    for step in range(1, neighbours + 1):  # widen one sentence each side while it fits
        for j in (i - step, i + step):
            if 0 <= j < len(sents):
                lo, hi = min(first, j), max(last, j)
                if sents[hi].start + len(sents[hi].text) - sents[lo].start <= max_chars:
                    first, last = lo, hi
    end = sents[last].start + len(sents[last].text)
    return Window(paragraph, first, last, sents[first].start, end)


def _overlap(question: str, text: str) -> int:
    q = set(bigrams(question))
    return sum(1 for b in set(bigrams(text)) if b in q)


def _stable(key: str) -> int:
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16)


def reader_examples(
    articles: Iterable[SquadArticle],
    *,
    dataset: str,
    neighbours: int = 1,
    max_chars: int = 240,
    shifted: bool = False,
    retrieved: int = 1,
) -> list[ReaderExample]:
    """The reader's examples for these articles (see the module's docstring).

    Args:
        articles: as `qa.squad.load_squad` / `select_articles` give them (use the train
            split for training, dev or test to measure).
        dataset: the set's name, written into each example.
        neighbours: sentences taken on each side of the central one.
        max_chars: a window's longest (a neighbour that would pass it is left out; a
            single longer sentence stays whole). 240 characters of Chinese is about 160
            e5 tokens.
        shifted: also give, as ``kind="shifted"``, the window centred on a neighbouring
            sentence when it still holds the whole answer (a retriever's best sentence is
            not always the answer's own).
        retrieved: how many ``"retrieved"`` windows (the most bigrams shared first, no two
            alike) a question gets.
    """
    out: list[ReaderExample] = []
    for article in articles:
        paragraphs = list(article.paragraphs)
        windows = {p: _windows(text, p, neighbours, max_chars) for p, text in enumerate(paragraphs)}
        for q in article.questions:
            text = paragraphs[q.paragraph]
            base = dict(question=q.question, dataset=dataset, title=article.title)
            if q.impossible or not q.answers:
                best = _best_window(q.question, windows, paragraphs, article_answers=(), skip=None)
                if best is not None:
                    out.append(ReaderExample(id=f"{q.id}#impossible", context=_text(paragraphs, best), start=NO_ANSWER, end=NO_ANSWER, kind="impossible", **base))
                continue
            spans = answer_spans(text, q)
            if not spans:
                continue
            a, b = spans[0]
            sents = split_sentences(text)
            i = next((k for k, s in enumerate(sents) if s.start <= a < s.start + len(s.text)), None)
            if i is None:
                continue
            win = window_around(sents, q.paragraph, i, neighbours, max_chars)
            if not (win.start <= a and b <= win.end):  # the answer runs past its window
                continue
            context = text[win.start : win.end]
            out.append(ReaderExample(id=f"{q.id}#answer", context=context, start=a - win.start, end=b - win.start, kind="answer", **base))
            if shifted:
                for j in (i + 1, i - 1):
                    if 0 <= j < len(sents):
                        w2 = window_around(sents, q.paragraph, j, neighbours, max_chars)
                        if w2.start <= a and b <= w2.end and (w2.start, w2.end) != (win.start, win.end):
                            out.append(ReaderExample(id=f"{q.id}#shifted", context=text[w2.start : w2.end], start=a - w2.start, end=b - w2.start, kind="shifted", **base))
                            break
            # The answer's sentences: every one the answer touches.
            hit = [k for k, s in enumerate(sents) if s.start < b and a < s.start + len(s.text)]
            removed = remove_sentences(context, [(a - win.start, b - win.start)])
            cut = removed[0] if removed else ""
            if cut and not any(ans in cut for ans in q.answers):
                out.append(ReaderExample(id=f"{q.id}#cut", context=cut, start=NO_ANSWER, end=NO_ANSWER, kind="cut", **base))
            others = [p for p in (q.paragraph + 1, q.paragraph - 1) if 0 <= p < len(paragraphs)]
            for p in others:
                choices = [w for w in windows[p] if not any(ans in _text(paragraphs, w) for ans in q.answers)]
                if choices:
                    w = choices[_stable(q.id) % len(choices)]
                    out.append(ReaderExample(id=f"{q.id}#neighbour", context=_text(paragraphs, w), start=NO_ANSWER, end=NO_ANSWER, kind="neighbour", **base))
                    break
            for best in _best_windows(q.question, windows, paragraphs, article_answers=q.answers, skip=(q.paragraph, set(hit)), n=retrieved):
                out.append(ReaderExample(id=f"{q.id}#retrieved", context=_text(paragraphs, best), start=NO_ANSWER, end=NO_ANSWER, kind="retrieved", **base))
    return out


def _text(paragraphs: Sequence[str], w: Window) -> str:
    return paragraphs[w.paragraph][w.start : w.end]


def _best_windows(question, windows, paragraphs, *, article_answers, skip, n: int) -> list[Window]:
    """The `n` windows sharing the most bigrams with the question, holding no answer and none of `skip`'s sentences; distinct texts, best first."""
    scored = []
    for p in sorted(windows):
        for w in windows[p]:
            if skip is not None and p == skip[0] and any(w.first <= k <= w.last for k in skip[1]):
                continue
            text = _text(paragraphs, w)
            if any(ans in text for ans in article_answers):
                continue
            score = _overlap(question, text)
            if score > 0:
                scored.append((-score, len(scored), w, text))
    scored.sort(key=lambda t: t[:2])
    out, seen = [], set()
    for _, _, w, text in scored:
        if text not in seen and len(out) < n:
            seen.add(text)
            out.append(w)
    return out


def _best_window(question, windows, paragraphs, *, article_answers, skip) -> Window | None:
    """The window sharing the most bigrams with the question, holding no answer and none of `skip`'s sentences."""
    found = _best_windows(question, windows, paragraphs, article_answers=article_answers, skip=skip, n=1)
    return found[0] if found else None


def write_examples(examples: Iterable[ReaderExample], path: str | Path) -> Path:
    """Write examples as JSON lines (one object each, never pickled)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")
    return path


def read_examples(path: str | Path) -> list[ReaderExample]:
    """Examples written by `write_examples`."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [ReaderExample(**row) for row in rows]
