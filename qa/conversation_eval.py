"""Evaluating follow-ups: conversations of two or three turns, each turn asked with the ones before it.

A conversation file is JSON lines (``seeds/conversations.jsonl``, ``seeds/public/conversations.jsonl``)::

    {"id": "c001", "split": "dev", "document": "bundled",
     "turns": [{"question": "…", "answers": ["…"]}, {"question": "那2019年呢？", "answers": ["…"]}]}

``document`` is ``"bundled"`` or a SQuAD-format file (relative to the conversation file's
repository root or absolute); a SQuAD set's articles of the conversation's split are laid
out as a folder, as `qa.evaluate` does, and every turn is asked of the whole folder. A
turn with ``"answerable": false`` (or no answers) is right when declined; any other turn
is right when answered with a reference inside the answer sentence, the answer accuracy
of `qa.evaluate`. Each follow-up is scored twice: read with the conversation (the
product, `qa.conversation.answer_follow_up`) and asked alone (what it would get without
the conversation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from qa.evaluation import QuestionFileError, lay_out_squad

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class TurnRecord:
    conversation: str
    turn: int  # 0 for the opening question
    question: str
    answerable: bool
    answers: tuple[str, ...]
    found: bool
    text: str
    reading: str | None
    right: bool
    alone_right: bool | None = None  # follow-ups only: the same question asked without the conversation


@dataclass
class ConversationReport:
    source: str
    split: str | None
    records: list[TurnRecord] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        def acc(rows):
            return sum(r.right for r in rows) / len(rows) if rows else float("nan")

        follow = [r for r in self.records if r.turn > 0]
        return {
            "conversations": len({r.conversation for r in self.records}),
            "opening_turns": sum(r.turn == 0 for r in self.records),
            "follow_up_turns": len(follow),
            "opening_acc": acc([r for r in self.records if r.turn == 0]),
            "follow_up_acc": acc(follow),
            "follow_up_answerable_acc": acc([r for r in follow if r.answerable]),
            "follow_up_unanswerable_acc": acc([r for r in follow if not r.answerable]),
            "follow_up_unanswerable": sum(not r.answerable for r in follow),
            "follow_up_alone_acc": (sum(bool(r.alone_right) for r in follow) / len(follow)) if follow else float("nan"),
        }


def is_conversation_file(path: str | Path) -> bool:
    """Whether `path` is a JSON-lines file of conversations (its first row has ``turns``)."""
    path = Path(path)
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    return "turns" in json.loads(line)
                except json.JSONDecodeError:
                    return False
    return False


def load_conversations(path: str | Path, *, split: str | None = None) -> list[dict]:
    """The conversations of a file (of one split when given).

    Raises:
        QuestionFileError: a line that is not a conversation (one line naming it).
    """
    path = Path(path)
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{path.name}:{n}: not JSON ({exc.msg})") from None
        turns = row.get("turns") if isinstance(row, dict) else None
        if not isinstance(turns, list) or len(turns) < 2 or not all(isinstance(t, dict) and t.get("question") for t in turns):
            raise QuestionFileError(f"{path.name}:{n}: a conversation needs 'turns', two or more with a 'question'")
        if split is None or row.get("split") == split:
            rows.append(row)
    return rows


def _answerable(turn: dict) -> bool:
    return bool(turn.get("answers")) and turn.get("answerable", True) is not False


def _right(answer, turn: dict) -> bool:
    if not _answerable(turn):
        return not answer.found
    return bool(answer.found and any(a in answer.text for a in turn["answers"]))


def evaluate_conversations(
    path: str | Path,
    *,
    split: str | None = None,
    settings=None,
    encoder=None,
    index_for: Callable[[str, str | None], object] | None = None,
    progress=None,
) -> ConversationReport:
    """Ask every conversation turn by turn and score each turn.

    Args:
        path: the conversation file.
        split: only conversations of this split.
        settings, encoder: as for `qa.load_index`.
        index_for: ``index_for(document, split)`` -> the library to ask (tests hand their
            own); by default the bundled document, or the SQuAD file's articles of `split`.
        progress: ``progress(done, total)`` after each conversation.
    """
    from qa.api import load_set
    from qa.conversation import answer_follow_up
    from qa.settings import Settings

    settings = settings or Settings()
    path = Path(path)
    conversations = load_conversations(path, split=split)
    libraries: dict[tuple[str, str | None], object] = {}

    def library(document: str, conv_split: str | None):
        key = (document, conv_split)
        if key not in libraries:
            if index_for is not None:
                libraries[key] = index_for(document, conv_split)
            elif document == "bundled":
                libraries[key] = load_set(settings=settings, encoder=encoder)
            else:
                source = Path(document)
                if not source.is_absolute():
                    source = next((b / source for b in (path.parent, ROOT) if (b / source).exists()), ROOT / source)
                layout = lay_out_squad(source, home=settings.home, split=conv_split)
                libraries[key] = load_set(layout.folder, settings=settings, encoder=encoder)
        return libraries[key]

    report = ConversationReport(source=str(path), split=split)
    for done, conv in enumerate(conversations, 1):
        index = library(str(conv.get("document", "bundled")), conv.get("split"))
        previous, previous_short = None, None
        for n, turn in enumerate(conv["turns"]):
            question = turn["question"]
            result = answer_follow_up(index, question, previous, previous_answer=previous_short)
            answer = result.answer
            alone = _right(index.ask(question), turn) if n > 0 else None
            report.records.append(
                TurnRecord(
                    conversation=str(conv.get("id", done)), turn=n, question=question, answerable=_answerable(turn),
                    answers=tuple(turn.get("answers") or ()), found=answer.found, text=answer.text,
                    reading=result.reading, right=_right(answer, turn), alone_right=alone,
                )
            )
            previous = result.reading or question  # a third turn leans on what the second meant
            previous_short = (answer.short or answer.text) if answer.found else None
        if progress is not None:
            progress(done, len(conversations))
    return report


def format_conversations(report: ConversationReport) -> str:
    """The summary and every follow-up turn that went wrong, for people."""
    s = report.summary()
    lines = [
        f"{report.source}" + (f" (split {report.split})" if report.split else ""),
        f"  conversations {s['conversations']}, follow-up turns {s['follow_up_turns']} "
        f"({s['follow_up_unanswerable']} the document does not answer)",
        f"  opening questions right:        {s['opening_acc']:.3f}",
        f"  follow-ups right (in context):  {s['follow_up_acc']:.3f}"
        f"  (answerable {s['follow_up_answerable_acc']:.3f}, unanswerable declined {s['follow_up_unanswerable_acc']:.3f})",
        f"  follow-ups asked alone:         {s['follow_up_alone_acc']:.3f}",
    ]
    wrong = [r for r in report.records if r.turn > 0 and not r.right]
    if wrong:
        lines.append("  follow-ups answered wrongly:")
        for r in wrong:
            got = r.text[:60] if r.found else "(declined)"
            want = " / ".join(r.answers) if r.answerable else "(not in the document)"
            lines.append(f"    {r.conversation}#{r.turn} {r.question}  read as: {r.reading or '(alone)'}  got: {got}  want: {want}")
    return "\n".join(lines)


def write_conversations(report: ConversationReport, folder: str | Path) -> Path:
    """``conversations.json`` (summary and every turn) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "conversations.json"
    data = {"source": report.source, "split": report.split, "summary": report.summary(),
            "turns": [r.__dict__ for r in report.records]}
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return out


def conversations_main(paths: Sequence[str | Path], *, split: str | None, out: str | None = None, settings=None) -> int:
    """`docqa eval` on conversation files: print each file's report; 0."""
    for p in paths:
        report = evaluate_conversations(p, split=split, settings=settings)
        print(format_conversations(report))
        if out:
            write_conversations(report, Path(out) / Path(p).stem)
    return 0
