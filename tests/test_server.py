"""The real chat server: bound to loopback, serves no file outside the app, writes no pickle,
and keeps answering many concurrent clients (a short run of tests/perf/loadtest.py)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.perf import loadtest

pytestmark = [pytest.mark.model, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin")


@pytest.fixture(scope="module")
def server(real_index):
    home = real_index.settings.home  # the bundled document is already indexed there
    with loadtest.running_server(home=home) as (proc, url):
        yield proc, url, Path(home)


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket in LISTEN state on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if int(hexport, 16) != port or fields[3] != "0A":  # 0A = LISTEN
                continue
            raw = bytes.fromhex(addr)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_binds_only_to_loopback_by_default(server):
    _, url, _ = server
    port = urllib.parse.urlparse(url).port
    assert listening_addresses(port) == {"127.0.0.1"}
    ip = outside_address()
    if ip:
        with pytest.raises(OSError):
            socket.create_connection((ip, port), timeout=3).close()


def test_readme_warns_about_serving_beyond_loopback():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--host 0.0.0.0" in readme and "127.0.0.1" in readme
    assert "no login" in readme and "warning" in readme


def get(url: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"User-Agent": "docqa-test"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_file_routes_do_not_serve_files_outside_the_app(server):
    _, url, home = server
    base = url.rstrip("/")
    secrets = {
        "/etc/passwd": b"root:",
        str(ROOT / "README.md"): b"# docqa",
        str(ROOT / "qa" / "cli.py"): b"argparse",
        str(next(home.rglob("manifest.json"))): b"format_version",
    }
    paths = []
    for target in secrets:
        quoted = urllib.parse.quote(target)
        paths += [
            f"/file={target}",
            f"/file={quoted}",
            f"/gradio_api/file={target}",
            f"/gradio_api/file={quoted}",
            f"/gradio_api/file=..%2f..%2f..%2f..%2f..%2f..%2f..{quoted}",
            f"/gradio_api/file=/tmp/../{target.lstrip('/')}",
        ]
    paths += [
        "/static/../../../../../../etc/passwd",
        "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/assets/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/gradio_api/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/gradio_api/file=README.md",
        "/gradio_api/file=qa/cli.py",
        "/favicon.ico/../../../etc/passwd",
        "/gradio_api/proxy=file:///etc/passwd",
    ]
    for path in paths:
        status, body = get(base + path)
        assert status in (400, 403, 404, 405), (path, status)
        assert not any(marker in body for marker in secrets.values()), path


def test_no_pickle_anywhere_in_the_cache_after_serving(server):
    from gradio_client import Client

    _, url, home = server
    reply = Client(url, verbose=False).predict("疫情期间共核查了多少人员？", api_name="/chat")
    assert "45561" in reply
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "dense.faiss" for p in files)  # the scan sees the index
    for p in files:
        assert p.suffix not in PICKLE_SUFFIXES, p
        head = p.read_bytes()[:2]
        # Pickle protocol 2+ starts with PROTO (0x80) and the protocol number.
        assert not (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5), f"{p} looks pickled"


def test_load_short(real_index):
    result = loadtest.run(questions=100, clients=4, warmup=10, time_limit=300, home=real_index.settings.home)
    assert result["answered"] == 100, result
    assert result["client_errors"] == 0 and result["server_errors"] == 0, result["examples"]
    assert result["malformed"] == 0, result["examples"]
    assert result["p95_ms"] > 0
    # A short run is too short to judge a leak to 10%; it must not balloon either.
    assert result["rss_growth"] < 0.25, result
