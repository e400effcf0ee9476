"""`docqa bench`: how fast docqa starts, answers and scales. Prints a table, writes JSON and a PNG.

Sections (each reported in the JSON under its name):

* ``cold``   a new `docqa ask` process to its first answer, with no index and with a cached one;
* ``server`` `docqa serve` from start to its first answer, then 1/4/16 concurrent chat clients;
* ``build``  the bundled document's index: time per stage, throughput, and a one-paragraph edit;
* ``warm``   `qa.ask` latency over a few hundred questions, split by stage;
* ``threads`` query-encoding latency under the OpenMP settings worth trying;
* ``milvus_server`` two `docqa serve --store milvus:DB` answering from one Milvus Lite file
  (identical answers? latency), and a fresh one, with no local cache, to its first answer;
* ``scale``  1k/10k/100k/1M passages (200/10k with ``--quick``): build, disk, memory, exact vs
  approximate search, BM25, and the product's `Retriever.search` and `Retriever.ask` minus the model;
  at 10k and 100k (10k with ``--quick``) the same index also written into Milvus Lite and
  measured from a fresh process (``milvus`` under the size). ``--no-milvus`` leaves Milvus out.

Each scale size runs in its own process, so its memory figure is its own. Run it as
``docqa bench [--quick] [--out DIR]`` or ``python tests/perf/bench.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # tests/perf/bench.py -> the repository
if str(PROJECT_ROOT) not in sys.path:  # `python tests/perf/bench.py` puts only tests/perf/ on the path
    sys.path.insert(0, str(PROJECT_ROOT))

import numpy as np  # noqa: E402

log = logging.getLogger(__name__)

QUESTION = "疫情期间共核查了多少人员？"
BENCH_FILE = Path(__file__).resolve()  # the scale children run this file again
QUESTIONS_FILE = PROJECT_ROOT / "seeds" / "questions.jsonl"
GENERATOR_VERSION = 1  # bump when the generated corpus changes, so cached vectors are not reused
TARGETS = {
    "warm_p50_ms": 80.0,  # with the reader (issue 15); without it 20 / 40
    "warm_p95_ms": 150.0,
    "warm_without_reader_p50_ms": 20.0,
    "warm_without_reader_p95_ms": 40.0,
    "cold_cached_s": 2.5,
    "server_ready_s": 5.0,
    "public_build_chars_per_s": 1200.0,  # issue 17: each character encoded once
    "1M_p50_ms": 80.0,
    "1M_recall": 0.95,
    "1M_mem_gib": 4.0,
    "100k_p50_ms": 30.0,
}


# -- small helpers ---------------------------------------------------------------


def _pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def _ms(values) -> dict[str, float]:
    """p50/p95/p99 of durations in seconds, as milliseconds."""
    return {f"p{q}": round(_pct(values, q) * 1000, 2) for q in (50, 95, 99)}


def _rss_mib(field: str = "VmRSS", pid: int | str = "self") -> float:
    """Resident memory of a process from /proc (VmRSS now, VmHWM peak), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _dir_mib(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _run_child(cmd: list[str], env: dict, *, timeout: float = 600) -> tuple[float, float, int, str]:
    """Run a process; return (seconds, peak RSS MiB, exit code, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=PROJECT_ROOT)
    out = b""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, proc.returncode, out.decode("utf-8", "replace")


def _env(home: Path, **extra) -> dict:
    env = dict(os.environ, DOCQA_HOME=str(home), HF_HUB_OFFLINE="1", PYTHONPATH=str(PROJECT_ROOT))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _cli() -> list[str]:
    return [sys.executable, "-m", "qa.cli"]


# -- cold start -------------------------------------------------------------------


def bench_cold(work: Path, *, repeats: int) -> dict:
    """A new `docqa ask` process to its first answer: no index (build included), then cached."""
    home = work / "cold-home"
    shutil.rmtree(home, ignore_errors=True)
    cmd = _cli() + ["ask", QUESTION, "--json"]
    s, rss, rc, out = _run_child(cmd, _env(home))
    result = {"no_index_s": round(s, 2), "no_index_rss_mib": round(rss), "ok": rc == 0}
    runs = [_run_child(cmd, _env(home)) for _ in range(repeats)]
    result["cached_s"] = round(float(np.median([r[0] for r in runs])), 3)
    result["cached_runs_s"] = [round(r[0], 3) for r in runs]
    result["cli_peak_rss_mib"] = round(max(r[1] for r in runs))
    result["ok"] = result["ok"] and all(r[2] == 0 for r in runs)
    try:
        result["answer"] = json.loads(runs[-1][3])["answer"]
    except (ValueError, KeyError, IndexError):
        result["answer"] = None
    s, _, _, _ = _run_child(_cli() + ["--help"], _env(home))
    result["help_s"] = round(s, 3)
    return result


# -- chat server ------------------------------------------------------------------


def _has_serve() -> bool:
    from qa.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return "serve" in sub.choices


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _close_all(clients) -> None:
    """Close gradio clients at once: each `close` waits about a second for its own threads."""

    def close(c):
        try:
            c.close()
        except Exception:
            pass

    threads = [threading.Thread(target=close, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)


STARTS = 5


def _start_server(home: Path, port: int, *, store: str | None = None):
    """`docqa serve` on `port` (with ``--store store`` if given); (process, seconds to its first answer or None)."""
    import json as _json
    import urllib.request

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        _cli() + ["serve", "--port", str(port)] + (["--store", store] if store else []),
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
        start_new_session=True,
    )
    body = _json.dumps({"question": QUESTION}).encode("utf-8")
    while time.perf_counter() - t0 < 90 and proc.poll() is None:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/ask", data=body, method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                if _json.loads(r.read()).get("found") is not None:
                    return proc, time.perf_counter() - t0
        except Exception:  # not listening yet
            time.sleep(0.05)
    return proc, None


def _stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def bench_server(work: Path, *, requests_per_client: int, questions: list[str]) -> dict:
    """`docqa serve` from start to its first answer, then concurrent chat clients."""
    if not _has_serve():
        return {"skipped": "n/a (no server: `docqa serve` does not exist)"}
    try:
        from gradio_client import Client
    except ImportError:
        return {"skipped": "n/a (gradio_client is not installed)"}
    home = work / "cold-home"  # the cached index of the cold-start section
    # Start to first answer, five times (a plain POST /api/ask as soon as the port answers);
    # the median is the figure. The last server then takes the concurrent clients.
    starts: list[float] = []
    for attempt in range(STARTS):
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        proc, ready = _start_server(home, port)
        if ready is None:
            return {"skipped": f"n/a (server did not answer within 90 s, exit code {proc.poll()})"}
        starts.append(ready)
        if attempt < STARTS - 1:
            _stop(proc)
    result: dict = {"ready_runs_s": [round(x, 2) for x in starts], "ready_s": round(statistics.median(starts), 2)}
    try:
        result["clients"] = {}
        for n_clients in (1, 4, 16):
            clients = [Client(url, verbose=False) for _ in range(n_clients)]
            latencies: list[float] = []
            lock = threading.Lock()

            def worker(c, offset):
                for j in range(requests_per_client):
                    q = questions[(offset * requests_per_client + j) % len(questions)]
                    t = time.perf_counter()
                    c.predict(q, api_name="/chat")
                    with lock:
                        latencies.append(time.perf_counter() - t)

            start = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(c, i)) for i, c in enumerate(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
            result["clients"][str(n_clients)] = {
                "requests": len(latencies),
                "throughput_qps": round(len(latencies) / wall, 1),
                **_ms(latencies),
            }
            _close_all(clients)
        result["peak_rss_mib"] = round(_rss_mib("VmHWM", proc.pid))
    finally:
        _stop(proc)
    return result


def _post_ask(port: int, question: str, *, timeout: float = 60) -> dict:
    import urllib.request

    body = json.dumps({"question": question}).encode("utf-8")
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/ask", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def _stop_gently(proc) -> str:
    """Ctrl-C first (the server closes, and a Lite store it holds is released by its exit handlers),
    then SIGTERM, then SIGKILL; says which one stopped it, with the exit code."""
    for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            return f"{signal.Signals(sig).name}, exit code {proc.returncode}"
        except subprocess.TimeoutExpired:
            continue
    return f"exit code {proc.poll()}"


def _files_under(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def bench_milvus_server(work: Path, *, starts: int, questions: list[str]) -> dict:
    """Chat servers answering from one Milvus Lite file, each with an empty ``$DOCQA_HOME``.

    The bundled document is indexed into ``library.db`` (`docqa index --store milvus:DB`);
    then (1) a fresh `docqa serve --store milvus:DB` from start to its first answer, `starts`
    times, and (2) two servers on two ports at once (the first opens the file, the second
    goes through the first's Lite server) asked the same questions through ``POST /api/ask``.
    """
    if not _has_serve():
        return {"skipped": "n/a (no server: `docqa serve` does not exist)"}
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError:
        return {"skipped": "n/a (pymilvus / milvus-lite are not installed)"}
    base = work / "milvus-serve"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    db = base / "library.db"
    store = f"milvus:{db}"
    sidecar = Path(str(db) + ".docqa-server.json")
    from qa.settings import BUNDLED_DOCUMENT

    # With a Milvus store and no path, `docqa index` opens what the store holds: name the document.
    s, _, rc, out = _run_child(_cli() + ["index", "--store", store, "--json", str(BUNDLED_DOCUMENT)], _env(base / "index-home"))
    result: dict = {"store": "milvus:<tmp>/library.db", "index": {"seconds": round(s, 2), "ok": rc == 0}}
    if rc != 0:
        return {**result, "error": f"docqa index --store exited with {rc}"}
    try:
        rep = _last_json(out)
        result["index"].update({k: rep[k] for k in ("passages", "encoded") if k in rep})
    except ValueError:
        pass
    result["index"]["db_mib"] = round(_dir_mib(db), 1)

    # (1) A fresh server, no local cache: start to first answer.
    runs: list[float] = []
    stops: list[str] = []
    left: list[int] = []
    for i in range(starts):
        home = base / f"fresh-home-{i}"
        home.mkdir()
        proc, ready = _start_server(home, _free_port(), store=store)
        stops.append(_stop_gently(proc))
        left.append(_files_under(home))
        if ready is None:
            result["fresh"] = {"error": f"server {i + 1} did not answer within 90 s", "stops": stops}
            break
        runs.append(ready)
    else:
        result["fresh"] = {
            "runs_s": [round(x, 2) for x in runs],
            "median_s": round(statistics.median(runs), 2),
            "stopped_by": stops,
            "files_left_in_home": left,  # 0: nothing cached locally
            "sidecar_left": sidecar.exists(),
        }

    # (2) Two servers on one file.
    procs = []
    two: dict = {"questions": len(questions)}
    try:
        homes = [base / "two-home-a", base / "two-home-b"]
        ports = [_free_port(), _free_port()]
        while ports[1] == ports[0]:
            ports[1] = _free_port()
        for home, port in zip(homes, ports):
            home.mkdir()
            proc, ready = _start_server(home, port, store=store)
            procs.append(proc)
            two.setdefault("ready_s", []).append(None if ready is None else round(ready, 2))
            if ready is None:
                raise RuntimeError(f"server on port {port} did not answer within 90 s (exit code {proc.poll()})")
        try:
            holder = int(json.loads(sidecar.read_text(encoding="utf-8"))["pid"])
            two["holder"] = "first" if holder == procs[0].pid else "second" if holder == procs[1].pid else f"pid {holder}"
        except (OSError, ValueError, KeyError):
            two["holder"] = None
        latencies: list[list[float]] = [[], []]
        answers: list[list[dict]] = [[], []]
        errors = [0, 0]
        for q in questions:
            for k, port in enumerate(ports):
                t = time.perf_counter()
                try:
                    a = _post_ask(port, q)
                except Exception:
                    errors[k] += 1
                    a = {"error": True}
                latencies[k].append(time.perf_counter() - t)
                answers[k].append(a)
        ok = [sum(1 for a in answers[k] if "found" in a) for k in (0, 1)]
        same = sum(1 for a, b in zip(*answers) if "found" in a and a == b)
        two.update({
            "answered": ok,  # per server: questions answered (HTTP 200 with an answer)
            "errors": errors,
            "found": [sum(1 for a in answers[k] if a.get("found")) for k in (0, 1)],
            "identical": same,  # questions whose whole JSON answer (text, passages, scores) is the same from both
            "all_identical": same == len(questions),
            "same_answer_text": sum(1 for a, b in zip(*answers) if "found" in a and a.get("answer") == b.get("answer")),
            "latency_ms": [_ms(latencies[0]), _ms(latencies[1])],
        })
        two["rss_mib"] = [round(_rss_mib("VmRSS", p.pid)) for p in procs]
    except Exception as exc:
        two["error"] = f"{exc.__class__.__name__}: {exc}"
    finally:
        two["stopped_by"] = [_stop_gently(p) for p in reversed(procs)][::-1]  # the second first, then the holder
        two["sidecar_left"] = sidecar.exists()
    result["two_servers"] = two
    return result


# -- build ------------------------------------------------------------------------


def bench_build(work: Path, encoder) -> dict:
    """Build the bundled document's index from nothing, then after a one-paragraph edit."""
    import qa
    from qa.settings import BUNDLED_DOCUMENT, Settings

    home = work / "build-home"
    shutil.rmtree(home, ignore_errors=True)
    doc = work / "bundled-copy.txt"
    text = BUNDLED_DOCUMENT.read_text(encoding="utf-8")
    doc.write_text(text, encoding="utf-8")
    settings = Settings(home=home)
    t0 = time.perf_counter()
    library = qa.load_index(doc, encoder=encoder, settings=settings)
    total = time.perf_counter() - t0
    r = library.build_report
    texts = r.passages + r.sentences
    stages = {k: round(v, 3) for k, v in r.seconds.items()}
    result = {
        "passages": r.passages,
        "sentences": r.sentences,
        "encoded": r.encoded,
        "total_s": round(total, 2),
        "stages_s": stages,
        "passages_per_s": round(r.passages / total, 1),
        "texts_encoded_per_s": round(r.encoded / max(r.seconds.get("encode", 0), 1e-9), 1),
        "index_dir_kib": round(_dir_mib(library.version_dir) * 1024, 1) if library.version_dir else None,
    }
    # Change one paragraph: its passage and the sentence that changed are re-encoded, nothing else.
    unit = max(library.units, key=lambda u: len(u.text))
    first_line = next(line for line in unit.text.splitlines() if line.strip())
    anchor = first_line[:12]
    assert anchor in text, "the passage's first words must appear verbatim in the document"
    doc.write_text(text.replace(anchor, anchor[:-1] + "（修订）" + anchor[-1], 1), encoding="utf-8")
    t0 = time.perf_counter()
    again = qa.load_index(doc, encoder=encoder, settings=settings)
    result["edit_one_paragraph"] = {
        "encoded": again.build_report.encoded,
        "of_texts": texts,
        "seconds": round(time.perf_counter() - t0, 2),
        "reason": again.build_report.reason,
    }
    return result


def bench_public_build(work: Path, encoder, *, articles: int = 200) -> dict:
    """A folder of public encyclopedia articles (CMRC 2018 trial, a stable sample) indexed from nothing.

    The figure is characters of source text per second of the whole build (read, encode,
    BM25, FAISS, save): each character is encoded once, in its sentence (passage vectors
    are their sentences' mean, `qa.search_index.PASSAGE_VECTORS`).
    """
    import qa
    from qa.evaluation import lay_out_squad
    from qa.settings import PROJECT_ROOT, Settings

    home = work / "public-build-home"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home)
    source = PROJECT_ROOT / "seeds" / "public" / "cmrc2018" / "cmrc2018_trial.json"
    layout = lay_out_squad(source, home=work / "public-layout", articles=articles)
    t0 = time.perf_counter()
    library = qa.load_index(layout.folder, encoder=encoder, settings=settings)
    total = time.perf_counter() - t0
    r = library.build_report
    chars = sum(len(u.text) for u in library.units)  # the articles' text, as read
    return {
        "articles": len(library.documents),
        "source_chars": chars,
        "passages": r.passages,
        "sentences": r.sentences,
        "encoded": r.encoded,
        "total_s": round(total, 2),
        "stages_s": {k: round(v, 3) for k, v in r.seconds.items()},
        "chars_per_s": round(chars / total, 1),
    }


# -- warm latency -----------------------------------------------------------------


def _varied_questions(n: int) -> list[str]:
    """The seed questions, then the same reworded (polite prefix, traditional script, no ?)."""
    base = _questions()
    from qa.normalize import _t2s  # noqa: F401 - imported for its OpenCC dependency

    import opencc

    s2t = opencc.OpenCC("s2t")
    variants = [base, ["请问" + q for q in base], [s2t.convert(q) for q in base], [q.rstrip("？?") for q in base]]
    out = [q for group in variants for q in group]
    return (out * (n // len(out) + 1))[:n]


def bench_warm(n_questions: int, *, reader: bool = True) -> dict:
    """`qa.ask` latency on the bundled document, total and per stage, with the reader on (the default) or off."""
    from dataclasses import replace

    import qa
    import qa.api

    t0 = time.perf_counter()
    qa.ask(QUESTION)  # loads the model and the cached index
    first = time.perf_counter() - t0
    library = qa.api._default
    config = replace(library.settings.retrieval, reader=reader)
    t0 = time.perf_counter()
    library.ask(QUESTION, config=config)  # with the reader: loads its weights
    first_reader = time.perf_counter() - t0
    questions = _varied_questions(n_questions)
    for q in questions[:10]:
        library.ask(q, config=config)
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    for q in questions:
        t = time.perf_counter()
        answer = library.ask(q, config=config)
        totals.append(time.perf_counter() - t)
        for k, v in answer.timings.items():
            stages.setdefault(k, []).append(v)
    non_encode = [t - enc for t, enc in zip(totals, stages.get("encode", [0] * len(totals)))]
    from qa.reader import reader_error, shared_reader

    return {
        "questions": len(questions),
        "reader": reader and reader_error() is None,
        "reader_precision": ("int8" if shared_reader().model.int8 else "float32") if reader and reader_error() is None else None,
        "first_call_s": round(first, 2),
        "first_call_with_reader_s": round(first_reader, 2) if reader else None,
        "total": _ms(totals),
        "excluding_encode": _ms(non_encode),
        "stages": {k: _ms(v) for k, v in stages.items()},
        "rss_mib": round(_rss_mib()),
    }


# -- OpenMP settings for the query encoder -----------------------------------------

_THREADS_CHILD = r"""
import json, sys, time, numpy as np
from embeddings import load_encoder
qs = json.loads(sys.argv[1])
enc = load_encoder()
enc.encode_queries(qs[:3])
ts = []
for q in qs:
    t = time.perf_counter(); enc.encode_queries([q]); ts.append(time.perf_counter() - t)
print(json.dumps(ts))
"""


def bench_threads(n: int) -> dict:
    """Query-encoding latency per OpenMP setting (each in a new process: OpenMP reads them at start)."""
    qs = _questions()[:n]
    out = {}
    for threads, policy in (("2", "active"), ("2", "passive"), ("1", "passive"), ("2", "")):
        env = dict(os.environ, OMP_NUM_THREADS=threads, PYTHONPATH=str(PROJECT_ROOT))
        env.pop("OMP_WAIT_POLICY", None)
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        res = subprocess.run([sys.executable, "-c", _THREADS_CHILD, json.dumps(qs)], env=env, capture_output=True, text=True)
        key = f"threads={threads} wait={policy or 'default'}"
        try:
            out[key] = _ms(json.loads(res.stdout))
        except ValueError:
            out[key] = {"error": res.stderr[-200:]}
    out["load_avg"] = round(os.getloadavg()[0], 2)
    return out


# -- scale: corpora ----------------------------------------------------------------


def generate_passages(n: int, *, seed: int = 0) -> list[str]:
    """Varied Chinese passages: the bundled document's sentences with their nouns, verbs,
    adjectives and numbers resampled from jieba's dictionary by part of speech.

    The result reads like (odd) administrative Chinese, with the bundled document's
    sentence shapes and a vocabulary of ~100k words, so its vectors spread like real ones.
    """
    import jieba.posseg as pseg

    from qa.readers import read_file
    from qa.settings import BUNDLED_DOCUMENT

    rng = np.random.default_rng(seed)
    pools = _pos_pools()
    templates = []
    for u in read_file(BUNDLED_DOCUMENT).units:
        for s in u.sentences:
            if len(s.text) >= 8:
                templates.append([(w.word, w.flag) for w in pseg.cut(s.text)])
    out = []
    for _ in range(n):
        sentences = []
        for _ in range(int(rng.integers(1, 4))):
            words = templates[int(rng.integers(len(templates)))]
            parts = []
            for word, flag in words:
                pool = pools.get(flag[:2]) or pools.get(flag[:1])
                if flag.startswith("m") and any(ch.isdigit() for ch in word):
                    parts.append(str(int(rng.integers(1, 10 ** int(rng.integers(1, 6))))))
                elif pool is not None and rng.random() < 0.6:
                    parts.append(pool[int(rng.integers(len(pool)))])
                else:
                    parts.append(word)
            sentences.append("".join(parts)[:120])
        out.append("".join(sentences))
    return out


def _pos_pools() -> dict[str, list[str]]:
    import jieba

    pools: dict[str, list[str]] = {}
    path = Path(jieba.__file__).parent / "dict.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3 and int(parts[1]) >= 20 and parts[2] in ("n", "ns", "nr", "nt", "nz", "v", "vn", "a", "ad"):
            pools.setdefault(parts[2], []).append(parts[0])
    return pools


def _dict_words() -> tuple[list[str], np.ndarray]:
    """jieba's dictionary words and their frequencies: a Zipf-like vocabulary for BM25 corpora."""
    import jieba

    freq: dict[str, int] = {}
    path = Path(jieba.__file__).parent / "dict.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            freq[parts[0]] = freq.get(parts[0], 0) + int(parts[1])
    words = list(freq)
    f = np.asarray([freq[w] for w in words], dtype=np.float64)
    return words, f / f.sum()


def real_vectors(cache: Path, n: int, encoder_factory) -> tuple[np.ndarray, list[str], float | None]:
    """Encode `n` generated passages once, caching the vectors. Returns (vectors, texts, seconds)."""
    texts = generate_passages(n)  # the first n of a longer run are the same passages
    path = cache / f"passages-v{GENERATOR_VERSION}-{n}.npy"
    for cached in sorted(cache.glob(f"passages-v{GENERATOR_VERSION}-*.npy"), key=lambda p: int(p.stem.rsplit("-", 1)[1])):
        if int(cached.stem.rsplit("-", 1)[1]) >= n:
            vecs = np.load(cached, allow_pickle=False)[:n]
            if cached != path:
                np.save(path, vecs, allow_pickle=False)
            return vecs, texts, None
    encoder = encoder_factory()
    t0 = time.perf_counter()
    vecs = encoder.encode_passages(texts)
    seconds = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs, allow_pickle=False)
    return vecs, texts, seconds


def fit_mixture(vectors: np.ndarray, *, clusters: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A diagonal Gaussian mixture around real passage vectors (k-means centres, per-cluster spread)."""
    import faiss

    km = faiss.Kmeans(vectors.shape[1], clusters, niter=20, seed=seed, spherical=True, verbose=False)
    km.train(vectors)
    _, assign = km.index.search(vectors, 1)
    assign = assign[:, 0]
    means = np.zeros_like(km.centroids)
    stds = np.zeros_like(km.centroids)
    weights = np.zeros(clusters)
    for c in range(clusters):
        members = vectors[assign == c]
        if len(members) == 0:
            continue
        weights[c] = len(members)
        means[c] = members.mean(axis=0)
        stds[c] = members.std(axis=0) if len(members) > 1 else vectors.std(axis=0)
    return {"means": means, "stds": stds, "weights": weights / weights.sum()}


def draw_vectors(mixture: dict[str, np.ndarray], n: int, *, seed: int = 1, chunk: int = 100_000) -> np.ndarray:
    """`n` unit vectors drawn from the mixture (in chunks, to keep memory at one copy)."""
    rng = np.random.default_rng(seed)
    dim = mixture["means"].shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        comp = rng.choice(len(mixture["weights"]), size=m, p=mixture["weights"])
        x = mixture["means"][comp] + mixture["stds"][comp] * rng.standard_normal((m, dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


# -- scale: one size, in its own process -------------------------------------------


class _LookupEncoder:
    """Hands back query vectors computed beforehand: the scale runs measure everything but the model."""

    def __init__(self, table: dict[str, np.ndarray], dim: int) -> None:
        self.table, self.dim, self.name = table, dim, "lookup"

    def encode_queries(self, texts):
        return np.vstack([self.table[t] for t in texts])

    def encode_passages(self, texts):  # pragma: no cover - never called
        raise NotImplementedError


def _time_queries(fn, queries, repeat: int = 1) -> list[float]:
    ts = []
    for _ in range(repeat):
        for q in queries:
            t = time.perf_counter()
            fn(q)
            ts.append(time.perf_counter() - t)
    return ts


def time_pipeline(retriever, qtexts: list[str], config, *, n_pipeline: int) -> dict:
    """`Retriever.ask` over the first `n_pipeline` questions, as `Library.ask` runs it: its stages
    but the encoder, the whole ask less the encoder, and that less the reader too."""
    search_stages: dict[str, list[float]] = {}
    search_ms: list[float] = []
    ask_ms: list[float] = []
    store_ms: list[float] = []
    for q in qtexts[:n_pipeline]:
        t = time.perf_counter()
        answer = retriever.ask(q, 5, config)  # `Retriever.search`, then the answer sentence
        wall = time.perf_counter() - t
        timings = answer.timings
        for k, v in timings.items():
            if k not in ("encode", "answer"):
                search_stages.setdefault(k, []).append(v)
        search_ms.append(sum(v for k, v in timings.items() if k not in ("encode", "answer")))
        ask_ms.append(wall - timings.get("encode", 0.0))
        store_ms.append(wall - timings.get("encode", 0.0) - timings.get("reader", 0.0))
    return {
        "pipeline_queries": len(ask_ms),
        "pipeline_ms": _ms(search_ms),  # `Retriever.search`, its stages but the encoder
        "pipeline_stages_ms": {k: _ms(v) for k, v in search_stages.items()},
        "ask_pipeline_ms": _ms(ask_ms),  # the whole `ask`, wall clock, less the encoder
        "ask_without_models_ms": _ms(store_ms),  # the same, less the reader too: what the index and the code cost
    }


def scale_child(spec: dict) -> dict:
    """Measure one corpus size. Runs in a fresh process (see `run_scale`).

    The vector and keyword indexes are the product's (`VectorIndex`, `LexicalIndex`), and the
    retrieval path is the product's own: a real `SearchIndex` over the synthetic passages,
    searched by a real `Retriever`; only the encoder is replaced by a table of the question
    vectors computed beforehand, so everything but the model is measured.
    """
    import bm25s
    from bm25s.tokenization import Tokenized

    from embeddings import APPROX_THRESHOLD, VectorIndex
    from qa.corpus import Unit
    from qa.lexical import LexicalIndex, tokenize
    from qa.normalize import normalize_query
    from qa.retrieval import Retriever, check_question
    from qa.search_index import SearchIndex
    from qa.settings import RetrievalConfig

    n = spec["n"]
    work = Path(spec["work"])
    cache = Path(spec["cache"])
    res: dict = {"n": n, "vectors": spec["source"]}
    qdata = np.load(cache / "queries.npz", allow_pickle=False)
    n_queries = spec.get("queries") or len(qdata["texts"])
    qtexts = [str(t) for t in qdata["texts"][:n_queries]]
    qvecs = qdata["vectors"][:n_queries]
    res["queries"] = len(qtexts)
    if spec["source"] == "real":
        vectors = np.load(spec["vectors_path"], allow_pickle=False)
        texts = generate_passages(n)
    else:
        mix = np.load(cache / "mixture.npz", allow_pickle=False)
        vectors = draw_vectors({k: mix[k] for k in mix.files}, n)
        texts = None
    dim = vectors.shape[1]

    # Exact search, and the ground truth for recall.
    t0 = time.perf_counter()
    flat = VectorIndex.build(vectors, kind="flat")
    res["flat_build_s"] = round(time.perf_counter() - t0, 3)
    flat.save(work / f"flat-{n}.faiss")
    res["flat_disk_mib"] = round(_dir_mib(work / f"flat-{n}.faiss"), 1)
    (work / f"flat-{n}.faiss").unlink()
    _, truth = flat._index.search(qvecs, 10)  # one batched call: the exact top 10 of every query
    few = qvecs if n < 1_000_000 else qvecs[:30]  # exact search at 1M takes ~0.2-1 s a query
    res["flat_query_ms"] = _ms(_time_queries(lambda q: flat.search(q, 50), few))
    del flat

    def approx(kind: str) -> tuple[VectorIndex, dict]:
        t0 = time.perf_counter()
        idx = VectorIndex.build(vectors, kind=kind)
        out = {"build_s": round(time.perf_counter() - t0, 2)}
        idx.save(work / f"{kind}-{n}.faiss")
        out["disk_mib"] = round(_dir_mib(work / f"{kind}-{n}.faiss"), 1)
        (work / f"{kind}-{n}.faiss").unlink()
        out["query_ms"] = _ms(_time_queries(lambda q: idx.search(q, 50), qvecs))
        hits = [idx.search(q, 10).ids for q in qvecs]
        out["recall_at_10"] = round(float(np.mean([len(set(h) & set(t)) / max(1, len(t)) for h, t in zip(hits, truth)])), 4)
        return idx, out

    ivf, res["ivf"] = approx("ivf")
    if spec.get("hnsw"):
        hnsw, res["hnsw"] = approx("hnsw")
        del hnsw
    # The index the product builds for this many passages (`VectorIndex.build`'s "auto").
    auto_kind = "ivf" if n > APPROX_THRESHOLD else "flat"
    dense = ivf if auto_kind == "ivf" else VectorIndex.build(vectors, kind="flat")
    del ivf
    res["auto_kind"] = auto_kind

    # The keyword side: real jieba words (generated text) or a Zipf corpus of dictionary words.
    t0 = time.perf_counter()
    if texts is not None:
        lexical = LexicalIndex.build(texts)
        unit_texts = texts
        res["bm25_corpus"] = "generated text, jieba words"
    else:
        words, p = _dict_words()
        rng = np.random.default_rng(2)
        lengths = rng.integers(20, 80, size=n)
        flat_ids = rng.choice(len(words), size=int(lengths.sum()), p=p).astype(np.int32)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        # bm25s takes token ids plus a vocabulary; only the ids that occur become its vocabulary.
        used, inverse = np.unique(flat_ids, return_inverse=True)
        inverse = inverse.astype(np.int32)
        ids = [inverse[bounds[i] : bounds[i + 1]].tolist() for i in range(n)]
        vocab = {words[w]: i for i, w in enumerate(used)}
        del flat_ids
        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        bm25.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
        lexical = LexicalIndex(bm25)
        unit_texts = ["".join(words[used[t]] for t in ids[i][:12]) for i in range(n)]
        del ids
        res["bm25_corpus"] = f"Zipf draw of jieba dictionary words, {int(lengths.sum()) / n:.0f} tokens/passage"
    res["bm25_build_s"] = round(time.perf_counter() - t0, 2)
    lexical.save(work / f"bm25-{n}")
    res["bm25_disk_mib"] = round(_dir_mib(work / f"bm25-{n}"), 1)
    shutil.rmtree(work / f"bm25-{n}", ignore_errors=True)
    config = RetrievalConfig()
    terms = [tokenize(normalize_query(q)) for q in qtexts]

    def lexical_top(tk):
        s = lexical.scores(tk)
        top = np.argpartition(-s, config.candidates)[: config.candidates] if len(s) > config.candidates else np.arange(len(s))
        return top[s[top] > 0]

    res["bm25_query_ms"] = _ms(_time_queries(lexical_top, terms))

    # The product's retrieval path minus the model: a `SearchIndex` over these passages (each
    # of their sentences gets its passage's vector, so the per-sentence scoring runs as it
    # does on a real document) and the `Retriever` the library builds over it.
    units = [Unit(id=i + 1, text=t, section="") for i, t in enumerate(unit_texts)]
    del unit_texts
    counts = np.fromiter((len(u.sentences) for u in units), dtype=np.int64, count=len(units))
    sentence_vectors = np.repeat(vectors, counts, axis=0)
    del vectors  # the dense index holds its own copy
    index = SearchIndex(
        units, dense, sentence_vectors, lexical, keys=[], section_context=config.section_context
    )  # content hashes only matter for re-use on a rebuild; search never reads them
    res["sentences"] = int(sentence_vectors.shape[0])
    table = {normalize_query(check_question(q)): v for q, v in zip(qtexts, qvecs)}
    retriever = Retriever(index, _LookupEncoder(table, dim))
    for q in qtexts[:3]:  # first-call costs (jieba's tagger, the not-found document terms) are not per query
        retriever.ask(q, 5, config)
    res.update(time_pipeline(retriever, qtexts, config, n_pipeline=len(qtexts) if n <= 200_000 else min(len(qtexts), 60)))
    res["rss_mib"] = round(_rss_mib())  # serving state: the auto index, sentence vectors, BM25, the passages
    res["peak_rss_mib"] = round(_rss_mib("VmHWM"))
    if spec.get("milvus"):
        # The same SearchIndex (vectors, passages, BM25 weights) written into Milvus Lite; the
        # FAISS figures above are already taken, so a Milvus failure only costs its own entry.
        try:
            res["milvus"] = milvus_write(spec, index, truth, qvecs, terms)
        except Exception as exc:
            log.exception("Milvus Lite at %d passages failed", n)
            res["milvus"] = {"error": f"{exc.__class__.__name__}: {exc}"[:800]}
    return res


# -- scale: the Milvus Lite store on the same index -----------------------------------


def _recall(hits, truth) -> float:
    return round(float(np.mean([len(set(map(int, h)) & set(map(int, t))) / max(1, len(t)) for h, t in zip(hits, truth)])), 4)


def milvus_write(spec: dict, index, truth: np.ndarray, qvecs: np.ndarray, terms: list[list[str]]) -> dict:
    """Write the scale run's `SearchIndex` into a new Milvus Lite ``.db`` (`milvus_store.write_version`).

    Build = insert (passages, sentences, manifest), flush, load, then the first dense and
    keyword search. The `.db` is closed again (released) so that a fresh process can open it
    (`milvus_child`); the exact top 10 of every query is saved beside it for recall.
    """
    from qa import milvus_store as ms

    n = spec["n"]
    work = Path(spec["work"])
    db = work / f"milvus-{n}.db"
    shutil.rmtree(db, ignore_errors=True)
    store = f"milvus:{db}"
    mspec = ms.parse_store(store)
    dim = int(qvecs.shape[1])
    out: dict = {"store": store, "rows": {"passages": len(index.units), "sentences": int(index.sentence_vectors.shape[0])}}
    # The FAISS index the product uses at this size, against the same exact top 10.
    out["faiss_recall_at_10"] = _recall([index.dense_top(q, 10).ids for q in qvecs], truth)
    t0 = time.perf_counter()
    conn = ms.connect(mspec)
    out["connect_s"] = round(time.perf_counter() - t0, 2)
    marks: dict[str, float] = {}

    def progress(stage, done, total):
        marks[stage] = time.perf_counter()

    vocabulary = index.lexical.vocabulary()
    manifest = {
        "format_version": ms.FORMAT_VERSION,
        "encoder": {"name": "lookup", "dim": dim},
        "build": {"section_context": index.section_context},
        "document": {"path": "", "sha256": "", "title": ""},
        "repairs": [],
        "files": [],
        "cites_files": False,
        "counts": {"passages": len(index.units), "sentences": int(index.sentence_vectors.shape[0])},
        "vocabulary": vocabulary,
    }
    t0 = time.perf_counter()
    collection = ms.write_version(conn, mspec.collection, index, manifest, progress=progress)
    t_written = time.perf_counter()
    midx = ms.MilvusIndex(conn, collection, index.units, vocabulary, section_context=index.section_context, dim=dim)
    midx.dense_top(qvecs[0], 10)
    midx.keyword(terms[0], 50)
    t_searched = time.perf_counter()
    t_passages = marks.get("storing passages", t0)
    t_sentences = marks.get("storing sentences", t_passages)
    out["stages_s"] = {
        "sparse_vectors_and_insert_passages": round(t_passages - t0, 2),  # BM25 weights as sparse vectors, then the rows
        "insert_sentences": round(t_sentences - t_passages, 2),
        "manifest_flush_load_alias": round(t_written - t_sentences, 2),
        "first_search": round(t_searched - t_written, 2),
    }
    out["store_s"] = round(t_searched - t0, 2)
    ms.disconnect(mspec)  # releases the folder and its lock for the fresh process
    del midx
    out["disk_mib"] = round(_dir_mib(db), 1)
    np.save(work / f"milvus-{n}-truth.npy", truth, allow_pickle=False)
    return out


def milvus_child(spec: dict) -> dict:
    """Open a written ``.db`` in a fresh process, as a second server would (`ms.current`, `ms.open_version`),
    and measure its open time, dense recall@10, query latency and the serving process's memory."""
    res: dict = {"rss_at_start_mib": round(_rss_mib())}
    t0 = time.perf_counter()
    from qa import milvus_store as ms
    from qa.lexical import tokenize
    from qa.normalize import normalize_query
    from qa.retrieval import Retriever, check_question
    from qa.settings import RetrievalConfig

    res["import_s"] = round(time.perf_counter() - t0, 2)
    res["rss_after_import_mib"] = round(_rss_mib())
    cache, work = Path(spec["cache"]), Path(spec["work"])
    qdata = np.load(cache / "queries.npz", allow_pickle=False)
    n_queries = spec.get("queries") or len(qdata["texts"])
    qtexts = [str(t) for t in qdata["texts"][:n_queries]]
    qvecs = qdata["vectors"][:n_queries]
    truth = np.load(work / f"milvus-{spec['n']}-truth.npy", allow_pickle=False)
    dim = int(qvecs.shape[1])
    table = {normalize_query(check_question(q)): v for q, v in zip(qtexts, qvecs)}
    encoder = _LookupEncoder(table, dim)
    mspec = ms.parse_store(spec["store"])
    t0 = time.perf_counter()
    conn = ms.connect(mspec)
    t_conn = time.perf_counter()
    stored = ms.current(conn, mspec.collection)
    if stored is None:
        raise RuntimeError(f"{spec['store']} holds no library")
    _doc, midx, _files = ms.open_version(conn, stored, encoder)
    t_open = time.perf_counter()
    config = RetrievalConfig()
    terms = [tokenize(normalize_query(q)) for q in qtexts]
    midx.dense_top(qvecs[0], 10)
    t_dense = time.perf_counter()
    midx.keyword(terms[0], config.candidates)
    t_kw = time.perf_counter()
    res["open_s"] = {
        "connect": round(t_conn - t0, 2),
        "manifest_and_passages": round(t_open - t_conn, 2),
        "first_dense_search": round(t_dense - t_open, 2),
        "first_keyword_search": round(t_kw - t_dense, 2),
        "total": round(t_kw - t0, 2),
    }
    res["passages"] = len(midx)
    res["recall_at_10"] = _recall([midx.dense_top(q, 10).ids for q in qvecs], truth)
    res["dense_query_ms"] = _ms(_time_queries(lambda q: midx.dense_top(q, 50), qvecs))
    res["keyword_query_ms"] = _ms(_time_queries(lambda tk: midx.keyword(tk, config.candidates).top(config.candidates), terms))
    retriever = Retriever(midx, encoder)
    for q in qtexts[:3]:  # first-call costs, as in `scale_child`
        retriever.ask(q, 5, config)
    res.update(time_pipeline(retriever, qtexts, config, n_pipeline=spec.get("pipeline_queries") or (len(qtexts) if spec["n"] <= 200_000 else min(len(qtexts), 60))))
    # This process serves the .db (Milvus Lite runs in it): the passages' text, Lite's segments and indexes.
    res["rss_mib"] = round(_rss_mib())
    res["peak_rss_mib"] = round(_rss_mib("VmHWM"))
    res["threads"] = threading.active_count()
    ms.disconnect(mspec)
    return res


def _milvus_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("pymilvus", "milvus_lite"))


def _last_json(stdout: str) -> dict:
    """The last line of a child's stdout that is a JSON object (libraries may print before or after it)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise ValueError("no JSON line in the child's output")


def _cached_queries(path: Path, texts: list[str]) -> bool:
    """Whether `path` holds vectors for (at least) these questions, in this order."""
    if not path.exists():
        return False
    try:
        cached = [str(t) for t in np.load(path, allow_pickle=False)["texts"]]
    except (OSError, ValueError, KeyError):
        return False
    return cached[: len(texts)] == texts


def run_scale(
    work: Path,
    cache: Path,
    *,
    sizes: list[int],
    real_sizes: set[int],
    hnsw_sizes: set[int],
    queries: int | None = None,
    milvus_sizes: set[int] = frozenset(),
) -> dict:
    """Prepare vectors (real for `real_sizes`, drawn otherwise), then measure each size in its own process.

    `queries`: how many of the seed questions each size is timed with (all when None).
    `milvus_sizes`: sizes also written into Milvus Lite by their scale process, then opened and
    measured by a fresh one (`milvus_child`), under the size's ``milvus`` key.
    """
    from embeddings import load_encoder

    encoder_box: list = []

    def encoder_factory():
        if not encoder_box:
            encoder_box.append(load_encoder())
        return encoder_box[0]

    out: dict = {"sizes": {}}
    qtexts = _questions()[:queries]
    qpath = cache / "queries.npz"
    cache.mkdir(parents=True, exist_ok=True)
    if not _cached_queries(qpath, qtexts):
        from qa.normalize import normalize_query

        vecs = encoder_factory().encode_queries([normalize_query(q) for q in qtexts])
        np.savez(qpath, texts=np.array(qtexts), vectors=vecs)
    real_paths = {}
    fit_source = None
    for n in sorted(real_sizes):
        vecs, _, seconds = real_vectors(cache, n, encoder_factory)
        real_paths[n] = str(cache / f"passages-v{GENERATOR_VERSION}-{n}.npy")
        out.setdefault("encoding", {})[str(n)] = (
            {"seconds": round(seconds, 1), "passages_per_s": round(n / seconds, 1)} if seconds else "cached"
        )
        fit_source = vecs
    if any(n not in real_sizes for n in sizes):
        clusters = min(256, max(1, len(fit_source) // 40))  # faiss wants ~40 points per centroid
        mix = fit_mixture(fit_source, clusters=clusters)
        np.savez(cache / "mixture.npz", **mix)
        out["mixture"] = f"{clusters}-component diagonal Gaussian mixture fit to {len(fit_source)} real passage vectors"
    for n in sizes:
        spec = {
            "n": n,
            "work": str(work),
            "cache": str(cache),
            "source": "real" if n in real_sizes else "drawn",
            "vectors_path": real_paths.get(n),
            "hnsw": n in hnsw_sizes,
            "queries": queries,
            "milvus": n in milvus_sizes,
        }
        res = subprocess.run(
            [sys.executable, str(BENCH_FILE), "--scale-child", json.dumps(spec)],
            env=_env(work / "scale-home"),
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
        )
        try:
            out["sizes"][str(n)] = _last_json(res.stdout)
        except ValueError:
            out["sizes"][str(n)] = {"n": n, "error": res.stderr[-800:]}
        print(f"  scale {n:>9,}: done", file=sys.stderr, flush=True)
        m = out["sizes"][str(n)].get("milvus")
        if m and "error" not in m:
            m["open"] = run_milvus_child(spec, m["store"], work)
            print(f"  scale {n:>9,}: Milvus Lite done", file=sys.stderr, flush=True)
        shutil.rmtree(work / f"milvus-{n}.db", ignore_errors=True)
    return out


def run_milvus_child(spec: dict, store: str, work: Path, *, timeout: float = 3600) -> dict:
    """`milvus_child` in a fresh process (its RSS is a serving process's own); an error entry if it fails."""
    child = dict(spec, store=store)
    try:
        res = subprocess.run(
            [sys.executable, str(BENCH_FILE), "--milvus-child", json.dumps(child)],
            env=_env(work / "milvus-home"),
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"the fresh process did not finish within {timeout:.0f} s"}
    try:
        return _last_json(res.stdout)
    except ValueError:
        return {"error": (res.stderr or f"exit code {res.returncode}")[-800:]}


# -- report -----------------------------------------------------------------------


def _fmt(v, unit="") -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "n/a"
    return f"{v}{unit}"


def format_table(r: dict) -> str:
    lines = ["| measure | result | target |", "| --- | --- | --- |"]
    c = r.get("cold", {})
    lines.append(f"| `docqa ask`, new process, cached index | {_fmt(c.get('cached_s'), ' s')} | <= 2.5 s |")
    lines.append(f"| `docqa ask`, new process, no index (build included) | {_fmt(c.get('no_index_s'), ' s')} | |")
    lines.append(f"| `docqa --help` | {_fmt(c.get('help_s'), ' s')} | |")
    s = r.get("server", {})
    if "skipped" in s:
        lines.append(f"| chat server start to first answer (median of 5) | {s['skipped']} | <= 5 s |")
    else:
        lines.append(f"| chat server start to first answer (median of 5) | {_fmt(s.get('ready_s'), ' s')} | <= 5 s |")
        for k, v in s.get("clients", {}).items():
            lines.append(
                f"| server, {k} concurrent client(s): throughput / p50 / p95 | "
                f"{v['throughput_qps']} q/s / {v['p50']} ms / {v['p95']} ms | |"
            )
    b = r.get("build", {})
    if b:
        st = b["stages_s"]
        lines.append(
            f"| build bundled doc ({b['passages']} passages + {b['sentences']} sentences) | {b['total_s']} s "
            f"(read {st.get('read')} · encode {st.get('encode')} · BM25 {st.get('bm25')} · FAISS {st.get('faiss')} · save {st.get('save')}) | |"
        )
        lines.append(f"| build throughput | {b['passages_per_s']} passages/s, {b['texts_encoded_per_s']} texts encoded/s | |")
        e = b["edit_one_paragraph"]
        lines.append(f"| re-index after editing one paragraph | {e['encoded']} of {e['of_texts']} texts re-encoded, {e['seconds']} s | only the changed ones |")
    pb = r.get("public_build", {})
    if pb and "chars_per_s" in pb:
        lines.append(
            f"| build {pb['articles']} public articles ({pb['source_chars']:,} characters) | {pb['total_s']} s, "
            f"**{pb['chars_per_s']:,} characters/s** | >= {TARGETS['public_build_chars_per_s']:,.0f} characters/s |"
        )
    for key, label, target in (("warm", "with the reader", "p50 <= 80, p95 <= 150 ms"), ("warm_without_reader", "without the reader", "p50 <= 20, p95 <= 40 ms")):
        w = r.get(key, {})
        if not w or "total" not in w:
            continue
        t = w["total"]
        precision = f", {w['reader_precision']}" if w.get("reader_precision") else ""
        lines.append(f"| warm `qa.ask` {label}{precision}: p50 / p95 / p99 ({w['questions']} questions) | {t['p50']} / {t['p95']} / {t['p99']} ms | {target} |")
        st = w["stages"]
        lines.append(
            f"| warm stages {label}, p50 (p95), ms | "
            + " · ".join(f"{k} {v['p50']} ({v['p95']})" for k, v in st.items())
            + " | |"
        )
        lines.append(f"| warm {label}, everything but the encoder p50 / p95 | {w['excluding_encode']['p50']} / {w['excluding_encode']['p95']} ms | |")
        if w.get("first_call_with_reader_s") is not None:
            lines.append(f"| first question after start: index / reader weights loaded | {w['first_call_s']} s / {w['first_call_with_reader_s']} s | |")
    lines.append(
        f"| peak RSS: CLI / server | {_fmt(c.get('cli_peak_rss_mib'), ' MiB')} / {_fmt(s.get('peak_rss_mib'), ' MiB')} | |"
    )
    sc = r.get("scale", {}).get("sizes", {})
    if sc:
        lines.append("")
        lines.append(
            "| passages | vectors | exact p50/p95 ms | approx (IVF) p50/p95 ms | recall@10 | IVF build s | "
            "disk MiB (IVF + BM25) | BM25 build s | BM25 p50/p95 ms | search / ask excl. encoder p50/p95 ms | RSS MiB (peak) |"
        )
        lines.append("| ---: | --- | --- | --- | ---: | ---: | --- | ---: | --- | --- | --- |")
        for n, v in sc.items():
            if "error" in v:
                lines.append(f"| {int(n):,} | error: {v['error'][-120:]!r} |")
                continue
            iv = v["ivf"]
            lines.append(
                f"| {int(n):,} | {v['vectors']} | {v['flat_query_ms']['p50']} / {v['flat_query_ms']['p95']} | "
                f"{iv['query_ms']['p50']} / {iv['query_ms']['p95']} | {iv['recall_at_10']} | {iv['build_s']} | "
                f"{iv['disk_mib']} + {v['bm25_disk_mib']} | {v['bm25_build_s']} | {v['bm25_query_ms']['p50']} / {v['bm25_query_ms']['p95']} | "
                f"{v['pipeline_ms']['p50']} / {v['pipeline_ms']['p95']} · {v['ask_pipeline_ms']['p50']} / {v['ask_pipeline_ms']['p95']} ({v['auto_kind']}) | "
                f"{v['rss_mib']} ({v['peak_rss_mib']}) |"
            )
            if "hnsw" in v:
                h = v["hnsw"]
                lines.append(
                    f"| {int(n):,} | (HNSW instead) | | {h['query_ms']['p50']} / {h['query_ms']['p95']} | {h['recall_at_10']} | {h['build_s']} | {h['disk_mib']} | | | | |"
                )
    lines.extend(_milvus_lines(r))
    return "\n".join(lines)


def _pp(d: dict | None) -> str:
    """'p50 / p95' of a `_ms` dict."""
    return f"{d['p50']} / {d['p95']}" if d and "p50" in d else "n/a"


def _milvus_lines(r: dict) -> list[str]:
    """FAISS beside Milvus Lite per scale size, then the two-server check and the fresh server's start."""
    sc = r.get("scale", {}).get("sizes", {})
    notes = r.get("scale", {}).get("milvus_not_run", {})
    ms_srv = r.get("milvus_server")
    if not any("milvus" in v for v in sc.values()) and not notes and not ms_srv:
        return []
    lines = ["", "FAISS beside Milvus Lite, same vectors, passages and BM25 weights (build: dense index + BM25 for "
             "FAISS; BM25 + `write_version` (insert, flush, load) + first search for Milvus; query: `Retriever.ask` "
             "less the encoder, and less the reader too; Milvus opened, searched and measured in a fresh process):", "",
             "| passages | store | build s | passages/s | ask excl. encoder p50/p95 ms | excl. encoder + reader p50/p95 ms | "
             "recall@10 | RSS MiB | open s (fresh process) | disk MiB |",
             "| ---: | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for n, v in sc.items():
        label = f"{int(n):,}"
        if "error" in v:
            lines.append(f"| {label} | FAISS | error: {v['error'][-120:]!r} | | | | | | | |")
            continue
        m = v.get("milvus")
        dense_build = v["flat_build_s"] if v.get("auto_kind") == "flat" else v["ivf"]["build_s"]
        f_build = round(dense_build + v["bm25_build_s"], 2)
        f_recall = m.get("faiss_recall_at_10") if m else None
        if f_recall is None:
            f_recall = 1.0 if v.get("auto_kind") == "flat" else v["ivf"]["recall_at_10"]
        f_disk = v["flat_disk_mib"] if v.get("auto_kind") == "flat" else v["ivf"]["disk_mib"]
        lines.append(
            f"| {label} | FAISS ({v.get('auto_kind')}) | {f_build} | {round(int(n) / max(f_build, 1e-9)):,} | "
            f"{_pp(v.get('ask_pipeline_ms'))} | {_pp(v.get('ask_without_models_ms'))} | {f_recall} | "
            f"{v['rss_mib']} | | {round(f_disk + v['bm25_disk_mib'], 1)} |"
        )
        if m is None:
            lines.append(f"| {label} | Milvus Lite | {notes.get(n, 'not run')} | | | | | | | |")
            continue
        o = m.get("open") or {}
        if "error" in m or "error" in o:
            lines.append(f"| {label} | Milvus Lite | error: {(m.get('error') or o.get('error'))[-160:]!r} | | | | | | | |")
            continue
        m_build = round(v["bm25_build_s"] + m["store_s"], 2)
        kind = "FLAT" if v.get("auto_kind") == "flat" else "IVF_FLAT"
        lines.append(
            f"| {label} | Milvus Lite ({kind}) | {m_build} | {round(int(n) / max(m_build, 1e-9)):,} | "
            f"{_pp(o.get('ask_pipeline_ms'))} | {_pp(o.get('ask_without_models_ms'))} | {o.get('recall_at_10')} | "
            f"{o.get('rss_mib')} | {(o.get('open_s') or {}).get('total')} | {m.get('disk_mib')} |"
        )
    for n, why in notes.items():
        if n not in sc:
            lines.append(f"| {int(n):,} | Milvus Lite | {why} | | | | | | | |")
    if ms_srv:
        lines.append("")
        if "skipped" in ms_srv or "error" in ms_srv:
            lines.append(f"Milvus Lite servers: {ms_srv.get('skipped') or ms_srv.get('error')}")
            return lines
        two = ms_srv.get("two_servers", {})
        if "error" in two:
            lines.append(f"- two `docqa serve --store milvus:DB` on one file: error: {two['error']}")
        else:
            lat = two.get("latency_ms", [{}, {}])
            lines.append(
                f"- two `docqa serve --store milvus:DB` on one Lite file (own empty DOCQA_HOME each; the {two.get('holder')} "
                f"opened the file, the other went through it): answered {two['answered'][0]} and {two['answered'][1]} of "
                f"{two['questions']} questions over POST /api/ask; identical answers (whole JSON) "
                f"{'yes' if two.get('all_identical') else 'no'} ({two['identical']} of {two['questions']}); "
                f"p50 / p95 {_pp(lat[0])} ms and {_pp(lat[1])} ms; stopped: {', '.join(two.get('stopped_by', []))}"
            )
        fr = ms_srv.get("fresh", {})
        faiss_ready = r.get("server", {}).get("ready_s")
        if "error" in fr:
            lines.append(f"- fresh `docqa serve --store milvus:DB`, empty DOCQA_HOME: error: {fr['error']}")
        elif fr:
            lines.append(
                f"- fresh `docqa serve --store milvus:DB`, empty DOCQA_HOME, start to first answer: median of "
                f"{len(fr['runs_s'])} {fr['median_s']} s ({', '.join(map(str, fr['runs_s']))}); FAISS with its cached "
                f"local index (server section): {_fmt(faiss_ready, ' s')}; files left in the home: {sum(fr['files_left_in_home'])}"
            )
    return lines


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    w = r.get("warm", {})
    if w:
        ax = axes[0]
        names = list(w["stages"])
        p50 = [w["stages"][k]["p50"] for k in names]
        p95 = [w["stages"][k]["p95"] for k in names]
        x = np.arange(len(names))
        ax.bar(x - 0.2, p50, 0.4, label="p50")
        ax.bar(x + 0.2, p95, 0.4, label="p95")
        ax.set_xticks(x, names, rotation=20)
        ax.set_ylabel("ms")
        ax.set_title(f"warm qa.ask by stage (total p50 {w['total']['p50']} ms)")
        ax.legend()
    sc = {int(k): v for k, v in r.get("scale", {}).get("sizes", {}).items() if "error" not in v}
    if sc:
        ns = sorted(sc)
        ax = axes[1]
        ax.loglog(ns, [sc[n]["flat_query_ms"]["p50"] for n in ns], "o-", label="exact (flat)")
        ax.loglog(ns, [sc[n]["ivf"]["query_ms"]["p50"] for n in ns], "o-", label="IVF")
        ax.loglog(ns, [sc[n]["bm25_query_ms"]["p50"] for n in ns], "o-", label="BM25")
        ax.loglog(ns, [sc[n]["pipeline_ms"]["p50"] for n in ns], "o-", label="Retriever.search excl. encoder")
        ax.loglog(ns, [sc[n]["ask_pipeline_ms"]["p50"] for n in ns], "x--", label="Retriever.ask excl. encoder")
        ax.axhline(80, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("passages")
        ax.set_ylabel("query p50, ms")
        ax.set_title("query latency vs corpus size")
        ax.legend(fontsize=8)
        ax = axes[2]
        ax.loglog(ns, [sc[n]["rss_mib"] for n in ns], "o-", label="RSS serving (MiB)")
        ax.loglog(ns, [sc[n]["ivf"]["disk_mib"] + sc[n]["bm25_disk_mib"] for n in ns], "o-", label="disk, IVF + BM25 (MiB)")
        ax.loglog(ns, [max(sc[n]["ivf"]["build_s"] + sc[n]["bm25_build_s"], 1e-3) for n in ns], "o-", label="build, IVF + BM25 (s)")
        for n in ns:
            ax.annotate(f"recall {sc[n]['ivf']['recall_at_10']:.3f}", (n, sc[n]["rss_mib"]), fontsize=7)
        ax.set_xlabel("passages")
        ax.set_title("memory, disk, build time")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


MILVUS_NOT_AT_1M = (
    "not run: extrapolated linearly from 10k and 100k (2 cores, 23 GiB), a fresh process serving 1M from "
    "Milvus Lite would hold ~18 GiB, the writing process that plus FAISS's 1M index, the write would take "
    "~9 min and the Milvus calls of one question ~1 s (docs/benchmarks.md, Milvus Lite beside FAISS)"
)


def run(out: Path, *, quick: bool = False, milvus: bool = True) -> dict:
    """Run every section and write ``bench.json``, ``bench.png`` and ``bench.md`` into `out`.

    Args:
        out: output folder (created).
        quick: fewer repetitions and questions, and only a 200-passage (real) and a 10k-passage
            (drawn) scale run, no 100k/1M.
        milvus: also measure the Milvus Lite store (``milvus_server``; and the scale sizes
            10k, and 100k without `quick`, on the same index as FAISS). Skipped, with a note,
            when pymilvus or milvus-lite is not installed.

    Returns:
        The results, as written to ``bench.json``.
    """
    from embeddings import load_encoder

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(out).resolve()  # the scale children run in the repository root
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="docqa-bench-"))
    cache = out / "cache"
    os.environ["DOCQA_HOME"] = str(work / "cold-home")  # `qa.ask` uses the index the cold run built
    t_start = time.perf_counter()
    results: dict = {
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "load_avg_start": round(os.getloadavg()[0], 2)},
        "targets": TARGETS,
    }

    def step(name, fn):
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as exc:  # a failing section must not hide the others
            log.exception("bench section %s failed", name)
            results[name] = {"error": f"{exc.__class__.__name__}: {exc}"}
        print(f"[bench] {name} done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)

    try:
        step("cold", lambda: bench_cold(work, repeats=3 if quick else 5))
        step("server", lambda: bench_server(work, requests_per_client=3 if quick else 10, questions=_questions()))
        if milvus:
            step("milvus_server", lambda: bench_milvus_server(work, starts=3 if quick else STARTS, questions=_questions()[: 20 if quick else 60]))
        encoder = load_encoder()
        step("build", lambda: bench_build(work, encoder))
        step("public_build", lambda: bench_public_build(work, encoder, articles=50 if quick else 200))
        step("warm", lambda: bench_warm(200 if quick else 600))
        step("warm_without_reader", lambda: bench_warm(200 if quick else 600, reader=False))
        step("threads", lambda: bench_threads(40 if quick else 120))
        if quick:
            # 200 passages encoded for real (~15-30 s the first time, then cached in OUT/cache/),
            # 10k drawn from a mixture fit to them; each size timed with 200 of the questions.
            sizes, real, hnsw, n_queries = [200, 10_000], {200}, set(), 200
        else:
            # 1k and 10k passages are encoded for real (10k takes ~13 minutes on 2 cores the
            # first time; the vectors are cached in OUT/cache/); 100k and 1M are drawn.
            sizes, real, hnsw, n_queries = [1000, 10_000, 100_000, 1_000_000], {1000, 10_000}, {100_000}, None
        milvus_sizes: set[int] = set()
        milvus_note: dict[str, str] = {}
        if milvus:
            if _milvus_installed():
                milvus_sizes = {10_000} if quick else {10_000, 100_000}
                for n in sizes:
                    if n not in milvus_sizes:
                        milvus_note[str(n)] = MILVUS_NOT_AT_1M if n >= 1_000_000 else (
                            "not run (--quick: 10k only)" if quick else "not run (10k and 100k only)")
            else:
                milvus_note = {str(n): "not run (pymilvus / milvus-lite are not installed)" for n in sizes}

        def scale():
            r = run_scale(work, cache, sizes=sizes, real_sizes=real, hnsw_sizes=hnsw, queries=n_queries, milvus_sizes=milvus_sizes)
            if milvus_note:
                r["milvus_not_run"] = milvus_note
            return r

        step("scale", scale)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_avg_end"] = round(os.getloadavg()[0], 2)
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    (out / "bench.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    table = format_table(results)
    (out / "bench.md").write_text(table + "\n", encoding="utf-8")
    plot(results, out / "bench.png")
    print(table)
    print(f"\nwrote {out / 'bench.json'}, {out / 'bench.png'}, {out / 'bench.md'} in {results['seconds']} s")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/perf/bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="bench-results")
    parser.add_argument("--no-milvus", action="store_true", help="leave out the Milvus Lite measurements")
    parser.add_argument("--scale-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--milvus-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scale_child:
        print(json.dumps(scale_child(json.loads(args.scale_child))), flush=True)
        return 0
    if args.milvus_child:
        spec = json.loads(args.milvus_child)
        try:
            result = milvus_child(spec)
        except Exception as exc:  # reported, not raised: the parent records it beside the FAISS figures
            log.exception("Milvus Lite child failed")
            result = {"error": f"{exc.__class__.__name__}: {exc}"[:800]}
        print(json.dumps(result), flush=True)
        return 0
    run(Path(args.out), quick=args.quick, milvus=not args.no_milvus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
