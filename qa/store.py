"""Index persistence: a directory of plain files, swapped in atomically, never pickled.

Layout under the index root::

    <root>/current -> v-<stamp>/   (a symlink, replaced atomically)
    <root>/v-<stamp>/manifest.json  format version, encoder, document sha256, parameters,
                                    and the sha256 of every other file (checked on load)
    <root>/v-<stamp>/passages.jsonl one passage a line, with its sentences' offsets
    <root>/v-<stamp>/dense.faiss    passage vectors (FAISS)
    <root>/v-<stamp>/sentences.npy  sentence vectors (numpy, allow_pickle=False)
    <root>/v-<stamp>/bm25/          the BM25 index (bm25s, plain npy/json)
    <root>/.lock                    held while building, so two processes build once
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
DENSE = "dense.faiss"
SENTENCES = "sentences.npy"
BM25_DIR = "bm25"
CURRENT = "current"
KEEP_VERSIONS = 2


class IndexCorrupt(ValueError):
    """A stored index is damaged, stale or from another version; the message says which."""


def current_version(root: Path) -> Path | None:
    link = root / CURRENT
    try:
        target = os.readlink(link)
    except OSError:
        return None
    path = root / target
    return path if path.is_dir() else None


def new_version_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def publish(root: Path, tmp: Path) -> Path:
    """Make a fully written temp dir the current version in one atomic step."""
    final = root / f"v-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    os.rename(tmp, final)
    link_tmp = root / f".link-{uuid.uuid4().hex[:8]}"
    os.symlink(final.name, link_tmp)
    os.replace(link_tmp, root / CURRENT)  # atomic on POSIX: readers see old or new, never neither
    _prune(root, keep=final.name)
    return final


def _prune(root: Path, *, keep: str) -> None:
    versions = sorted((p for p in root.glob("v-*") if p.is_dir()), key=lambda p: p.name)
    old = [p for p in versions if p.name != keep][: max(0, len(versions) - KEEP_VERSIONS)]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".tmp-*"):
        # A temp dir from a build that died (its process is gone) is garbage.
        try:
            pid = int(p.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process of this id exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read a megabyte at a time."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digests(version: Path) -> dict[str, str]:
    """sha256 of every file of a version except the manifest, by path relative to it."""
    return {
        path.relative_to(version).as_posix(): file_sha256(path)
        for path in sorted(version.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def verify_digests(version: Path, manifest: dict) -> None:
    """Check every file against the sha256 the manifest recorded when it was saved.

    A file with flipped bytes but the right size would otherwise load and answer wrongly.

    Raises:
        IndexCorrupt: a checksum is missing, a file is missing or extra, or its bytes changed.
    """
    recorded = manifest.get("files")
    if not isinstance(recorded, dict) or not recorded:
        raise IndexCorrupt(f"{MANIFEST} has no file checksums")
    actual = file_digests(version)
    for name in sorted(set(recorded) | set(actual)):
        if name not in actual:
            raise IndexCorrupt(f"{name} is missing")
        if name not in recorded:
            raise IndexCorrupt(f"{name} is not listed in {MANIFEST}")
        if actual[name] != recorded[name]:
            raise IndexCorrupt(f"{name} does not match its sha256 in {MANIFEST}")


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_manifest(version: Path) -> dict:
    try:
        data = json.loads((version / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(f"{MANIFEST} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{MANIFEST} is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise IndexCorrupt(f"{MANIFEST} is not a JSON object")
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt(
            f"{MANIFEST} is format version {data.get('format_version')!r}, this docqa reads {FORMAT_VERSION}"
        )
    return data


def read_jsonl(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise IndexCorrupt(f"{path.name} is missing") from None
    except UnicodeDecodeError:
        raise IndexCorrupt(f"{path.name} is not UTF-8") from None
    rows = []
    for n, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise IndexCorrupt(f"{path.name} line {n} is not valid JSON") from None
        if not isinstance(row, dict):
            raise IndexCorrupt(f"{path.name} line {n} is not a JSON object")
        rows.append(row)
    return rows


def read_npy(path: Path, *, rows: int, dim: int) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise IndexCorrupt(f"{path.name} is missing") from None
    except (ValueError, OSError, EOFError) as exc:
        raise IndexCorrupt(f"{path.name} is unreadable ({str(exc)[:80]})") from None
    if arr.shape != (rows, dim) or arr.dtype != np.float32:
        raise IndexCorrupt(f"{path.name} has shape {arr.shape}, expected ({rows}, {dim})")
    return arr
