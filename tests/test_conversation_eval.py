"""Conversation files in evaluation: each turn asked with the ones before it, follow-ups scored in context and alone."""

from __future__ import annotations

import json

import pytest

from qa import Answer, Passage
from qa.conversation_eval import evaluate_conversations, format_conversations, is_conversation_file, load_conversations
from qa.evaluation import QuestionFileError

TEXT = "疫情期间加强排查。共核查人员45561人,完成率100%。"


class Index:
    """Answers a question that names 核查 with the sentence; anything else is not found."""

    def __init__(self):
        self.asked = []

    def ask(self, question, k=5):
        self.asked.append(question)
        p = Passage(id=1, text=TEXT, score=0.9, section="一")
        if "核查" in question:
            quote = "共核查人员45561人,完成率100%。"
            s = TEXT.index(quote)
            short = "100%" if "完成率" in question else "45561人"
            return Answer(question=question, found=True, text=quote, passages=[p], confidence=0.9, passage_id=1,
                          start=s, end=s + len(quote), short=short, short_start=TEXT.index(short),
                          short_end=TEXT.index(short) + len(short))
        return Answer(question=question, found=False, text="", passages=[p], confidence=0.1)


def _write(tmp_path, rows):
    path = tmp_path / "conversations.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


ROWS = [
    {"id": "c1", "split": "test", "document": "bundled", "turns": [
        {"question": "疫情期间共核查了多少人员？", "answers": ["45561人"]},
        {"question": "完成率呢？", "answers": ["完成率100%"]},
        {"question": "它是哪年开始的？", "answers": [], "answerable": False},
    ]},
    {"id": "c2", "split": "dev", "document": "bundled", "turns": [
        {"question": "疫情期间共核查了多少人员？", "answers": ["45561人"]},
        {"question": "完成率呢？", "answers": ["完成率100%"]},
    ]},
]


def test_follow_ups_are_scored_in_context_and_alone(tmp_path):
    path = _write(tmp_path, ROWS)
    assert is_conversation_file(path)
    index = Index()
    report = evaluate_conversations(path, split="test", index_for=lambda document, split: index)
    s = report.summary()
    assert (s["conversations"], s["follow_up_turns"], s["follow_up_unanswerable"]) == (1, 2, 1)
    # In context, "完成率呢？" is read with the opening question and answered; alone it is not.
    assert s["follow_up_answerable_acc"] == 1.0
    follow = [r for r in report.records if r.turn == 1][0]
    assert follow.reading and "核查" in follow.reading and follow.right and follow.alone_right is False
    # "它是哪年开始的？": no reading is answered, so it is declined, which is right.
    assert s["follow_up_unanswerable_acc"] == 1.0
    assert "follow-ups right (in context):  1.000" in format_conversations(report)


def test_a_wrong_follow_up_is_listed(tmp_path):
    rows = [dict(ROWS[1], turns=[ROWS[1]["turns"][0], {"question": "完成率呢？", "answers": ["完成率99%"]}])]
    report = evaluate_conversations(_write(tmp_path, rows), index_for=lambda d, s: Index())
    assert report.summary()["follow_up_acc"] == 0.0
    assert "c2#1 完成率呢？" in format_conversations(report)


@pytest.mark.parametrize("line", ['{"id": 1}', "not json", '{"turns": [{"question": "一个"}]}'])
def test_a_bad_line_is_one_error_naming_it(tmp_path, line):
    path = tmp_path / "bad.jsonl"
    path.write_text(line, encoding="utf-8")
    with pytest.raises(QuestionFileError, match=r"bad.jsonl:1"):
        load_conversations(path)


def test_question_files_are_not_conversation_files(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "q1", "question": "问题", "answers": ["答"]}), encoding="utf-8")
    assert not is_conversation_file(path)


def test_docqa_eval_takes_a_conversation_file(tmp_path, monkeypatch, capsys):
    import qa.conversation_eval as ce
    from qa.cli import main

    path = _write(tmp_path, ROWS)
    index = Index()
    real = ce.evaluate_conversations
    monkeypatch.setattr(ce, "evaluate_conversations", lambda p, **kw: real(p, index_for=lambda d, s: index, **kw))
    assert main(["eval", str(path), "--split", "test", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "follow-ups right (in context):  1.000" in out
    saved = json.loads((tmp_path / "out" / "conversations" / "conversations.json").read_text(encoding="utf-8"))
    assert saved["summary"]["follow_up_turns"] == 2
    assert main(["eval", str(path), "--make-unanswerable"]) == 1  # a flag for question sets: one line, exit 1


def test_a_follow_up_does_not_mark_the_previous_exact_answer_again():
    from qa.conversation import answer_follow_up

    class Stubborn(Index):
        """Finds the sentence for any reading, but always marks 45561人 (a reader that misreads)."""

        def ask(self, question, k=5):
            a = super().ask(question.replace("完成率", "核查 完成率"), k)
            if not a.found:
                return a
            s = TEXT.index("45561人")
            return Answer(question=question, found=True, text=a.text, passages=a.passages, confidence=0.9, passage_id=1,
                          start=a.start, end=a.end, short="45561人", short_start=s, short_end=s + 6)

    turn = answer_follow_up(Stubborn(), "完成率呢？", "疫情期间共核查了多少人员？", previous_answer="45561人")
    assert turn.answer.found and "完成率100%" in turn.answer.text  # the sentence still answers
    assert turn.answer.short == ""  # but the previous turn's span is not shown as this answer
