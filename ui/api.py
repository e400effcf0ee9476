"""The JSON API served beside the chat: ``POST /api/ask`` and ``GET /api/documents`` (`api_router`).

A thin adapter, like the chat: questions are checked by `ui.chat.clean_question`, answered by
`qa.answer_in_context`, and returned as `Answer.to_dict()` plus what the API adds (the
reading a follow-up was answered as, the document it was restricted to). Every error is one
line of JSON, ``{"error": "..."}``: 400 for a body that is not JSON or a field of the wrong
type, 413 for a body over `MAX_BODY_BYTES` or a question over the length limit, 422 for an
empty question, `k` out of range or an unknown document, 500 (details in the log only) for
anything else.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from functools import partial
from typing import Any, Callable, Literal

import anyio
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from qa import MAX_QUESTION_CHARS, StoreError, answer_in_context
from ui.chat import K, clean_question, previous_answer, previous_question

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # a larger body is refused: unread when declared, else as soon as it passes this
MAX_K = 50  # what `Library.ask` accepts; it raises beyond
# As many answers at once as the chat's queue allows (`demo.queue(default_concurrency_limit=4)`):
# answering is CPU work, and more threads than that only slow every answer down.
CONCURRENT_ANSWERS = 4


class Message(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: StrictStr


class AskRequest(BaseModel):
    """A question, with the conversation so far for follow-ups."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "疫情期间共核查了多少人员？"},
                {"question": "完成率呢？", "history": [{"role": "user", "content": "疫情期间共核查了多少人员？"}]},
            ]
        },
    )

    question: StrictStr = Field(
        description=f"The question, in Chinese or English; at most {MAX_QUESTION_CHARS} characters "
        "once control characters and runs of spaces are removed (as in the chat)."
    )
    k: StrictInt = Field(K, ge=1, le=MAX_K, description="How many passages to return.")
    history: list[Message] | None = Field(
        None,
        description="Earlier turns, oldest first. The last user question is what a short follow-up "
        "(\"完成率呢？\") is read together with.",
    )
    document: StrictStr | None = Field(
        None,
        description="Answer from this one document only: its `name` as listed by `GET /api/documents`.",
    )


class ErrorReply(BaseModel):
    """What every error answers."""

    error: str = Field(description="One line saying what was wrong.")


_ERRORS = {
    400: {"model": ErrorReply, "description": "The body is not JSON, or a field has the wrong type."},
    413: {"model": ErrorReply, "description": f"The body is over {MAX_BODY_BYTES:,} bytes, or the question is too long."},
    422: {"model": ErrorReply, "description": "Empty question, `k` out of range, unknown field or unknown document."},
    500: {"model": ErrorReply, "description": "An internal error; the details are in the server log."},
    503: {"model": ErrorReply, "description": "The index's store (a Milvus server) failed or cannot be reached."},
}

_ANSWER_EXAMPLE = {
    "question": "疫情期间共核查了多少人员？",
    "found": True,
    "answer": "主动对接市防疫指挥部,推动形成“统一数据、统一行动、共享结果”的排查工作格局,共核查人员45561人,完成率100%。",
    "short": {"text": "45561人", "start": 139, "end": 145},
    "confidence": 0.9662,
    "confidence_label": "high",
    "passage_id": 7,
    "start": 95,
    "end": 154,
    "passages": [
        {"id": 7, "section": "抗大疫 不破楼兰终不还", "kind": "paragraph", "score": 1.0, "dense": 0.8937,
         "lexical": 3.8091, "source": "000_f68f8fec486f23e4.txt", "page": 0, "paragraph": 7, "text": "…"},
    ],
    "combined_question": None,
    "document": None,
}


def error(status: int, message: str) -> JSONResponse:
    """The one-line JSON error reply."""
    return JSONResponse({"error": " ".join(str(message).split()) or "error"}, status_code=status)


def validation_error(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """The status and the one line for FastAPI's (Pydantic's) validation errors.

    A value of the wrong type (or a body that is not an object) is a malformed request, 400;
    a well-formed value that is not allowed (missing, out of range, unknown field) is 422.

    Args:
        errors: `RequestValidationError.errors()`.

    Returns:
        ``(status, message)``; the message names the field, e.g. ``"k: Input should be greater
        than or equal to 1, got 0"``.
    """
    if not errors:
        return 400, "invalid request"
    malformed = [e for e in errors if str(e.get("type", "")).endswith("_type") or e.get("type") == "json_invalid"]
    first = (malformed or errors)[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    text = f"{where}: {first.get('msg', 'invalid value')}"
    value = first.get("input")
    if first.get("type") != "missing" and (value is None or isinstance(value, (str, int, float, bool))):
        shown = repr(value)
        text += f", got {shown if len(shown) <= 40 else shown[:37] + '...'}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return (400 if malformed else 422), text


class _ReadRequest(Request):
    """A request whose body has been read (within the cap) and parsed as JSON, whatever its content type.

    ``curl -d '{…}'`` sends ``application/x-www-form-urlencoded``; FastAPI parses a body as
    JSON only when it is labelled so. This request says it is JSON and hands FastAPI the
    value already parsed.
    """

    def __init__(self, request: Request, body: bytes, value: Any) -> None:
        headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
        super().__init__({**request.scope, "headers": [*headers, (b"content-type", b"application/json")]}, request.receive)
        self._raw, self._value = body, value

    async def body(self) -> bytes:
        return self._raw

    async def json(self) -> Any:
        return self._value


async def _read_json(request: Request) -> _ReadRequest:
    """The body, read up to `MAX_BODY_BYTES` and parsed as JSON.

    Raises:
        HTTPException: 413 over the cap, 400 when it is not JSON.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"request body is {int(declared):,} bytes; the limit is {MAX_BODY_BYTES:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"request body is over the limit of {MAX_BODY_BYTES:,} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        value = json.loads(body)
    except UnicodeDecodeError:
        raise HTTPException(400, "request body is not JSON: it is not UTF-8 text") from None
    except ValueError as exc:  # json.JSONDecodeError
        what = "it is empty" if not body.strip() else str(exc)
        raise HTTPException(400, f"request body is not JSON: {what}") from None
    except RecursionError:
        raise HTTPException(400, "request body is not JSON this API reads: it is nested too deeply") from None
    return _ReadRequest(request, body, value)


class JSONErrorRoute(APIRoute):
    """A route whose every failure is one line of JSON, ``{"error": …}``, and whose body is JSON whatever its label."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                if request.method in ("POST", "PUT", "PATCH"):
                    request = await _read_json(request)
                return await handler(request)
            except StarletteHTTPException as exc:  # ours, and FastAPI's own
                return error(exc.status_code, str(exc.detail))
            except ClientDisconnect:  # nobody is left to read a reply
                return error(400, "the client went away before sending the whole request")
            except RequestValidationError as exc:
                return error(*validation_error(list(exc.errors())))
            except Exception:  # noqa: BLE001 - one line to the client; the traceback only in the log
                log.exception("%s %s failed", request.method, request.url.path)
                return error(500, "internal error; the details are in the server log")

        return route


class OneFile:
    """The library asked about one of its files only (`qa.Library.ask` with ``source``)."""

    def __init__(self, index, name: str) -> None:
        self.index, self.name = index, name

    def ask(self, question: str, k: int = 5):
        return self.index.ask(question, k, source=self.name)


def _library_for(index, name: str | None):
    """What to ask: the library, or one of its files.

    Raises:
        HTTPException: 422 when no indexed document has that name.
    """
    if name is None:
        return index
    names = [d.name for d in index.documents]
    if name not in names:
        listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise HTTPException(422, f"document: unknown document {name!r}; indexed: {listed}")
    return index if len(names) == 1 else OneFile(index, name)


def _cited(answer: dict, name: str | None) -> dict:
    """Passages name their file (a library of one file leaves ``source`` empty)."""
    for p in answer["passages"]:
        p["source"] = p["source"] or name or ""
    return answer


def api_router(index) -> APIRouter:
    """The JSON API's routes, to serve on the chat's FastAPI app.

    Args:
        index: the `qa.Library` the chat answers from.

    Returns:
        An `APIRouter` with ``POST /api/ask`` and ``GET /api/documents``.
    """
    router = APIRouter(prefix="/api", tags=["docqa"], route_class=JSONErrorRoute, responses={500: _ERRORS[500]})
    limiter: list[anyio.CapacityLimiter] = []  # made in the event loop, on first use

    async def in_pool(fn: Callable, *args) -> Any:
        # Answering takes the CPU for tens of milliseconds or more: never on the event loop.
        if not limiter:
            limiter.append(anyio.CapacityLimiter(CONCURRENT_ANSWERS))
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=limiter[0])

    def answer(body: AskRequest) -> dict:
        try:
            question = clean_question(body.question)
        except ValueError as exc:
            # clean_question's only check that depends on length is the length limit itself.
            raise HTTPException(413 if len(body.question) > MAX_QUESTION_CHARS else 422, f"question: {exc}") from None
        history = [m.model_dump() for m in body.history or []]
        names = [d.name for d in index.documents]
        library = _library_for(index, body.document)
        try:
            found, combined = answer_in_context(
                library, question, previous_question(history), previous_answer=previous_answer(history), k=body.k
            )
        except StoreError as exc:  # the index's store (Milvus) failed: the server's trouble, not the question's
            log.warning("%s", exc)
            raise HTTPException(503, str(exc)) from None
        except ValueError as exc:  # the library's own check of the question or k
            raise HTTPException(422, str(exc)) from None
        reply = _cited(found.to_dict(), body.document or (names[0] if len(names) == 1 else None))
        reply["question"] = question
        reply["combined_question"] = combined
        reply["reading"] = combined  # how a follow-up was understood (the chat's "理解为：…")
        reply["document"] = body.document
        return reply

    @router.post(
        "/ask",
        summary="Ask the documents",
        response_description="The answer: a verbatim quote with its passage, or found=false with the nearest passages.",
        responses={200: {"content": {"application/json": {"example": _ANSWER_EXAMPLE}}}, **_ERRORS},
    )
    async def ask(body: AskRequest) -> JSONResponse:
        """Answer a question from the indexed documents, as the chat does, as JSON.

        `answer` is the verbatim sentence(s), `short` the exact answer inside it (or null),
        `start`/`end` where the answer stands in passage `passage_id`. `passages` are best
        first and cite `source` (the file), `page` (PDF) and `paragraph`. When a follow-up
        was answered read together with the previous question, `combined_question` is that
        reading. The body is parsed as JSON whatever its Content-Type.
        """
        return JSONResponse(await in_pool(answer, body))

    def documents() -> dict:
        return {
            "documents": [dataclasses.asdict(d) for d in index.documents],
            "skipped": [{"name": name, "reason": why} for name, why in index.skipped],
        }

    @router.get("/documents", summary="List the indexed documents")
    async def list_documents() -> JSONResponse:
        """The documents answered from (name, passages, kind, title, pages) and the files skipped, with why."""
        return JSONResponse(await in_pool(documents))

    return router
