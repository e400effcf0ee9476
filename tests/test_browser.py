"""End to end: `docqa serve` as a subprocess, driven in headless Chromium and through gradio_client."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANSWERED = "疫情期间共核查了多少人员？"
UNANSWERED = "量子计算机的原理是什么？"
XSS = "<img src=x onerror=alert(1)>"
REPLY = ".docqa-source, .docqa-notfound, .docqa-notice"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app on the bundled document, with a fresh cache (so this also covers the first build)."""
    from tests.perf.loadtest import running_server

    home = tmp_path_factory.mktemp("serve-home")
    with running_server(home=home, log_path=home / "serve.log") as (_proc, url):
        yield url


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1100, "height": 1100}, locale="zh-CN")
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(server, wait_until="load", timeout=60_000)
    page.locator("#docqa-input textarea").wait_for(timeout=60_000)
    try:
        yield page
    finally:
        context.close()


def ask(page, question: str) -> str:
    """Type a question, press Enter, wait for the new reply; return the text of the chat."""
    before = page.locator(REPLY).count()
    box = page.locator("#docqa-input textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n", arg=[REPLY, before], timeout=120_000
    )
    page.wait_for_timeout(300)
    return page.locator("#docqa-chat").inner_text()


SHOTS = ROOT / "reports" / "screenshots"
# The two states the README shows (docs/), refreshed with DOCQA_UPDATE_SCREENSHOT=1.
README_SHOTS = {"answer": "screenshot.png", "phone": "screenshot-phone.png"}
ENGLISH = "How many people were checked during the epidemic?"


def shoot(page, name: str) -> Path:
    """Save a screenshot of this state under reports/screenshots/ (and into docs/ for the README's two)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{name}.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    if name in README_SHOTS and os.environ.get("DOCQA_UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, ROOT / "docs" / README_SHOTS[name])
    return shot


def last_reply(page):
    return page.locator("#docqa-chat .bot").last


def test_exact_answer_first_in_bold_with_the_span_marked_in_the_sentence(page, real_index):
    expected = real_index.ask(ANSWERED)
    assert expected.found and expected.short, "precondition: the reader gives a short answer"
    text = ask(page, ANSWERED)
    assert expected.text in text  # the quoted sentence, verbatim
    reply = last_reply(page)
    short = reply.locator(".docqa-short b")
    assert short.inner_text() == expected.short
    assert reply.locator("blockquote.docqa-quote mark.short").inner_text() == expected.short
    assert short.bounding_box()["y"] < reply.locator("blockquote.docqa-quote").bounding_box()["y"]
    # One confidence, its probability on hover; the paragraph folded under the quote.
    confidence = reply.locator(".docqa-confidence")
    assert confidence.count() == 1 and "把握" in confidence.inner_text()
    assert "%" in confidence.get_attribute("title")
    assert "相关度" not in reply.inner_text() and "置信度" not in reply.inner_text()
    assert not reply.locator("details.docqa-paragraph").get_attribute("open")
    # The reply starts on screen (scrolled to its start, not its end), the examples still offered.
    assert page.locator("#docqa-examples").is_visible()
    shoot(page, "answer")


def test_citation_opens_the_document_view_at_the_paragraph(page, real_index):
    expected = real_index.ask(ANSWERED)
    ask(page, ANSWERED)
    link = last_reply(page).locator(".docqa-source a.docqa-cite")
    assert link.inner_text() == f"第 {expected.passage_id} 段"
    with page.context.expect_page() as opened:
        link.click()
    view = opened.value
    view.wait_for_load_state("load")
    assert "/view?" in view.url
    cited = view.locator(".para.cited")
    assert cited.count() == 1 and cited.get_attribute("id") == f"u{expected.passage_id}"
    assert cited.locator("mark.answer").inner_text() == expected.text  # the answer sentence highlighted
    box, height = cited.bounding_box(), view.viewport_size["height"]
    assert 0 <= box["y"] < height  # opened at that paragraph
    assert view.locator(".para").count() == len(real_index.units)  # the whole text, numbered
    assert view.locator("h2").count() >= 2  # its sections
    shoot(view, "document-view")
    view.close()


def test_not_found_reply_has_no_confidence_label(page, declined_question):
    text = ask(page, declined_question)
    assert "文档中没有找到这个问题的答案" in text and "可能相关的段落（不是答案）" in text
    reply = last_reply(page)
    assert reply.locator(".docqa-confidence").count() == 0 and "把握" not in reply.inner_text()
    assert reply.locator("blockquote.docqa-quote").count() == 0
    shoot(page, "not-found")


def test_question_about_nothing_in_the_document_is_not_answered(page, real_index):
    assert real_index.ask(UNANSWERED).off_topic, "precondition: the engine must find this off the topic"
    text = ask(page, UNANSWERED)
    assert "这不是文档能回答的问题" in text
    assert last_reply(page).locator("blockquote.docqa-quote, li").count() == 0


def test_markup_only_message_is_declined_and_shown_as_text(page):
    ask(page, ANSWERED)
    text = ask(page, XSS)  # after a question: not read as a follow-up either
    assert XSS in text  # the user's message, shown literally
    reply = last_reply(page)
    assert "这不是文档能回答的问题" in reply.inner_text()
    assert reply.locator("blockquote.docqa-quote").count() == 0 and reply.locator("li").count() == 0
    assert page.locator("#docqa-chat img").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []
    shoot(page, "markup-declined")


def test_english_question_gets_english_chrome(page, real_index):
    expected = real_index.ask(ENGLISH)
    ask(page, ENGLISH)
    reply = last_reply(page)
    chrome = reply.locator(".docqa-source, .docqa-notfound, .docqa-note, summary").all_inner_texts()
    joined = " ".join(chrome)
    if expected.found:
        assert "Confidence" in joined and "paragraph" in joined
    else:
        assert "The document does not answer this." in joined
    assert not any(w in joined for w in ("把握", "第 ", "文档", "原文", "段落")), joined
    shoot(page, "english")


def test_phone_layout_keeps_the_answer_and_the_input_on_screen(browser, server, real_index):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    page = context.new_page()
    try:
        page.goto(server, wait_until="load", timeout=60_000)
        page.locator("#docqa-input textarea").wait_for(timeout=60_000)
        ask(page, ANSWERED)
        ask(page, "全市现行刑事案件破案率提升至多少？")
        page.wait_for_timeout(500)
        short = last_reply(page).locator(".docqa-short")
        box = page.locator("#docqa-input textarea").bounding_box()
        assert short.is_visible() and 0 <= short.bounding_box()["y"] < 844
        assert box is not None and box["y"] + box["height"] <= 844 + 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
        shoot(page, "phone")
    finally:
        context.close()


def test_blank_send_is_ignored_and_a_long_paste_stays_in_the_box(page):
    box = page.locator("#docqa-input textarea")
    box.fill("   ")
    box.press("Enter")
    page.wait_for_timeout(800)
    assert page.locator("#docqa-chat .user").count() == 0  # no empty bubble
    long = "问" * 5000
    box.fill(long)
    page.wait_for_timeout(700)
    count = page.locator("#docqa-count")
    assert "5000 / 2000" in count.inner_text() and "over" in count.get_attribute("class")
    box.press("Enter")
    page.wait_for_timeout(800)
    assert box.input_value() == long  # refused, and the text kept
    assert page.locator("#docqa-chat .user").count() == 0
    assert "太长" in count.inner_text()  # the counter says why
    text = ask(page, ANSWERED)  # and the app keeps serving
    assert "45561" in text


def test_follow_up_is_read_with_the_previous_question(page):
    ask(page, "全市刑事发案率下降了多少？")
    text = ask(page, "那2019年呢？")
    reply = last_reply(page)
    assert reply.locator(".docqa-reading").inner_text().startswith("理解为：")
    assert "2019" in reply.locator(".docqa-reading").inner_text()
    assert "31.16%" in text


def test_gradio_client_chat_endpoint(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    reply = client.predict(ANSWERED, api_name="/chat")
    assert "45561" in reply and "第 " in reply
    follow = client.predict("完成率呢？", api_name="/chat")  # same client session: read in context
    assert "理解为：" in follow and "完成率100%" in follow
    assert "<img" not in client.predict(XSS, api_name="/chat")
