"""The Gradio app: `build_app(index)` returns the Blocks; `serve()` builds the index and launches it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import gradio as gr

from qa import MAX_QUESTION_CHARS
from ui.api import api_router
from ui.chat import answer_turn as chat_turn
from ui.chat import remembered
from ui.document_view import VIEW_PATH, document_router
from ui.render import esc, render_documents, render_notice, render_user
from ui.uploads import ALLOWED, MAX_UPLOAD_BYTES, UploadRejected, add_upload

log = logging.getLogger(__name__)

EXAMPLES = [
    "疫情期间共核查了多少人员？",
    "全市现行刑事案件破案率提升至多少？",
    "市监管中心投入多少建成的？",
    "How many people were checked during the epidemic?",
]

# Chinese first; Noto Sans CJK is what Debian's fonts-noto-cjk installs.
CSS = """
.gradio-container { font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; }
#docqa-header h1 { margin: 0.2rem 0; font-size: 1.5rem; }
#docqa-header p { margin: 0.2rem 0; color: var(--body-text-color-subdued); }
.docqa-quote { margin: 0 0 0.4rem 0; padding: 0.4rem 0.8rem; border-left: 4px solid #2f7d4f;
  background: rgba(47, 125, 79, 0.08); font-size: 1.05em; }
.docqa-source { margin: 0.2rem 0 0.6rem 0; color: var(--body-text-color-subdued); font-size: 0.92em; }
.docqa-paragraph { padding: 0.5rem 0.7rem; border: 1px solid var(--border-color-primary);
  border-radius: 6px; font-size: 0.92em; line-height: 1.7; margin-bottom: 0.5rem; }
.docqa-caption { font-weight: 600; margin-bottom: 0.2rem; font-size: 0.9em; }
mark.answer { background: #fff1a8; color: inherit; padding: 0 1px; }
mark.short { background: #ffc94d; color: inherit; padding: 0 1px; border-radius: 2px; }
.docqa-short { margin: 0 0 0.3rem 0; font-size: 1.25em; }
.docqa-reading { margin: 0 0 0.3rem 0; font-size: 0.95em; color: #1d4ed8; }
.docqa-confidence { border-bottom: 1px dotted currentColor; cursor: help; }
.docqa-cite { text-decoration: underline; }
details.docqa-paragraph > summary { color: var(--body-text-color-subdued); }
#docqa-count { font-size: 0.8em; color: var(--body-text-color-subdued); text-align: right; margin: -0.3rem 0.4rem 0 0; }
#docqa-count.over { color: #b91c1c; font-weight: 600; }
@media (max-width: 480px) { #docqa-header p { display: none; } #docqa-header h1 { font-size: 1.1rem; } }
mark.term { background: none; color: inherit; padding: 0; border-bottom: 2px solid #f2b705; }
.docqa-notfound { color: #9a3412; }
.docqa-context, .docqa-note { color: var(--body-text-color-subdued); font-size: 0.9em; margin: 0.2rem 0; }
.docqa-notice { margin: 0; }
details summary { cursor: pointer; }
details ul { margin: 0.3rem 0 0 1rem; padding: 0; font-size: 0.9em; }
details li { margin-bottom: 0.4rem; }
"""


PAGE_SCRIPT = """
const box = () => document.querySelector('#docqa-input textarea');
const count = document.getElementById('docqa-count');
const limit = Number(count.dataset.limit);
const update = () => {
  const t = box(); if (!t) return;
  const n = t.value.length;
  count.textContent = !n ? '' : n > limit ? `${n} / ${limit} · 问题太长了，请缩短 / too long, please shorten it` : `${n} / ${limit}`;
  count.classList.toggle('over', n > limit);
};
document.addEventListener('input', (e) => { if (e.target === box()) update(); }, true);
setInterval(update, 500);
let seen = 0;
new MutationObserver(() => {
  const bots = document.querySelectorAll('#docqa-chat .message-row.bot-row, #docqa-chat .bot');
  if (bots.length > seen) {
    seen = bots.length;
    bots[bots.length - 1].scrollIntoView({block: 'start', behavior: 'instant'});
  }
}).observe(document.body, {childList: true, subtree: true});
"""


def _header(index) -> str:
    doc = index.document
    title = doc.title or Path(doc.path).name
    documents = index.documents
    if index.cites_files:  # a folder or several files
        return (
            f"<h1>《{esc(title)}》问答</h1>"
            f"<p>只从这 {len(documents)} 份文档中摘录原文作答（共 {len(doc.units)} 段）：每个回答都注明出自哪个文件、"
            "第几页（PDF）或第几段，以及有多大把握；文档里没有的，会直接说没有。"
            f' <a href="{VIEW_PATH}" target="_blank">阅读全文</a></p>'
        )
    return (
        f"<h1>《{esc(title)}》问答</h1>"
        f"<p>只从这份文档中摘录原文作答（{len(doc.units)} 段）：每个回答都注明出自第几段、哪一节，"
        "以及有多大把握；文档里没有的，会直接说没有。"
        f' <a href="{VIEW_PATH}" target="_blank">阅读全文</a></p>'
    )


def build_app(index=None, *, uploads: Path | None = None) -> gr.Blocks:
    """The chat app, not launched.

    Args:
        index: the `qa.Library` to answer from; the bundled document's when omitted.
            A folder's or several files' documents are listed above the chat.
        uploads: the folder uploaded documents are kept in; when given (and `index` is a
            collection that includes this folder) the page offers an upload box.

    Returns:
        A `gr.Blocks`. Its API endpoint ``/chat`` takes the message and returns the reply
        (HTML); the conversation is kept per client session, so follow-ups work there too.
    """
    if index is None:
        from qa import load_index

        index = load_index()

    def reply(message: str, history: list[dict[str, Any]]):
        answer, reading, html = chat_turn(message, history, index=index)
        # The conversation keeps what the question meant (a follow-up's reading) and the plain
        # exact answer (or sentence), for the next follow-up's "那…呢" and "他"/"它".
        turn = [{"role": "user", "content": reading or message}, {"role": "assistant", "content": remembered(answer)}]
        return html, [*history, *turn]

    def show_question(message: str, display: list):
        # A blank send does nothing; a question over the limit stays in the box, refused with a
        # notice. The user's words go into the window as escaped text: the Chatbot renders HTML.
        if not (message or "").strip():
            return gr.skip(), gr.skip(), ""
        if len(message) > MAX_QUESTION_CHARS:
            gr.Warning(f"问题太长了（{len(message):,} 个字符），请缩短到 {MAX_QUESTION_CHARS} 字以内。"
                       f" / The question is too long ({len(message):,} characters); keep it under {MAX_QUESTION_CHARS}.")
            return gr.skip(), gr.skip(), ""
        return "", [*display, {"role": "user", "content": render_user(message)}], message

    def answer_turn(message: str, history: list, display: list):
        if not message:
            return gr.skip(), gr.skip()
        text, history = reply(message, history)
        return [*display, {"role": "assistant", "content": text}], history

    def api_chat(message: str, history: list):
        return reply(message, history)

    def clear():
        return [], [], ""

    def docs_html() -> str:
        return render_documents(index.documents, index.skipped)

    def upload_file(path: str | None):
        # Returns (status, documents list, header); nothing the user uploads reaches a traceback.
        if not path:
            return "", docs_html(), _header(index)
        try:
            note = add_upload(index, path, uploads)
        except UploadRejected as exc:
            note = str(exc)
        except Exception:  # noqa: BLE001 - the chat keeps serving; the details go to the log
            log.exception("adding upload %s failed", path)
            note = "抱歉，添加这个文件时出错了。"
        return render_notice(note), docs_html(), _header(index)

    title = index.document.title or "docqa"
    collection = index.cites_files
    with gr.Blocks(title=f"{title} · docqa", analytics_enabled=False, fill_height=True) as demo:
        header = gr.HTML(_header(index), elem_id="docqa-header")
        if collection:
            docs = gr.HTML(docs_html(), elem_id="docqa-documents")
        if collection and uploads is not None:
            with gr.Row():
                upload = gr.File(
                    label=f"上传文档（{' '.join(ALLOWED)}，不超过 {MAX_UPLOAD_BYTES // 1024 // 1024} MB）",
                    file_types=list(ALLOWED),
                    file_count="single",
                    type="filepath",
                    elem_id="docqa-upload",
                )
                upload_status = gr.HTML("", elem_id="docqa-upload-status")
            upload.upload(
                upload_file, [upload], [upload_status, docs, header], api_visibility="private",
                concurrency_limit=1,  # one re-index at a time
            )
        chatbot = gr.Chatbot(
            label="对话",
            height=560,
            # Replies are HTML built by ui.render with every text escaped; Markdown is off so
            # that nothing from a question or the document is ever read as markup.
            render_markdown=False,
            sanitize_html=True,
            allow_tags=False,
            layout="bubble",
            buttons=["copy", "copy_all"],
            autoscroll=False,  # the page script scrolls to the start of each reply instead
            placeholder="用中文或英文提问，例如：疫情期间共核查了多少人员？",
            elem_id="docqa-chat",
        )
        textbox = gr.Textbox(
            show_label=False,
            placeholder="输入问题，按回车发送",
            submit_btn="提问",
            autofocus=True,
            elem_id="docqa-input",
        )
        # The length of the question against its limit, as you type; and each new reply
        # scrolled to its start, so the exact answer and the quote are on screen.
        gr.HTML(
            f'<div id="docqa-count" data-limit="{MAX_QUESTION_CHARS}"></div>', elem_id="docqa-count-box",
            js_on_load=PAGE_SCRIPT, container=False, padding=False,
        )
        gr.Examples(EXAMPLES, inputs=[textbox], label="示例问题 / Examples", elem_id="docqa-examples")
        history = gr.State([])  # the raw conversation, for follow-ups; the window holds escaped copies
        pending = gr.State("")

        ui_only = {"api_visibility": "private"}
        textbox.submit(show_question, [textbox, chatbot], [textbox, chatbot, pending], queue=False, **ui_only).then(
            answer_turn, [pending, history, chatbot], [chatbot, history], show_progress="minimal", **ui_only
        )
        # The window's own trash button clears the display; forget the conversation with it.
        chatbot.clear(clear, None, [chatbot, history, pending], queue=False, **ui_only)

        # The public endpoint: gradio_client.Client(url).predict("问题", api_name="/chat").
        api_in = gr.Textbox(label="message", visible=False)
        api_out = gr.Textbox(label="reply", visible=False)
        api_history = gr.State([])
        api_btn = gr.Button(visible=False)
        api_btn.click(
            api_chat,
            [api_in, api_history],
            [api_out, api_history],
            api_name="chat",
            api_description="Ask the document; returns the reply (HTML, all text escaped). "
            "Follow-ups are read in the context of the same client session.",
        )

    # The encoder is thread-safe (measured) and a question takes tens of milliseconds on
    # 2 cores, so 4 concurrent answers keep short questions from queueing behind each other
    # without oversubscribing the CPU; max_size bounds the memory a burst of users can take.
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def _warm_up(settings) -> None:
    from qa import reader_error, warm_up

    warm_up(settings)
    if settings.retrieval.reader and reader_error():
        print(f"docqa: warning: {reader_error()}; answering with the sentence only", flush=True)


def serve(
    doc: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    progress=None,
    upload: bool = False,
    settings=None,
) -> None:
    """Load (on first start: build) the index, then serve the chat until stopped.

    Args:
        doc: a document or a folder of documents; the bundled document when omitted.
        host: interface to bind; loopback unless told otherwise.
        port: TCP port.
        progress: ``progress(stage, done, total)`` while the index is built.
        upload: let users add documents; they are kept under ``$DOCQA_HOME/uploads/``
            and answered from together with `doc`.
        settings: cache folder, encoder and retrieval settings (default: `Settings()`).
    """
    from qa import BUNDLED_DOCUMENT, Settings, load_index
    from ui.uploads import upload_folder

    settings = settings or Settings()
    # The encoder, jieba and the reader load while the index loads and the UI is built and
    # launched. Started after gradio's import (this module's), not before: both are Python
    # under one GIL, and the import alone is ~2 s (medians of 3 starts 5.05-5.23 s this way,
    # 5.31-5.36 s started before it).
    threading.Thread(target=_warm_up, args=(settings,), name="docqa-warm-up", daemon=True).start()
    uploads = None
    if upload and doc is None:
        from qa import parse_store

        if parse_store(settings.store).is_milvus:  # the stored library would be rebuilt from the bundled document
            raise ValueError(f"--upload with the store {settings.store} needs --doc: the documents its library is built from")
    if upload:
        uploads = upload_folder(settings.home, doc)
        uploads.mkdir(parents=True, exist_ok=True)
        index = load_index([doc or BUNDLED_DOCUMENT, uploads], settings=settings, progress=progress)
    else:
        index = load_index(doc, settings=settings, progress=progress)
    report = index.build_report
    state = "built" if report is not None and report.rebuilt else "loaded from the cache"
    print(f"docqa: index {state}: 《{index.document.title}》, {len(index.document.units)} passages", flush=True)
    for d in index.documents if index.cites_files else []:
        print(f"docqa:   {d.name}: {d.passages} passages", flush=True)
    for name, why in index.skipped:
        print(f"docqa: warning: skipped {name}: {why}", flush=True)
    if uploads is not None:
        print(f"docqa: uploads are kept in {uploads}", flush=True)
    demo = build_app(index, uploads=uploads)
    demo.launch(
        server_name=host, server_port=port, show_error=False, css=CSS, footer_links=["api"],
        max_file_size=MAX_UPLOAD_BYTES,  # also enforced by the server, before our own check
        # The JSON API (ui.api) on Gradio's own FastAPI app: same host and port, listed in
        # /openapi.json; given to the app as it is made, so its routes come before Gradio's.
        app_kwargs={"routes": [*api_router(index).routes, *document_router(index).routes]},
    )
