"""`python tests/perf/loadtest.py`: many concurrent chat clients against the real `docqa serve`, bounded in count and time.

Starts the server on 127.0.0.1, warms it up with the same concurrency, then runs `--clients` gradio_client clients
(one session each, so follow-ups are read in context as for real users) asking
`--questions` questions, about one in five of them bad (empty, 100,000 characters, HTML,
control characters). Reports server errors, malformed replies, p50/p95 latency,
throughput and the server's resident memory after warm-up and after the run.
Exit code 0 when there were no errors, every reply was well-formed and memory grew by
less than `--max-rss-growth`; 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # tests/perf/loadtest.py -> the repository
QUESTIONS_FILE = PROJECT_ROOT / "seeds" / "questions.jsonl"
# Every reply is one of these (ui/render.py): an answer, a not-found, or a notice for bad input.
# Prefixes: a not-found reply may carry a second class ("docqa-notfound docqa-offtopic").
REPLY_CLASSES = ('class="docqa-source"', 'class="docqa-notfound', 'class="docqa-notice"')
BAD = [
    "",
    "   \n\t ",
    "问" * 100_000,
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "\x00\x01\x1b[31m\x7f疫情\x00期间",
    "？？？！！！",
    "[link](javascript:alert(1)) **bold** `code`",
    "\u202e\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "🙂🙃🤖" * 50,
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextlib.contextmanager
def running_server(*, home: str | Path | None = None, doc: str | None = None, port: int | None = None,
                   host: str | None = None, timeout: float = 300.0, log_path: str | Path | None = None):
    """`docqa serve` as a subprocess; yields ``(process, url)`` once it answers HTTP, stops it after."""
    port = port or free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    if home is not None:
        env["DOCQA_HOME"] = str(home)
        env.setdefault("GRADIO_TEMP_DIR", str(Path(home) / "gradio-tmp"))
    cmd = [sys.executable, "-m", "qa.cli", "serve", "--port", str(port)]
    if doc:
        cmd += ["--doc", str(doc)]
    if host:
        cmd += ["--host", host]
    log_path = Path(log_path) if log_path else Path(env.get("DOCQA_HOME", "/tmp")) / f"serve-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        proc.log_path = log_path  # type: ignore[attr-defined]
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def well_formed(reply: object, *, bad: bool) -> bool:
    """A reply is HTML of one of the three kinds; a bad question gets the notice."""
    if not isinstance(reply, str) or not reply.startswith("<"):
        return False
    if "Traceback" in reply or "<script" in reply or "onerror=" in reply.replace("&", ""):
        return False
    if bad:
        return REPLY_CLASSES[2] in reply or REPLY_CLASSES[1] in reply
    return any(c in reply for c in REPLY_CLASSES)


def question_mix(n: int, *, seed: int = 0) -> list[tuple[str, bool]]:
    """`n` questions: the bundled question set, with about one in five bad ones mixed in.

    Bad means a question that must get a notice (empty, too long, not text); the hostile
    but readable ones (HTML, right-to-left, emoji) must just be answered or not found.
    """
    rng = random.Random(seed)
    good = [json.loads(line)["question"] for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    must_notice = {BAD[0], BAD[1], BAD[2], BAD[5]}
    out = []
    for i in range(n):
        if i % 5 == 4:
            q = BAD[rng.randrange(len(BAD))]
            out.append((q, q in must_notice))
        else:
            out.append((good[rng.randrange(len(good))], False))
    return out


def ask_all(url: str, items: list[tuple[str, bool]], *, clients: int, deadline: float):
    """Ask `items` from `clients` concurrent gradio_client sessions; stop at `deadline`.

    Returns:
        ``(latencies_s, errors, malformed)``.
    """
    from gradio_client import Client

    lock = threading.Lock()
    pending = iter(items)
    latencies: list[float] = []
    errors: list[str] = []
    malformed: list[str] = []

    def worker() -> None:
        client = Client(url, verbose=False)
        while time.monotonic() < deadline:
            with lock:
                item = next(pending, None)
            if item is None:
                return
            q, bad = item
            t0 = time.perf_counter()
            try:
                reply = client.predict(q, api_name="/chat")
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if not well_formed(reply, bad=bad):
                    malformed.append(f"{q[:40]!r} -> {str(reply)[:120]!r}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 60)
    return latencies, errors, malformed


def run(*, questions: int = 2000, clients: int = 16, warmup: int = 200, time_limit: float = 1800.0,
        home: str | Path | None = None, doc: str | None = None, max_rss_growth: float = 0.10) -> dict:
    """Run the load test; returns the figures (see the module docstring)."""
    work = question_mix(questions)
    with running_server(home=home, doc=doc) as (proc, url):
        # Warm up the way the run goes (all clients at once), so that the server's worker
        # threads, their allocator arenas and Gradio's caches exist before the baseline.
        ask_all(url, question_mix(warmup, seed=1), clients=clients, deadline=time.monotonic() + time_limit)
        time.sleep(1.0)
        rss_warm = rss_bytes(proc.pid)
        t_start = time.perf_counter()
        latencies, errors, malformed = ask_all(url, work, clients=clients, deadline=time.monotonic() + time_limit)
        elapsed = time.perf_counter() - t_start
        time.sleep(1.0)
        rss_after = rss_bytes(proc.pid)
        log_text = Path(proc.log_path).read_text(errors="replace")

    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    server_errors = [line for line in log_text.splitlines() if "Traceback" in line or " ERROR" in line]
    result = {
        "questions": len(work),
        "answered": len(latencies),
        "clients": clients,
        "client_errors": len(errors),
        "server_errors": len(server_errors),
        "malformed": len(malformed),
        "p50_ms": round(pct(0.50), 1),
        "p95_ms": round(pct(0.95), 1),
        "max_ms": round(lat[-1] * 1000, 1) if lat else None,
        "throughput_qps": round(len(latencies) / elapsed, 2) if elapsed else 0.0,
        "seconds": round(elapsed, 1),
        "rss_warm_mb": round(rss_warm / 2**20, 1),
        "rss_after_mb": round(rss_after / 2**20, 1),
        "rss_growth": round(rss_after / rss_warm - 1, 4),
        "examples": {"errors": errors[:5], "malformed": malformed[:5], "server": server_errors[:5]},
    }
    result["ok"] = (
        result["answered"] == result["questions"]
        and not errors
        and not malformed
        and not server_errors
        and result["rss_growth"] <= max_rss_growth
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/perf/loadtest.py", description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=200, help="questions asked before the memory baseline")
    parser.add_argument("--time-limit", type=float, default=1800.0, help="stop asking after this many seconds")
    parser.add_argument("--home", default=None, help="DOCQA_HOME for the server (default: the usual cache)")
    parser.add_argument("--doc", default=None)
    parser.add_argument("--max-rss-growth", type=float, default=0.10)
    args = parser.parse_args(argv)
    result = run(questions=args.questions, clients=args.clients, warmup=args.warmup, time_limit=args.time_limit,
                 home=args.home, doc=args.doc, max_rss_growth=args.max_rss_growth)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
