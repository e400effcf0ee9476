"""The chat turn `ui.chat.respond`, the app's wiring, and `docqa serve`, without a server."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from qa import Answer, Passage
from qa import is_follow_up
from ui.chat import respond

ROOT = Path(__file__).resolve().parent.parent
XSS = "<img src=x onerror=alert(1)>"


# --- a stub index: exact control over what the library answers ---------------------------


@dataclass
class _Doc:
    title: str = "测试文档"
    path: str = "test.txt"
    units: list = field(default_factory=lambda: [object()] * 3)


class StubIndex:
    """Answers from a table {substring of the question: (passage text, answer text, confidence)}."""

    cites_files = False  # one document, as a `qa.Library` of one file
    documents: list = []
    skipped: list = []

    def __init__(self, table=None, *, section="第一节", title="测试文档", fail=None):
        self.table = table or {}
        self.section = section
        self.asked: list[str] = []
        self.document = _Doc(title=title)
        self.fail = fail

    def ask(self, question, k=5):
        self.asked.append(question)
        if self.fail:
            raise self.fail
        related = [Passage(id=9, text="无关的段落。", score=0.2, section=self.section)]
        for key, (text, quote, conf) in self.table.items():
            if key in question:
                start = text.index(quote)
                p = Passage(id=3, text=text, score=0.9, section=self.section)
                return Answer(
                    question=question, found=True, text=quote, passages=[p, *related], confidence=conf,
                    passage_id=3, start=start, end=start + len(quote), matched_terms=[key],
                )
        return Answer(question=question, found=False, text="", passages=related, confidence=0.1)


CHECKS = {"核查": ("疫情期间加强排查。共核查人员45561人,完成率100%。", "共核查人员45561人,完成率100%。", 0.95)}


def _history(*turns):
    return [m for q in turns for m in ({"role": "user", "content": q}, {"role": "assistant", "content": "…"})]


# --- normal answer, not found ---------------------------------------------------------------


def test_answer_is_quoted_with_paragraph_section_and_confidence():
    reply = respond("疫情期间共核查了多少人员？", [], index=StubIndex(CHECKS))
    assert '<blockquote class="docqa-quote">' in reply
    assert "45561" in reply
    assert "第 3 段" in reply and "「第一节」" in reply
    assert "把握 <b>高</b>" in reply and "95%" in reply  # one confidence: the label, the probability on hover
    assert "相关度" not in reply and "置信度" not in reply
    assert '<mark class="term">核查</mark>' in reply  # the question's words are highlighted
    assert '<mark class="answer">共核查人员45561人,完成率100%。</mark>' in reply  # marked in its paragraph
    assert '<details class="docqa-paragraph">' in reply  # the paragraph folded under the quote
    assert "<details><summary>其他检索到的段落（1）" in reply  # the rest folded away
    assert 'href="/view?u=3' in reply  # the citation opens the document view at that paragraph


def test_single_character_words_are_not_highlighted():
    table = {"市": ("副市长李某出席。", "副市长李某出席。", 0.9)}
    reply = respond("市长是谁", [], index=StubIndex(table))
    assert '<mark class="term">市</mark>' not in reply


def test_english_question_gets_english_chrome():
    table = {"checked": ("In total 45561 people were checked.", "In total 45561 people were checked.", 0.95)}
    reply = respond("How many people were checked?", [], index=StubIndex(table))
    assert "Confidence <b>high</b>" in reply and "paragraph 3" in reply
    chrome = re.sub(r"「[^」]*」|无关的段落。", "", reply)  # the document's own words aside
    assert not re.search(r"[\u4e00-\u9fff（）：]", chrome)  # no Chinese chrome
    reply = respond("What is the recipe for bread?", [], index=StubIndex(table))
    assert "The document does not answer this." in reply


def test_not_found_says_so_and_offers_related_passages_not_as_the_answer():
    reply = respond("红烧肉怎么做？", [], index=StubIndex(CHECKS))
    assert "文档中没有找到这个问题的答案" in reply
    assert "可能相关的段落（不是答案）" in reply and "无关的段落" in reply
    assert "docqa-quote" not in reply and "把握" not in reply and "docqa-confidence" not in reply


@pytest.mark.parametrize("message", [XSS, "？？？", "<b></b>", ":-) !!", "https://example.com/x"])
def test_input_without_a_question_is_declined_without_a_quote(message):
    index = StubIndex({"img": ("图片 img。", "图片 img。", 0.9), "example": ("example。", "example。", 0.9)})
    reply = respond(message, _history("疫情期间共核查了多少人员？"), index=index)
    assert "这不是文档能回答的问题" in reply and "docqa-quote" not in reply and "<li>" not in reply
    assert index.asked == []


@pytest.mark.model
def test_real_model_answers_with_the_quote_and_its_paragraph(real_index):
    question = "疫情期间共核查了多少人员？"
    answer = real_index.ask(question)
    reply = respond(question, [], index=real_index)
    assert answer.found and "45561" in answer.text
    assert "45561" in reply and f"第 {answer.passage_id} 段" in reply


@pytest.mark.model
def test_real_model_off_topic_question_is_not_answered(real_index):
    question = "量子计算机的原理是什么？"  # not one of its words is in the document
    assert real_index.ask(question).off_topic, "precondition: the engine must find this off the topic"
    reply = respond(question, [], index=real_index)
    assert "这不是文档能回答的问题" in reply and "docqa-quote" not in reply and "<li>" not in reply


@pytest.mark.model
def test_real_model_not_found(real_index, declined_question):
    reply = respond(declined_question, [], index=real_index)
    assert "文档中没有找到" in reply and "docqa-quote" not in reply and "可能相关的段落" in reply


# --- follow-ups -----------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["那破案率呢？", "它是哪年建的？", "what about 2019?", "完成率呢？", "And the budget?"])
def test_follow_up_detected(q):
    assert is_follow_up(q)


@pytest.mark.parametrize("q", ["疫情期间共核查了多少人员？", "How many people were checked during the epidemic?"])
def test_standalone_question_is_not_a_follow_up(q):
    assert not is_follow_up(q)


def test_follow_up_is_answered_in_the_context_of_the_previous_question():
    index = StubIndex(CHECKS)
    reply = respond("那完成率呢？", _history("疫情期间共核查了多少人员？"), index=index)
    # A fragment is only read with the previous question: never asked alone.
    assert len(index.asked) == 1 and "完成率" in index.asked[0] and "核查" in index.asked[0]
    assert "完成率100%" in reply and "理解为：" in reply


def test_follow_up_without_an_answer_says_not_found_instead_of_repeating():
    index = StubIndex(CHECKS)
    reply = respond("它是哪年建的？", _history("市监管中心投入多少建成的？"), index=index)
    assert index.asked and all("市监管中心" in q or "监管" in q for q in index.asked)
    assert "文档中没有找到" in reply and "理解为：" in reply


def test_follow_up_reads_gradio6_history_parts():
    # After the Chatbot component's preprocessing, content is a list of typed parts.
    history = [
        {"role": "user", "content": [{"type": "text", "text": "疫情期间共核查了多少人员？"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<p>…</p>"}]},
    ]
    index = StubIndex(CHECKS)
    respond("那完成率呢？", history, index=index)
    assert "核查" in index.asked[-1] and "完成率" in index.asked[-1]


def test_unrelated_short_question_does_not_repeat_the_previous_answer():
    # The combined question finds the previous answer, but nothing of "红烧肉" is in it.
    reply = respond("红烧肉怎么做", _history("疫情期间共核查了多少人员？"), index=StubIndex(CHECKS))
    assert "文档中没有找到" in reply and "45561" not in reply


def test_standalone_question_is_asked_alone():
    index = StubIndex(CHECKS)
    respond("疫情期间一共核查了多少人员呢？", _history("株洲抓了多少个拐卖妇女儿童的？"), index=index)
    assert index.asked == ["疫情期间一共核查了多少人员呢？"]


@pytest.mark.model
@pytest.mark.parametrize(
    "previous, follow_up, expected",
    [("疫情期间共核查了多少人员？", "完成率呢？", "完成率100%"), ("市监管中心投入了多少钱？", "容量呢？", "总容量达2800人")],
)
def test_real_model_follow_up(real_index, previous, follow_up, expected):
    # Read alone or together with the previous question (whichever is surer), the
    # follow-up gets the sentence that answers it.
    reply = respond(follow_up, _history(previous), index=real_index)
    assert expected in re.sub(r"<[^>]+>", "", reply)


# --- escaping -------------------------------------------------------------------------------


def test_html_in_the_question_is_escaped():
    reply = respond(f"{XSS} 这段文字是什么", [], index=StubIndex({"这段": (f"段落里有 {XSS} 这段文字。", f"段落里有 {XSS} 这段文字。", 0.9)}))
    assert "<img" not in reply and "onerror=alert(1)&gt;" in reply
    assert "&lt;img src=x onerror=alert(1)&gt;" in reply


def test_html_in_the_document_and_section_is_escaped():
    doc = {"核查": ('正文 <script>alert("x")</script> [link](javascript:alert(1)) 共核查。', "共核查。", 0.9)}
    reply = respond("核查了多少", [], index=StubIndex(doc, section="<b onmouseover=alert(1)>节</b>"))
    assert "<script" not in reply and "&lt;script&gt;" in reply
    assert "<b onmouseover" not in reply and "&lt;b onmouseover=alert(1)&gt;" in reply


def test_html_in_the_previous_question_is_escaped_in_the_context_note():
    prev = f"{XSS}核查了多少？"
    reply = respond("那完成率呢？", _history(prev), index=StubIndex(CHECKS))
    assert "理解为：" in reply and "<img" not in reply and "&lt;img" in reply


@pytest.mark.model
def test_real_model_escapes_the_payload(real_index):
    reply = respond(XSS, [], index=real_index)
    assert "<img" not in reply


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ["", "   ", "\n\t  \n", "\x00", "\x00\x01\x1b\x7f", None, 123, "问" * 100_000, "a" * 2001],
)
def test_bad_input_gets_a_friendly_message_and_the_library_is_not_asked(message):
    index = StubIndex(CHECKS)
    reply = respond(message, [], index=index)
    assert reply.startswith('<p class="docqa-notice">')
    assert "Traceback" not in reply and "Error" not in reply
    assert index.asked == []


def test_long_paste_names_the_limit():
    reply = respond("问" * 100_000, [], index=StubIndex(CHECKS))
    assert "太长" in reply and "2000" in reply


def test_control_characters_inside_a_question_are_dropped():
    index = StubIndex(CHECKS)
    reply = respond("疫情\x00期间共\x1b核查了多少人员？\u200b", [], index=index)
    assert "45561" in reply and index.asked == ["疫情 期间共 核查了多少人员？"]


def test_internal_error_becomes_a_friendly_message():
    reply = respond("疫情期间共核查了多少人员？", [], index=StubIndex(fail=RuntimeError("boom")))
    assert "出错了" in reply and "boom" not in reply


def test_library_value_error_becomes_a_friendly_message():
    reply = respond("疫情期间共核查了多少人员？", [], index=StubIndex(fail=ValueError("question is too long")))
    assert reply.startswith('<p class="docqa-notice">') and "question is too long" in reply


# --- the app and the command line -----------------------------------------------------------


def test_build_app_returns_blocks_with_one_public_chat_endpoint():
    import gradio as gr

    from ui.app import build_app

    demo = build_app(StubIndex(CHECKS, title="<i>标题</i>"))
    assert isinstance(demo, gr.Blocks)
    assert not getattr(demo, "is_running", False)
    public = [d.api_name for d in demo.fns.values() if d.api_visibility == "public"]
    assert public == ["chat"]
    assert demo._queue.default_concurrency_limit == 4  # noqa: SLF001
    chatbots = [b for b in demo.blocks.values() if isinstance(b, gr.Chatbot)]
    assert len(chatbots) == 1 and chatbots[0].render_markdown is False
    headers = [b for b in demo.blocks.values() if isinstance(b, gr.HTML)]
    assert "&lt;i&gt;标题&lt;/i&gt;" in headers[0].value and "<i>" not in headers[0].value


def test_serve_flags_and_defaults():
    from qa.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.doc, args.host, args.port) == (None, "127.0.0.1", 7860)
    args = build_parser().parse_args(["serve", "--doc", "x.md", "--host", "0.0.0.0", "--port", "8000"])
    assert (args.doc, args.host, args.port) == ("x.md", "0.0.0.0", 8000)


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_serve_warns_when_not_on_loopback(monkeypatch, capsys, host, warned):
    import ui.app
    from qa.cli import main

    calls = []
    monkeypatch.setattr(ui.app, "serve", lambda doc, **kw: calls.append((doc, kw)))
    assert main(["serve", "--host", host, "--port", "7999"]) == 0
    assert calls and calls[0][1]["host"] == host and calls[0][1]["port"] == 7999
    assert ("warning" in capsys.readouterr().err) is warned


def test_qa_does_not_import_gradio():
    code = "import sys, qa, qa.cli; qa.cli.build_parser(); assert 'gradio' not in sys.modules, 'gradio imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_ui_imports_only_qa_gradio_and_the_standard_library():
    # fastapi (on starlette, pydantic, anyio) is the web framework Gradio itself runs on: the
    # JSON API and the document view.
    allowed = {"qa", "ui", "gradio", "fastapi", "starlette", "pydantic", "anyio", "__future__"} | set(sys.stdlib_module_names)
    for path in (ROOT / "ui").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize(
    "previous, follow_up, reading",
    [
        # A word ending in 于/於 is a verb and its preposition, not part of the topic's name,
        # however jieba tags it (it tags 隶属于 as a noun).
        ("潛江市隸屬於中國的哪一個省份?", "依照全球氣候分類，它屬於哪一種氣候?", "依照全球氣候分類，潛江市屬於哪一種氣候?"),
        ("潜江市隶属于中国的哪一个省份？", "它的面积有多大？", "潜江市的面积有多大？"),
    ],
)
def test_a_pronoun_stands_for_the_topic_without_its_predicate(previous, follow_up, reading):
    from qa.conversation import readings

    assert readings(previous, follow_up)[0] == reading
