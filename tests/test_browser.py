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


def test_answer_shows_the_quote_and_its_paragraph(page, real_index, tmp_path):
    expected = real_index.ask(ANSWERED)
    assert expected.found
    text = ask(page, ANSWERED)
    assert ANSWERED in text
    assert expected.text in text  # the quoted sentence, verbatim
    assert f"第 {expected.passage_id} 段" in text
    assert page.locator("#docqa-chat blockquote.docqa-quote").count() == 1
    assert page.locator("#docqa-chat mark.answer").count() == 1
    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("DOCQA_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(shot, ROOT / "docs" / "screenshot.png")


def test_unanswerable_question_says_so(page, real_index):
    assert not real_index.ask(UNANSWERED).found, "precondition: the engine must not answer this"
    text = ask(page, UNANSWERED)
    assert "文档中没有找到这个问题的答案" in text
    assert "可能相关的段落（不是答案）" in text
    assert page.locator("#docqa-chat blockquote.docqa-quote").count() == 0


def test_html_in_the_question_is_shown_as_text(page):
    text = ask(page, XSS)
    assert XSS in text  # the user's message, shown literally
    assert page.locator("#docqa-chat img").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []


def test_bad_input_gets_a_friendly_message_and_the_app_keeps_serving(page):
    text = ask(page, "问" * 100_000)
    assert "问题太长了" in text
    text = ask(page, ANSWERED)
    assert "45561" in text


def test_follow_up_in_the_browser(page):
    ask(page, ANSWERED)
    text = ask(page, "完成率呢？")
    assert "按上下文理解为" in text and "完成率100%" in text


def test_gradio_client_chat_endpoint(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    reply = client.predict(ANSWERED, api_name="/chat")
    assert "45561" in reply and "第 " in reply
    follow = client.predict("完成率呢？", api_name="/chat")  # same client session: read in context
    assert "按上下文理解为" in follow
    assert "<img" not in client.predict(XSS, api_name="/chat")
