"""The JSON API (`ui.api`) on the real chat server: answers, follow-ups, one document, the document list,
and one-line JSON errors for everything a client can send wrong; plus its error and threading paths in-process."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.perf import loadtest
from tests.test_server import listening_addresses

pytestmark = [pytest.mark.model, pytest.mark.slow]

QUESTION = "疫情期间共核查了多少人员？"
BUNDLED = "000_f68f8fec486f23e4.txt"
TRAFFIC = "交通.txt"
TRAFFIC_DOC = """市交通局工作概览

公交建设

2020年全市新开通公交线路18条，新增新能源公交车320辆。

道路养护

全年完成道路养护里程560公里，修复坑槽1.2万平方米。
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`docqa serve` on a folder: the bundled document, a second one, and a file it must skip."""
    from qa import BUNDLED_DOCUMENT

    home = tmp_path_factory.mktemp("api-home")
    folder = tmp_path_factory.mktemp("api-docs")
    shutil.copy(BUNDLED_DOCUMENT, folder / BUNDLED)
    (folder / TRAFFIC).write_text(TRAFFIC_DOC, encoding="utf-8")
    (folder / "empty.txt").write_text("  \n", encoding="utf-8")
    with loadtest.running_server(home=home, doc=str(folder)) as (proc, url):
        yield url.rstrip("/")


def call(url: str, body: bytes | None = None, *, headers: dict | None = None) -> tuple[int, dict, str]:
    """(status, parsed JSON body, Content-Type) of a GET (no body) or POST."""
    req = urllib.request.Request(url, data=body, headers={"User-Agent": "docqa-test", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    return status, json.loads(raw), ctype


def ask(server: str, payload, **kw) -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, data, _ = call(server + "/api/ask", body, headers={"Content-Type": "application/json", **kw})
    return status, data


def assert_one_line_error(data: dict, *words: str) -> None:
    assert set(data) == {"error"}, data
    line = data["error"]
    assert line and "\n" not in line and "Traceback" not in line and "<" not in line, line
    for w in words:
        assert w in line, (w, line)


def test_answers_the_bundled_question_with_its_figure_and_paragraph(server):
    status, data = ask(server, {"question": QUESTION})
    assert status == 200
    assert data["found"] is True and data["confidence_label"] in ("high", "medium", "low")
    assert "45561" in data["answer"]
    assert data["short"] is not None and "45561" in data["short"]["text"]
    assert len(data["passages"]) == 5  # the default k
    cited = next(p for p in data["passages"] if p["id"] == data["passage_id"])
    assert cited["source"] == BUNDLED and cited["paragraph"] > 0
    # Both quotes are verbatim, where they say they are.
    assert cited["text"][data["start"] : data["end"]] == data["answer"]
    assert cited["text"][data["short"]["start"] : data["short"]["end"]] == data["short"]["text"]
    assert data["combined_question"] is None and data["document"] is None


def test_k_sets_how_many_passages_come_back(server):
    status, data = ask(server, {"question": QUESTION, "k": 2})
    assert status == 200 and len(data["passages"]) == 2


def test_a_follow_up_is_read_with_the_history(server):
    history = [
        {"role": "user", "content": "市公安局哪天出台了服务企业复工复产的措施？"},
        {"role": "assistant", "content": "2月27日"},
    ]
    status, data = ask(server, {"question": "一共多少条？", "history": history})
    assert status == 200 and data["found"] is True
    assert "29条" in data["answer"], data["answer"]
    assert isinstance(data["combined_question"], str) and data["combined_question"] != "一共多少条？"
    assert data["question"] == "一共多少条？"


def test_lists_documents_and_skipped_files(server):
    status, data, ctype = call(server + "/api/documents")
    assert status == 200 and ctype.startswith("application/json")
    docs = {d["name"]: d for d in data["documents"]}
    assert set(docs) == {BUNDLED, TRAFFIC}
    assert docs[BUNDLED]["passages"] > 30 and docs[TRAFFIC]["passages"] == 2
    assert docs[BUNDLED]["pages"] == 0 and docs[BUNDLED]["kind"] == "text"
    assert [s["name"] for s in data["skipped"]] == ["empty.txt"] and "empty" in data["skipped"][0]["reason"]


def test_a_question_restricted_to_one_document_is_answered_from_it_alone(server):
    status, data = ask(server, {"question": "全年完成道路养护多少公里？", "document": TRAFFIC})
    assert status == 200 and data["found"] is True and "560" in data["answer"]
    assert {p["source"] for p in data["passages"]} == {TRAFFIC}
    assert data["document"] == TRAFFIC

    # The bundled question, asked of the other document, is not answered from the bundled one.
    status, data = ask(server, {"question": QUESTION, "document": TRAFFIC})
    assert status == 200 and data["found"] is False
    assert {p["source"] for p in data["passages"]} == {TRAFFIC}

    # Restricted to its own document it is answered, citing the same passage numbers as unrestricted.
    _, whole = ask(server, {"question": QUESTION})
    status, data = ask(server, {"question": QUESTION, "document": BUNDLED})
    assert status == 200 and data["found"] is True and "45561" in data["answer"]
    assert {p["source"] for p in data["passages"]} == {BUNDLED}
    assert data["passage_id"] == whole["passage_id"]
    assert (data["passages"][0]["id"], data["passages"][0]["paragraph"]) == (
        whole["passages"][0]["id"], whole["passages"][0]["paragraph"],
    )


def test_unknown_document_is_422_naming_it(server):
    status, data = ask(server, {"question": QUESTION, "document": "nope.txt"})
    assert status == 422
    assert_one_line_error(data, "nope.txt", BUNDLED)


def test_bad_json_is_400_one_line_json(server):
    for body in (b"{not json", b"", b"[1, 2]", b'"just a string"'):
        status, data, ctype = call(server + "/api/ask", body, headers={"Content-Type": "application/json"})
        assert status == 400, body
        assert ctype.startswith("application/json")
        assert_one_line_error(data)


def test_wrong_types_are_400(server):
    for payload, field in (({"question": 5}, "question"), ({"question": QUESTION, "k": "5"}, "k"),
                           ({"question": QUESTION, "history": "hi"}, "history")):
        status, data = ask(server, payload)
        assert status == 400, payload
        assert_one_line_error(data, field)


def test_empty_question_is_422(server):
    for q in ("", "   ", "\x00\x1b"):
        status, data = ask(server, {"question": q})
        assert status == 422, repr(q)
        assert_one_line_error(data, "question")
    status, data = ask(server, {})
    assert status == 422
    assert_one_line_error(data, "question")


def test_a_100000_character_question_is_413(server):
    status, data = ask(server, {"question": "疫" * 100_000})
    assert status == 413
    assert_one_line_error(data, "100,000")


def raw_post(url: str, headers: list[str], body: bytes) -> tuple[int, dict]:
    """POST over a bare socket, so the client can stop sending part way (as a client that lies would)."""
    parts = urllib.parse.urlparse(url)
    head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", *headers, "", ""]
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall("\r\n".join(head).encode() + body)
        raw = b""
        while b"\r\n\r\n" not in raw:
            raw += sock.recv(65536) or b"<closed>"
        header, _, rest = raw.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in header.split(b"\r\n") if line.lower().startswith(b"content-length")))
        while len(rest) < length:
            rest += sock.recv(65536)
    return int(header.split()[1]), json.loads(rest[:length])


def test_a_body_over_the_cap_is_413(server):
    # Declared too large: refused before a byte of it is read (only a little is even sent).
    status, data = raw_post(server + "/api/ask", ["Content-Length: 5000000"], b'{"question": "')
    assert status == 413
    assert_one_line_error(data, "1,000,000")
    # Not declared (chunked): refused as soon as what has arrived passes the cap.
    chunk = b"a" * 10_000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(101))
    status, data = raw_post(server + "/api/ask", ["Transfer-Encoding: chunked"], body)
    assert status == 413
    assert_one_line_error(data, "1,000,000")


@pytest.mark.parametrize("k", [0, 51, -1])
def test_k_out_of_range_is_422(server, k):
    status, data = ask(server, {"question": QUESTION, "k": k})
    assert status == 422
    assert_one_line_error(data, "k")


def test_unknown_fields_and_roles_are_422(server):
    status, data = ask(server, {"questoin": QUESTION})
    assert status == 422
    assert_one_line_error(data, "question")
    status, data = ask(server, {"question": QUESTION, "history": [{"role": "system", "content": "x"}]})
    assert status == 422
    assert_one_line_error(data, "history.0.role")


def test_curl_without_content_type_is_answered(server):
    # curl -d sends application/x-www-form-urlencoded; urllib sends the same for a POST body.
    body = json.dumps({"question": QUESTION, "k": 1}).encode()
    for headers in ({}, {"Content-Type": "application/x-www-form-urlencoded"}, {"Content-Type": "text/plain"}):
        status, data, _ = call(server + "/api/ask", body, headers=headers)
        assert status == 200 and data["found"] is True and "45561" in data["answer"], headers


def test_openapi_lists_the_api_with_its_fields(server):
    status, spec, _ = call(server + "/openapi.json")
    assert status == 200
    assert "post" in spec["paths"]["/api/ask"] and "get" in spec["paths"]["/api/documents"]
    fields = spec["components"]["schemas"]["AskRequest"]["properties"]
    assert set(fields) == {"question", "k", "history", "document"}
    assert fields["k"]["minimum"] == 1 and fields["k"]["maximum"] == 50
    assert {"400", "413", "422"} <= set(spec["paths"]["/api/ask"]["post"]["responses"])


def test_the_chat_and_gradios_api_are_still_served(server):
    with urllib.request.urlopen(server + "/", timeout=20) as r:
        assert r.status == 200 and b"<html" in r.read().lower()
    status, info, _ = call(server + "/gradio_api/info")
    assert status == 200 and "/chat" in info["named_endpoints"]


def test_binds_only_to_loopback(server):
    port = urllib.parse.urlparse(server).port
    assert listening_addresses(port) == {"127.0.0.1"}


# -- in-process: the paths a real server cannot be made to take on demand --------------------


class _SlowOrBrokenIndex:
    """Just enough of a `qa.Library` for the API: `ask` sleeps, or raises."""

    def __init__(self, *, delay: float = 0.0, fail: bool = False) -> None:
        self.delay, self.fail = delay, fail
        self.documents, self.skipped = [], []

    def ask(self, question, k=5):
        if self.fail:
            raise RuntimeError("secret internal detail")
        time.sleep(self.delay)
        from qa import Answer

        return Answer(question=question, found=False, text="", passages=[], confidence=0.0)


def _client(index):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.api import api_router

    return TestClient(FastAPI(routes=api_router(index).routes))


def test_an_internal_error_is_500_one_line_without_details(caplog):
    with _client(_SlowOrBrokenIndex(fail=True)) as client:
        r = client.post("/api/ask", content=json.dumps({"question": QUESTION}))
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/json")
    assert_one_line_error(r.json(), "internal error")
    assert "secret" not in r.text
    assert "secret internal detail" in caplog.text  # the details go to the log


def test_answering_does_not_block_the_event_loop():
    with _client(_SlowOrBrokenIndex(delay=1.5)) as client:
        slow = threading.Thread(target=client.post, args=("/api/ask",), kwargs={"content": b'{"question": "q?"}'})
        slow.start()
        time.sleep(0.3)  # the slow answer is now running
        t = time.perf_counter()
        r = client.get("/openapi.json")
        quick = time.perf_counter() - t
        slow.join()
    assert r.status_code == 200
    assert quick < 0.8, f"a GET waited {quick:.2f} s behind an answer"
