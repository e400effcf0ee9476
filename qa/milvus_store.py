"""The Milvus store: a library's whole index in Milvus, so several servers answer from one copy.

``--store`` / ``$DOCQA_STORE`` / ``Settings.store`` picks where an index lives:

- ``faiss`` (the default): a local folder under ``$DOCQA_HOME`` (`qa.store`), one per process.
- ``milvus:PATH.db``: Milvus Lite, embedded, in one folder on this machine.
- ``milvus://HOST:PORT`` (``milvus+https://`` for TLS): a Milvus server or cluster. A token
  comes from ``$DOCQA_MILVUS_TOKEN``, or a user and password from ``$DOCQA_MILVUS_USER`` and
  ``$DOCQA_MILVUS_PASSWORD``; never from the command line.

``?collection=NAME`` names the library inside the store (default ``docqa``).

What Milvus holds, per version of a library (collections ``NAME__<stamp>``, ``…__s``,
``…__m``; the alias ``NAME`` points at the current one):

- passages: id (its place in the library), passage vector, BM25 sparse vector, file name,
  and the passage itself (text, section, kind, line, page, paragraph, content hash);
- sentences: id, passage, vector, content hash;
- meta: the manifest in chunks: format, encoder and dimension, build settings, the
  document's sha256 and title, every file's size, mtime, sha256, title and repairs, and the
  keyword vocabulary.

The keyword side is docqa's own BM25 (jieba words, bm25s weights) stored as sparse vectors
and searched by inner product, which gives bm25s's scores exactly (docs/milvus.md has the
measurement against Milvus's BM25 function). Fusion, the not-found decision and the answer
choice are `qa.retrieval`'s, the same code as for FAISS.

A build writes a new version's three collections, and only then moves the alias, so an
interrupted build leaves the previous version answering. Unchanged text is never
re-encoded: its sentence vectors come back from the stored version by content hash.

Milvus Lite lets one process open a ``.db`` folder. The process that opens it serves it to
others on this machine (its address in ``PATH.db.docqa-server.json``); a second docqa
process uses that server, and takes the folder over if the first one exits.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence
from urllib.parse import parse_qs, urlsplit

import numpy as np

from embeddings import Hits
from qa.corpus import Document, Repair, Unit
from qa.store import pid_alive

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_COLLECTION = "docqa"
INSTALL_HINT = "pip install -e '.[milvus]'"
BATCH = 500  # rows per insert
CHUNK = 60000  # characters of manifest JSON per meta row (ASCII-escaped, so bytes too)
KEEP_PREVIOUS = 1  # earlier versions kept besides the current one, for servers still reading them
LITE_WAIT_S = 15.0  # how long to wait for a Lite folder another docqa process is opening
ALIAS_CHECK_S = 10.0  # how often a library read from the store looks for a newer version
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,120}")


class StoreError(ValueError):
    """The store cannot be used; the message is one line and names the URI (a ValueError, so every
    caller that reports bad input in one line reports this too)."""


@dataclass(frozen=True)
class StoreSpec:
    """A parsed ``--store`` value."""

    uri: str  # as the user wrote it (credentials never appear in it)
    kind: str  # "faiss" | "lite" | "server"
    target: str = ""  # lite: the .db folder; server: http(s)://host:port
    collection: str = DEFAULT_COLLECTION

    @property
    def is_milvus(self) -> bool:
        return self.kind in ("lite", "server")


def parse_store(value: str | None) -> StoreSpec:
    """Read a ``--store`` value.

    Raises:
        ValueError: not ``faiss``, ``milvus:PATH.db`` or ``milvus://HOST:PORT``, a bad
            collection name, or credentials written into the URI.
    """
    raw = (value or "faiss").strip()
    if raw.lower() == "faiss":
        return StoreSpec("faiss", "faiss")
    base, _, query = raw.partition("?")
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - {"collection"})
    if unknown:
        raise ValueError(f"store {raw!r}: unknown option {unknown[0]!r} (only ?collection=NAME)")
    name = (params.get("collection") or [DEFAULT_COLLECTION])[-1]
    if not _NAME.fullmatch(name):
        raise ValueError(f"store {raw!r}: collection {name!r} must be letters, digits and _ (not starting with a digit)")
    lower = base.lower()
    if lower.startswith(("milvus://", "milvus+https://")):
        parts = urlsplit(base)
        if parts.username or parts.password:
            shown = raw.replace(parts.netloc, parts.netloc.rpartition("@")[2])  # the password is not echoed back
            raise ValueError(
                f"store {shown!r}: put credentials in $DOCQA_MILVUS_TOKEN or $DOCQA_MILVUS_USER/$DOCQA_MILVUS_PASSWORD, "
                "not in the URI"
            )
        if not parts.hostname:
            raise ValueError(f"store {raw!r}: no host; write milvus://HOST:PORT")
        try:
            port = parts.port or 19530
        except ValueError:
            raise ValueError(f"store {raw!r}: the port is not a number") from None
        scheme = "https" if lower.startswith("milvus+https://") else "http"
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return StoreSpec(raw, "server", f"{scheme}://{host}:{port}", name)
    if lower.startswith("milvus:"):
        path = base[len("milvus:"):]
        if not path.endswith(".db"):
            raise ValueError(f"store {raw!r}: a Milvus Lite store is a path ending in .db (milvus:/path/to/index.db)")
        return StoreSpec(raw, "lite", str(Path(path).expanduser().absolute()), name)
    raise ValueError(f"store {raw!r}: use 'faiss', 'milvus:PATH.db' (Milvus Lite) or 'milvus://HOST:PORT' (a Milvus server)")


def with_collection(spec: StoreSpec, name: str) -> StoreSpec:
    """The same store, another library in it."""
    return replace(spec, collection=name)


def library_collection(paths: Sequence[str | Path]) -> str:
    """A collection name of its own for a set of documents (evaluation keeps each set apart)."""
    import hashlib

    resolved = "\n".join(sorted(str(Path(p).expanduser().resolve()) for p in paths))
    return "lib_" + hashlib.sha256(resolved.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# -- connecting -----------------------------------------------------------------------------


def _pymilvus(spec: StoreSpec):
    try:
        import pymilvus
    except ImportError:
        raise StoreError(f"{spec.uri}: the Milvus store needs pymilvus and milvus-lite: {INSTALL_HINT}") from None
    # pymilvus prints every failed call to stderr with a traceback, through handlers of its own;
    # docqa reports each failure once, as a StoreError line that carries its reason.
    for name in ("pymilvus", "pymilvus.milvus_client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return pymilvus


def _why(exc: Exception) -> str:
    """An exception as a few words: the first line of its message, without gRPC noise."""
    msg = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    msg = str(msg).strip().splitlines()[0] if str(msg).strip() else exc.__class__.__name__
    return msg[:160]


class Connection:
    """A client for one store, reopened once if the process serving a Lite file goes away."""

    def __init__(self, spec: StoreSpec) -> None:
        self.spec = spec
        self._lock = threading.RLock()
        self._lite = None  # (server, db) when this process serves the .db folder
        self._loaded: set[str] = set()  # collections loaded, loaded again after a takeover
        self.client = self._open()

    # Lite ----------------------------------------------------------------------------------

    @property
    def _sidecar(self) -> Path:
        return Path(self.spec.target + ".docqa-server.json")

    def _shared_uri(self) -> str | None:
        """The address of another live docqa process serving this .db folder, if there is one."""
        try:
            info = json.loads(self._sidecar.read_text(encoding="utf-8"))
            pid, port = int(info["pid"]), int(info["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if pid == os.getpid() or not pid_alive(pid):
            return None
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            return None
        return f"http://127.0.0.1:{port}"

    def _serve_lite(self) -> str | None:
        """Open the .db folder in this process and serve it on a local port; None if another process holds it."""
        try:
            from milvus_lite.adapter.grpc.server import start_server_in_thread
        except ImportError:
            raise StoreError(f"{self.spec.uri}: the Milvus Lite store needs milvus-lite: {INSTALL_HINT}") from None
        path = Path(self.spec.target)
        if path.exists() and not path.is_dir():
            raise StoreError(f"{self.spec.uri}: {path} is a file, not a Milvus Lite database (a folder)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.spec.uri}: cannot create {path.parent} ({_why(exc)})") from None
        try:
            server, db, port = start_server_in_thread(data_dir=str(path), host="127.0.0.1", port=0)
        except Exception as exc:  # milvus_lite raises its own errors; a held LOCK is the usual one
            if "lock" in f"{exc.__class__.__name__} {exc}".lower():
                return None
            raise StoreError(f"{self.spec.uri}: Milvus Lite cannot open {path} ({_why(exc)})") from None
        self._lite = (server, db)
        tmp = self._sidecar.with_name(self._sidecar.name + f".{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps({"pid": os.getpid(), "port": port}), encoding="utf-8")
            os.replace(tmp, self._sidecar)
        except OSError as exc:
            log.warning("%s: cannot share it with other processes (%s)", self.spec.uri, _why(exc))
        atexit.register(self.close)
        return f"http://127.0.0.1:{port}"

    def _open(self):
        pymilvus = _pymilvus(self.spec)
        if self.spec.kind == "lite":
            deadline = time.monotonic() + LITE_WAIT_S
            while True:
                uri = self._shared_uri() or self._serve_lite()
                if uri:
                    break
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"{self.spec.uri}: the database is open in another process that does not share it; "
                        "stop that process, or use a Milvus server (milvus://HOST:PORT) for several"
                    )
                time.sleep(0.2)
            # Lite's gRPC server accepts a ping only every 5 minutes without calls; pymilvus pings every
            # 10 s, and after a quiet minute the server says GOAWAY (too_many_pings) on stderr.
            return self._client(pymilvus, uri, token="", grpc_options={
                "grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": 0})
        token = os.environ.get("DOCQA_MILVUS_TOKEN", "")
        user, password = os.environ.get("DOCQA_MILVUS_USER", ""), os.environ.get("DOCQA_MILVUS_PASSWORD", "")
        if not token and user:
            token = f"{user}:{password}"
        return self._client(pymilvus, self.spec.target, token=token)

    def _client(self, pymilvus, uri: str, *, token: str, **options):
        try:
            client = pymilvus.MilvusClient(uri=uri, token=token, timeout=10, **options)
            client.list_collections()
        except Exception as exc:
            text = _why(exc)
            low = text.lower()
            if any(w in low for w in ("auth", "credential", "password", "permission", "denied", "unauthenticated")):
                raise StoreError(f"{self.spec.uri}: Milvus refused the credentials ({text})") from None
            raise StoreError(f"{self.spec.uri}: cannot reach Milvus ({text})") from None
        return client

    def call(self, method: str, *args, **kwargs):
        """``client.<method>(…)``; if the process that served the Lite file exited, take it over and retry once."""
        with self._lock:
            client = self.client
            if method == "load_collection":
                self._loaded.add(args[0])
        try:
            return getattr(client, method)(*args, **kwargs)
        except Exception as exc:
            if self.spec.kind != "lite" or not _connection_lost(exc):
                raise
            log.info("%s: the process serving it went away; opening it here", self.spec.uri)
            with self._lock:
                if self.client is client:
                    self.client = self._open()
                    for name in sorted(self._loaded):  # a reopened database starts with every collection released
                        try:
                            self.client.load_collection(name)
                        except Exception:
                            self._loaded.discard(name)  # dropped since: a newer version replaced it
                client = self.client
            return getattr(client, method)(*args, **kwargs)

    def close(self) -> None:
        """Close the client and, when this process serves the .db folder, the database and its lock."""
        with self._lock:
            try:
                self.client.close()
            except Exception:
                pass
            if self._lite is not None:
                server, db = self._lite
                self._lite = None
                try:
                    info = json.loads(self._sidecar.read_text(encoding="utf-8"))
                    if int(info.get("pid", -1)) == os.getpid():
                        self._sidecar.unlink()
                except (OSError, ValueError):
                    pass
                try:
                    server.stop(grace=1)
                except Exception:
                    pass
                try:
                    db.close()
                except Exception:
                    pass


def _connection_lost(exc: Exception) -> bool:
    text = f"{exc.__class__.__name__} {exc}".lower()
    return any(w in text for w in ("unavailable", "connection refused", "failed to connect", "socket closed",
                                   "connect failed", "deadline exceeded"))


_connections: dict[str, Connection] = {}
_connections_lock = threading.Lock()


def connect(spec: StoreSpec) -> Connection:
    """One connection per store and process (Milvus Lite allows one opener per folder).

    Raises:
        StoreError: the extra is missing, the server is unreachable or refuses the credentials.
    """
    key = f"{spec.kind}\n{spec.target}"
    with _connections_lock:
        conn = _connections.get(key)
        if conn is None:
            conn = _connections[key] = Connection(spec)
        return conn


def disconnect(spec: StoreSpec) -> None:
    """Close this process's connection to a store (and release a Lite folder it serves)."""
    with _connections_lock:
        conn = _connections.pop(f"{spec.kind}\n{spec.target}", None)
    if conn is not None:
        conn.close()


# -- one version of a library ---------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """The current version of a library in a store: its collection and manifest."""

    collection: str
    manifest: dict


def current(conn: Connection, name: str) -> Stored | None:
    """The version the alias points at, with its manifest; None when the store has no such library.

    Raises:
        StoreError: the manifest is missing, damaged or of another format.
    """
    uri = conn.spec.uri
    try:
        aliases = conn.call("list_aliases")
        if isinstance(aliases, dict):
            aliases = aliases.get("aliases", [])
        if name not in aliases:
            return None
        target = conn.call("describe_alias", name)["collection_name"]
        meta = f"{target}__m"
        conn.call("load_collection", meta)
        rows = conn.call("query", meta, filter="id >= 0", output_fields=["id", "body"], limit=16384)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"{uri}: cannot read library {name!r} ({_why(exc)})") from None
    try:
        manifest = json.loads("".join(r["body"] for r in sorted(rows, key=lambda r: r["id"])))
    except (ValueError, TypeError, KeyError):
        raise StoreError(f"{uri}: library {name!r} has a damaged manifest; rebuild it (docqa index --store … --rebuild)") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"{uri}: library {name!r} is of another format; rebuild it (docqa index --store … --rebuild)")
    return Stored(target, manifest)


def check_encoder(spec: StoreSpec, manifest: dict, encoder) -> None:
    """Raises StoreError when the stored vectors come from another encoder or dimension."""
    enc = manifest.get("encoder") or {}
    if enc.get("name") != encoder.name or enc.get("dim") != encoder.dim:
        raise StoreError(
            f"{spec.uri}: library {spec.collection!r} was built with encoder {enc.get('name')!r} "
            f"(dimension {enc.get('dim')}), not {encoder.name!r} (dimension {encoder.dim}); "
            "rebuild it with docqa index --rebuild, or use that encoder"
        )


def _schemas(client, pymilvus, dim: int):
    DataType = pymilvus.DataType
    p = client.create_schema(auto_id=False, enable_dynamic_field=False)
    p.add_field("id", DataType.INT64, is_primary=True)
    p.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    p.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    p.add_field("source", DataType.VARCHAR, max_length=4096)
    p.add_field("row", DataType.VARCHAR, max_length=65535)
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("passage", DataType.INT64)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    s.add_field("key", DataType.VARCHAR, max_length=80)
    m = client.create_schema(auto_id=False, enable_dynamic_field=False)
    m.add_field("id", DataType.INT64, is_primary=True)
    m.add_field("body", DataType.VARCHAR, max_length=65535)
    m.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
    return p, s, m


def _dense_index(n: int) -> tuple[str, dict]:
    """The same choice as the FAISS store: exact below the threshold, an inverted file above it."""
    from embeddings.vector_index import APPROX_THRESHOLD, IVF_LISTS_PER_SQRT_N

    if n <= APPROX_THRESHOLD:
        return "FLAT", {}
    return "IVF_FLAT", {"nlist": max(1, min(4096, int(round(IVF_LISTS_PER_SQRT_N * n**0.5))))}


def _search_params(n: int) -> dict:
    from embeddings.vector_index import _nprobe

    kind, params = _dense_index(n)
    if kind == "FLAT":
        return {"metric_type": "IP"}
    return {"metric_type": "IP", "params": {"nprobe": _nprobe(params["nlist"])}}


def unit_row(u: Unit, key: str) -> str:
    return json.dumps(
        {"text": u.text, "section": u.section, "kind": u.kind, "line": u.line, "repaired": u.repaired,
         "page": u.page, "paragraph": u.paragraph, "key": key},
        ensure_ascii=False,
    )


def write_version(conn: Connection, name: str, index, manifest: dict, *, progress=None) -> str:
    """Write `index` (a built `SearchIndex`) as a new version of library `name`, then point the alias at it.

    Returns:
        The new version's collection name.

    Raises:
        StoreError: Milvus refused a write (the previous version still answers).
    """
    pymilvus = _pymilvus(conn.spec)
    now = time.time_ns()  # fixed width, so versions sort by when they were written, to the nanosecond
    base = f"{name}__{time.strftime('%Y%m%d%H%M%S', time.gmtime(now // 10**9))}{now % 10**9:09d}_{uuid.uuid4().hex[:6]}"
    units = index.units
    n = len(units)
    dim = int(index.sentence_vectors.shape[1]) if index.sentence_vectors.size else int(manifest["encoder"]["dim"])
    try:
        previous = current(conn, name)
    except StoreError:
        previous = None  # a damaged version is replaced, not read
    try:
        p_schema, s_schema, m_schema = _schemas(conn.client, pymilvus, dim)
        kind, params = _dense_index(n)
        for coll, schema, fields in (
            (base, p_schema, [("vector", kind, "IP", params), ("sparse", "SPARSE_INVERTED_INDEX", "IP", {})]),
            (f"{base}__s", s_schema, [("vector", "FLAT", "IP", {})]),
            (f"{base}__m", m_schema, [("v", "FLAT", "IP", {})]),
        ):
            ip = conn.client.prepare_index_params()
            for field, itype, metric, prm in fields:
                ip.add_index(field_name=field, index_type=itype, metric_type=metric, params=prm)
            conn.call("create_collection", coll, schema=schema)
            # sync=False: pymilvus would wait for the index through AllocTimestamp, which Lite lacks (it
            # retries for seconds and logs a traceback); Lite builds the index as it loads.
            conn.call("create_index", coll, ip, sync=False)
        pvecs = index.dense.reconstruct_all()
        sparse = index.lexical.sparse_vectors()
        keys = index.keys
        for lo in range(0, n, BATCH):
            rows = [
                {"id": i, "vector": pvecs[i].tolist(), "sparse": sparse[i], "source": units[i].source,
                 "row": unit_row(units[i], keys[i] if i < len(keys) else "")}
                for i in range(lo, min(n, lo + BATCH))
            ]
            conn.call("insert", base, rows)
            if progress:
                progress("storing passages", min(n, lo + BATCH), n)
        svecs = index.sentence_vectors
        owner = np.repeat(np.arange(n), np.diff(index.offsets))
        skeys = keys[n:] if len(keys) > n else [""] * len(svecs)
        for lo in range(0, len(svecs), BATCH):
            rows = [
                {"id": j, "passage": int(owner[j]), "vector": svecs[j].tolist(), "key": skeys[j]}
                for j in range(lo, min(len(svecs), lo + BATCH))
            ]
            conn.call("insert", f"{base}__s", rows)
            if progress:
                progress("storing sentences", min(len(svecs), lo + BATCH), len(svecs))
        body = json.dumps(manifest, ensure_ascii=True)
        chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)] or [""]
        conn.call("insert", f"{base}__m", [{"id": i, "body": c, "v": [0.0, 0.0]} for i, c in enumerate(chunks)])
        for coll in (base, f"{base}__s", f"{base}__m"):
            conn.call("flush", coll)
            conn.call("load_collection", coll)
        # The switch: until here the previous version answers, and an interrupted build leaves only garbage.
        if previous is None and name not in _aliases(conn):
            conn.call("create_alias", base, name)
        else:
            conn.call("alter_alias", base, name)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"{conn.spec.uri}: could not write library {name!r} ({_why(exc)})") from None
    _drop_old(conn, name, keep={base, previous.collection if previous else ""})
    return base


def _aliases(conn: Connection) -> list[str]:
    aliases = conn.call("list_aliases")
    return aliases.get("aliases", []) if isinstance(aliases, dict) else list(aliases)


def _drop_old(conn: Connection, name: str, *, keep: set[str]) -> None:
    """Drop versions older than the kept ones (a newer one may be another process's build in progress)."""
    try:
        versions = sorted({c.split("__")[1] for c in conn.call("list_collections") if c.startswith(f"{name}__")})
        newest_kept = max(k.split("__")[1] for k in keep if k)
        for stamp in versions:
            coll = f"{name}__{stamp}"
            if coll in keep or stamp > newest_kept:
                continue
            for c in (coll, f"{coll}__s", f"{coll}__m"):
                if conn.call("has_collection", c):
                    conn.call("drop_collection", c)
    except Exception as exc:  # leftovers cost disk, not answers
        log.warning("%s: could not drop old versions of %r (%s)", conn.spec.uri, name, _why(exc))


def _rows(conn: Connection, collection: str, fields: list[str], *, total: int | None = None, page: int = 4000):
    """Every row of a collection, a page of ids at a time (ids are 0..n-1)."""
    conn.call("load_collection", collection)
    if total is None:
        total = int(conn.call("query", collection, filter="", output_fields=["count(*)"])[0]["count(*)"])
    for lo in range(0, total, page):
        yield from conn.call("query", collection, filter=f"id >= {lo} and id < {lo + page}",
                             output_fields=["id", *fields], limit=page)


def read_units(conn: Connection, collection: str) -> tuple[list[Unit], list[str]]:
    """Every passage of a version, in library order, and their content hashes."""
    rows = sorted(_rows(conn, collection, ["source", "row"]), key=lambda r: r["id"])
    units, keys = [], []
    for i, r in enumerate(rows):
        d = json.loads(r["row"])
        units.append(Unit(i + 1, d["text"], d.get("section", ""), d.get("kind", "paragraph"), int(d.get("line", 0)),
                          bool(d.get("repaired", False)), r.get("source", ""), int(d.get("page", 0)),
                          int(d.get("paragraph", 0))))
        keys.append(d.get("key", ""))
    return units, keys


def stored_sentence_vectors(conn: Connection, collection: str, wanted: set[str]) -> dict[str, np.ndarray]:
    """The stored sentence vectors whose content hash is in `wanted` (to reuse, not re-encode)."""
    out: dict[str, np.ndarray] = {}
    if wanted:
        for r in _rows(conn, f"{collection}__s", ["key", "vector"]):
            if r["key"] in wanted:
                out[r["key"]] = np.asarray(r["vector"], dtype=np.float32)
    return out


class StoredKeywords:
    """The keyword side's vocabulary, as the not-found signals and the English bridge ask of it."""

    def __init__(self, vocabulary: Sequence[str], size: int) -> None:
        self._vocab = list(vocabulary)
        self._set = frozenset(self._vocab)
        self.size = size

    def has(self, token: str) -> bool:
        return token in self._set

    def vocabulary(self) -> list[str]:
        return list(self._vocab)


class MilvusKeywordHits:
    """One question's BM25 scores from the store: the best passages found, any other passage's on demand."""

    def __init__(self, index: MilvusIndex, qvec: dict[int, float], top: list[tuple[int, float]]) -> None:
        self._index, self._qvec = index, qvec
        self._scores = dict(top)
        self._top = [i for i, s in top if s > 0]

    def top(self, n: int) -> list[int]:
        return self._top[:n]

    def of(self, ids: Sequence[int]) -> np.ndarray:
        missing = [int(i) for i in ids if int(i) not in self._scores]
        if missing and self._qvec:  # their stored weights, by primary key, scored here as Milvus would
            rows = self._index._call("query", self._index.collection, filter=f"id in {missing}",
                                     output_fields=["id", "sparse"], limit=len(missing))
            for r in rows:
                weights = r["sparse"]
                self._scores[int(r["id"])] = float(sum(w * weights.get(t, 0.0) for t, w in self._qvec.items()))
        return np.array([self._scores.get(int(i), 0.0) for i in ids], dtype=np.float32)


class MilvusIndex:
    """A version of a library in Milvus, answering what `qa.retrieval.Retriever` asks of a `SearchIndex`.

    The passages' text and places are held here (the answer is quoted from them); the
    vectors and the keyword weights stay in Milvus and are searched there.
    """

    def __init__(self, conn: Connection, collection: str, units: list[Unit], vocabulary: Sequence[str],
                 *, section_context: bool, dim: int) -> None:
        self.conn = conn
        self.collection = collection
        self.units = units
        self.lexical = StoredKeywords(vocabulary, len(units))
        self.section_context = section_context
        self.dim = dim
        self.sentences = [u.sentences for u in units]
        self.offsets = np.cumsum([0] + [len(s) for s in self.sentences])
        self._search_params = _search_params(len(units))

    def __len__(self) -> int:
        return len(self.units)

    def _call(self, method: str, *args, **kwargs):
        """A search or query; Milvus refusing it is a `StoreError`, one line naming the URI."""
        try:
            return self.conn.call(method, *args, **kwargs)
        except Exception as exc:
            raise StoreError(f"{self.conn.spec.uri}: search failed ({_why(exc)})") from None

    @staticmethod
    def _filter(source: str | None) -> str:
        return "" if source is None else f"source == {json.dumps(source, ensure_ascii=False)}"

    def _sparse_search(self, qvec: dict[int, float], n: int, flt: str) -> list[tuple[int, float]]:
        res = self._call("search", self.collection, data=[qvec], anns_field="sparse", limit=max(1, min(n, 16384)),
                         filter=flt, output_fields=["id"], search_params={"metric_type": "IP"})[0]
        return [(int(h["id"]), float(h["distance"])) for h in res]

    def keyword(self, terms: list[str], n: int, *, source: str | None = None) -> MilvusKeywordHits:
        from qa.lexical import query_vector

        qvec = query_vector(terms) if terms else {}
        top = self._sparse_search(qvec, min(n, len(self.units)), self._filter(source)) if qvec else []
        return MilvusKeywordHits(self, qvec, top)

    def dense_top(self, qvec: np.ndarray, n: int, *, source: str | None = None) -> Hits:
        n = min(n, len(self.units))
        if n <= 0:
            return Hits(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        params = self._search_params if source is None else {"metric_type": "IP"}
        res = self._call("search", self.collection, data=[np.asarray(qvec, dtype=np.float32).tolist()],
                         anns_field="vector", limit=min(n, 16384), filter=self._filter(source),
                         output_fields=["id"], search_params=params)[0]
        return Hits(np.array([int(h["id"]) for h in res], dtype=np.int64),
                    np.array([float(h["distance"]) for h in res], dtype=np.float32))

    def passage_vectors(self, ids: Sequence[int]) -> np.ndarray:
        ids = [int(i) for i in ids]
        if not ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = self._call("query", self.collection, filter=f"id in {ids}", output_fields=["id", "vector"])
        by_id = {int(r["id"]): r["vector"] for r in rows}
        return np.asarray([by_id[i] for i in ids], dtype=np.float32).reshape(len(ids), self.dim)

    def sentence_sims(self, ids: Sequence[int], qvec: np.ndarray) -> dict[int, np.ndarray]:
        ids = [int(i) for i in ids]
        out = {i: np.zeros(0, dtype=np.float32) for i in ids}
        # The vectors by primary key (a passage's sentences are rows offsets[i]..offsets[i+1]; a
        # filter on `passage` is a scan in Lite: 37 -> 9 ms at 30k sentences), scored here as the
        # FAISS store scores them: Milvus's own inner products (a search that returns only scores,
        # ~4 ms faster in Lite) sum in another order, and near ties then fall the other way.
        sids = [j for i in ids for j in range(int(self.offsets[i]), int(self.offsets[i + 1]))]
        if not sids:
            return out
        rows = self._call("query", f"{self.collection}__s", filter=f"id in {sids}",
                          output_fields=["id", "vector"], limit=min(16384, len(sids)))
        by_id = {int(r["id"]): r["vector"] for r in rows}
        for i in ids:
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            if hi > lo:
                out[i] = np.asarray([by_id[j] for j in range(lo, hi)], dtype=np.float32) @ qvec
        return out


def open_version(conn: Connection, stored: Stored, encoder) -> tuple[Document, MilvusIndex, list[dict]]:
    """The document, the searchable index and the file rows of a stored version (nothing is encoded).

    Raises:
        StoreError: the version cannot be read, or its passages do not match its manifest.
    """
    m = stored.manifest
    try:
        units, _keys = read_units(conn, stored.collection)
        conn.call("load_collection", f"{stored.collection}__s")
    except Exception as exc:
        raise StoreError(f"{conn.spec.uri}: cannot read library {conn.spec.collection!r} ({_why(exc)})") from None
    want = int((m.get("counts") or {}).get("passages", -1))
    if want != len(units):
        raise StoreError(
            f"{conn.spec.uri}: library {conn.spec.collection!r} holds {len(units)} passages, its manifest says {want}; "
            "rebuild it (docqa index --store … --rebuild)"
        )
    doc = m.get("document") or {}
    repairs = [Repair(str(r["kind"]), int(r["line"]), str(r["detail"])) for r in m.get("repairs") or []]
    document = Document(path=str(doc.get("path", "")), title=str(doc.get("title", "")), sha256=str(doc.get("sha256", "")),
                        units=units, repairs=repairs)
    build = m.get("build") or {}
    index = MilvusIndex(conn, stored.collection, units, m.get("vocabulary") or [],
                        section_context=bool(build.get("section_context", True)), dim=encoder.dim)
    return document, index, list(m.get("files") or [])
