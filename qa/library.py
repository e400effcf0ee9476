"""A library: the documents answered from (one file, many files, folders), read once each, cached per file.

One type for one file or many: a single file is a library of one. It owns discovery, the
per-file parse cache, ``refresh()``, ``documents`` and ``skipped``, and asks a
`SearchIndex` built over every file's passages.

Citations: every passage keeps its file (``source``: the path relative to the folder it
was found in, or the file name for a file given directly; "" for a library of one file
given directly, whose user knows which file it is), its ``page`` (PDF; where the passage
starts) and its ``paragraph``: its number among its own file's passages, 1-based, in
reading order. ``paragraph`` depends only on the file's own content, so adding or changing
another file never renumbers it. ``Passage.id`` is the passage's number in the whole
library (unique, used for ranking and evaluation; it shifts when files before it change).

Incremental updates: a file whose size and mtime (or, if those changed, whose sha256)
match the last build is neither read nor parsed again, and only passages whose text is
new are sent to the encoder (`qa.search_index` reuses vectors by content hash); the keyword
and vector indexes themselves are rebuilt, which takes milliseconds. Two processes opening
the same library build it once (a file lock); a cache that cannot be written is skipped
and the library is answered from memory.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from qa import readers, store
from qa.answer import Answer
from qa.corpus import Document, Repair, Unit, content_hash
from qa.retrieval import Retriever, SearchResult
from qa.search_index import PASSAGE_VECTORS, SearchIndex, reusable_vectors
from qa.settings import RetrievalConfig, Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)
FILES = "files.jsonl"  # the per-file parse cache, stored beside the index files of a version
MAX_FILES = 5000  # a guard against `--doc /` or a home folder by mistake


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for `docqa index` and the benchmark."""

    path: str
    rebuilt: bool
    reason: str
    passages: int
    sentences: int
    encoded: int  # texts actually sent to the encoder (the rest came from the cache)
    seconds: dict[str, float]


@dataclass(frozen=True)
class DocumentInfo:
    """One file of a library, as the chat and `docqa index` list it."""

    name: str
    passages: int
    kind: str  # "text" | "docx" | "pdf" | "html"
    title: str = ""
    pages: int = 0  # PDF pages that hold passages (0 for other formats)


@dataclass(frozen=True)
class FileEntry:
    """What the library knows about one file: its identity on disk and its parsed passages."""

    name: str
    path: str
    size: int
    mtime_ns: int
    sha256: str
    kind: str
    title: str = ""
    units: tuple[Unit, ...] = ()  # ids 1..n within the file, source = name
    repairs: tuple[Repair, ...] = ()
    error: str = ""  # why the file could not be read ("" when it was)

    def to_row(self) -> dict:
        return {
            "name": self.name, "path": self.path, "size": self.size, "mtime_ns": self.mtime_ns,
            "sha256": self.sha256, "kind": self.kind, "title": self.title, "error": self.error,
            "units": [
                {"text": u.text, "section": u.section, "kind": u.kind, "line": u.line, "repaired": u.repaired,
                 "page": u.page}
                for u in self.units
            ],
            "repairs": [r.__dict__ for r in self.repairs],
        }

    @classmethod
    def from_row(cls, row: dict) -> FileEntry:
        units = tuple(
            Unit(i, str(u["text"]), str(u.get("section", "")), str(u.get("kind", "paragraph")), int(u.get("line", 0)),
                 bool(u.get("repaired", False)), str(row["name"]), int(u.get("page", 0)))
            for i, u in enumerate(row.get("units") or [], start=1)
        )
        repairs = tuple(Repair(str(r["kind"]), int(r["line"]), str(r["detail"])) for r in row.get("repairs") or [])
        return cls(str(row["name"]), str(row["path"]), int(row["size"]), int(row["mtime_ns"]), str(row["sha256"]),
                   str(row["kind"]), str(row.get("title", "")), units, repairs, str(row.get("error", "")))


def discover(paths: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """The files of a library, as (cited name, absolute path), in a stable order.

    Folders are searched recursively for supported files; hidden files and folders and
    Office lock files (``~$…``) are left out. A file named directly must be supported.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: a file named directly is of an unsupported type.
    """
    found: list[tuple[tuple[str, ...], Path]] = []  # (name parts, path)
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"document not found: {p}")
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if len(found) > MAX_FILES:
                    raise ValueError(f"{p}: more than {MAX_FILES} documents; point docqa at a smaller folder")
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts) or f.name.startswith("~$"):
                    continue
                if f.is_file() and readers.file_format(f) and f.resolve() not in seen:
                    seen.add(f.resolve())
                    found.append((rel.parts, f.resolve()))
        else:
            if readers.file_format(p) is None:
                raise ValueError(
                    f"{p}: unsupported file type {p.suffix or '(none)'!r}; "
                    f"docqa reads {', '.join(readers.SUPPORTED_SUFFIXES)}"
                )
            if p.resolve() not in seen:
                seen.add(p.resolve())
                found.append(((p.name,), p.resolve()))
    # Two files with the same relative name (from two folders) are told apart by their folders.
    plain = ["/".join(parts) for parts, _ in found]
    names = [
        "/".join(path.parts[-(len(parts) + 1):]) if plain.count(name) > 1 else name
        for name, (parts, path) in zip(plain, found)
    ]
    return sorted(zip(names, (path for _, path in found)), key=lambda item: item[0])


def library_root(home: Path, paths: Sequence[Path], encoder_name: str) -> Path:
    """The folder holding every version of one library's index for one encoder."""
    resolved = "\n".join(sorted(str(Path(p).expanduser().resolve()) for p in paths))
    key = hashlib.sha256(f"library\n{resolved}\n{encoder_name}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    first = Path(paths[0]).expanduser().resolve()
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (first.name or "root"))[:40]
    return Path(home) / "libraries" / f"{stem}-{key}"


class Library:
    """The documents a question is answered from; use `qa.load_index` to open one.

    ``ask`` returns an `Answer` whose passages cite their file (``source``), ``page`` and
    ``paragraph``.
    """

    def __init__(self, paths: Sequence[str | Path], *, encoder, settings: Settings) -> None:
        if not paths:
            raise ValueError("paths is empty: give a folder or one or more files")
        self._start(paths, encoder, settings)
        self.root = library_root(settings.home, self.paths, encoder.name)

    def _start(self, paths: Sequence[str | Path], encoder, settings: Settings) -> None:
        """The state every library starts with, before its first `refresh`."""
        self.paths = [Path(p).expanduser() for p in paths]
        self.encoder = encoder
        self.settings = settings
        self.root: Path | None = None
        # One file named directly: its passages need not name it.
        self._single_file = len(self.paths) == 1 and not self.paths[0].is_dir()
        self._entries: list[FileEntry] = []
        self._state: tuple[Document, SearchIndex, Retriever] | None = None
        self.build_report: BuildReport | None = None
        self.version_dir: Path | None = None
        self._lock = threading.Lock()

    # -- what it holds -------------------------------------------------------------

    def _loaded(self) -> tuple[Document, SearchIndex, Retriever]:
        if self._state is None:
            raise RuntimeError("library not loaded: call refresh() (load_index does)")
        return self._state

    @property
    def document(self) -> Document:
        """Every file's passages as one document, numbered through."""
        return self._loaded()[0]

    @property
    def units(self) -> list[Unit]:
        return self._loaded()[0].units

    @property
    def index(self) -> SearchIndex:
        return self._loaded()[1]

    def __len__(self) -> int:
        return len(self.units)

    @property
    def cites_files(self) -> bool:
        """Whether passages name their file: a folder or several files, not one file given directly."""
        return not self._single_file

    @property
    def documents(self) -> list[DocumentInfo]:
        """The files answered from, with their passage counts, in citation-name order."""
        return [
            DocumentInfo(e.name, len(e.units), e.kind, e.title, len({u.page for u in e.units if u.page}))
            for e in self._entries
            if not e.error
        ]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """Files that could not be read, as (name, why)."""
        return [(e.name, e.error) for e in self._entries if e.error]

    # -- asking ----------------------------------------------------------------------

    def ask(
        self, question: str, k: int = 5, *, config: RetrievalConfig | None = None, source: str | None = None
    ) -> Answer:
        """Answer `question` from the library's documents.

        Args:
            question: the question, in any language.
            k: how many passages to return (1..50).
            config: retrieval settings; defaults to this library's.
            source: answer from this one file only (its name as in `documents`); passages
                keep their ids, keyword statistics stay the whole library's.

        Returns:
            An `Answer`; ``found`` is False when the documents do not answer.

        Raises:
            ValueError: `question` is empty or too long, `k` is out of range, or no file is named `source`.
        """
        retriever = self._loaded()[2]  # one consistent snapshot across a refresh
        return retriever.ask(question, k, config or self.settings.retrieval, source=source)

    def search(self, question: str, k: int = 5, *, config: RetrievalConfig | None = None) -> SearchResult:
        """Only the ranked passages, with per-stage timings (for evaluation and benchmarks)."""
        return self._loaded()[2].search(question, k, config or self.settings.retrieval)

    # -- building ----------------------------------------------------------------------

    def refresh(self, *, progress: Progress | None = None, rebuild: bool = False) -> BuildReport:
        """Bring the index up to date with the files on disk, re-reading only what changed.

        Returns:
            The `BuildReport`; ``encoded`` counts the texts sent to the encoder.

        Raises:
            FileNotFoundError: a path is gone.
            ValueError: no readable document at all (the message lists why each failed).
        """
        from filelock import FileLock

        with self._lock:
            t0 = time.perf_counter()
            files = discover(self.paths)
            before = store.current_version(self.root)
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                lock = FileLock(str(self.root / ".lock"), timeout=600)
                lock.acquire()
            except OSError as exc:
                log.warning("index cache %s is not writable (%s); building in memory only", self.root, exc)
                lock = None
            try:
                report = self._refresh(files, lock is not None, t0, progress=progress, rebuild=rebuild)
                if report.reason == "cached" and self.version_dir != before:  # built while we waited for the lock
                    report = self.build_report = replace(report, reason="built by another process")
                return report
            finally:
                if lock is not None:
                    lock.release()

    def _refresh(self, files, writable: bool, t0: float, *, progress, rebuild: bool) -> BuildReport:
        version = store.current_version(self.root)
        manifest, problem = _manifest(version)  # read once: it lists every sentence's hash, large for a big library
        build = {"max_passage_chars": self.settings.max_passage_chars, "passage_vectors": PASSAGE_VECTORS}
        # Files were cut into passages by the last build's settings: reuse them only under the same ones.
        built = (manifest or {}).get("build") or {}
        same_cut = manifest is not None and all(built.get(k) == v for k, v in build.items())
        cache = {} if rebuild or not same_cut else _read_file_cache(version)
        if not rebuild:  # and what is in memory, so an unwritable cache still skips unchanged files
            for e in self._entries:
                cache.setdefault(e.path, e)
        entries, read, document = self._read(files, cache)
        t_read = time.perf_counter() - t0
        ctx = self.settings.retrieval.section_context
        index, reason = None, "rebuild requested" if rebuild else "no index yet"
        if version is not None and not rebuild:
            try:
                if manifest is None:
                    raise store.IndexCorrupt(problem)
                if (manifest.get("document") or {}).get("sha256") != document.sha256:
                    raise store.IndexCorrupt("the document changed since the index was built")
                index = SearchIndex.load(
                    version, document.units, self.encoder, build=build, section_context=ctx, manifest=manifest
                )
                reason = "cached"
            except store.IndexCorrupt as exc:
                reason = str(exc)
        if index is not None:
            report = BuildReport(document.path, False, reason, len(index), 0, 0, {"read": t_read})
        else:
            if reason not in ("no index yet", "rebuild requested"):
                log.warning("rebuilding the index of %s: %s", document.path, reason)
            reuse = reusable_vectors(version, self.encoder, manifest=manifest) if manifest is not None else {}
            if self._state is not None:  # the vectors in memory, when the cache is not writable
                reuse = {**self._state[1].vectors_by_key(), **reuse}
            index, encoded, seconds = SearchIndex.build(
                document.units, self.encoder, section_context=ctx, reuse=reuse, progress=progress
            )
            t_save = time.perf_counter()
            version = self._save(index, entries, document, build) if writable else None
            if not writable:
                reason = f"{reason}; cache not writable"
            seconds = dict(seconds, read=t_read, save=time.perf_counter() - t_save)
            n_sent = int(index.sentence_vectors.shape[0])
            report = BuildReport(document.path, True, reason, len(index), n_sent, encoded, seconds)
        log.info("library %s: %d files (%d read), %s", self.root.name, len(entries), read, reason)
        self._entries = entries
        self._state = (document, index, Retriever(index, self.encoder))
        self.version_dir, self.build_report = version, report
        return report

    def _read(self, files, cache: dict[str, FileEntry]) -> tuple[list[FileEntry], int, Document]:
        """Every file's entry (from `cache` when unchanged), how many were read, and the document of the readable ones.

        Raises:
            ValueError: no file could be read (the message lists why each failed).
        """
        entries, read = [], 0
        for name, path in files:
            entry, was_read = _entry(name, path, cache.get(str(path)), self.settings.max_passage_chars)
            entries.append(entry)
            read += was_read
        good = [e for e in entries if not e.error]
        if not good:
            why = "; ".join(e.error for e in entries) or "no .txt/.md/.docx/.pdf/.html files found"
            raise ValueError(f"no readable document in {', '.join(str(p) for p in self.paths)}: {why}")
        return entries, read, _combine(self.paths, good, cite_files=not self._single_file)

    def _save(self, index: SearchIndex, entries: list[FileEntry], document: Document, build: dict) -> Path | None:
        tmp = store.new_version_dir(self.root)
        try:
            # First: the index's manifest is written last, with the checksum of every file already there.
            store.write_jsonl(tmp / FILES, [e.to_row() for e in entries])
            extra = {
                "document": {"path": document.path, "sha256": document.sha256, "title": document.title},
                "repairs": [r.__dict__ for r in document.repairs],
            }
            index.save(tmp, encoder=self.encoder, build=build, extra=extra)
            return store.publish(self.root, tmp)
        except OSError as exc:
            log.warning("could not save the index to %s: %s", self.root, exc)
            return None


def _manifest(version: Path | None) -> tuple[dict | None, str]:
    """The stored version's manifest, or None and why not."""
    if version is None:
        return None, "no index yet"
    try:
        return store.read_manifest(version), ""
    except store.IndexCorrupt as exc:
        return None, str(exc)


def _read_file_cache(version: Path | None) -> dict[str, FileEntry]:
    if version is None:
        return {}
    try:
        return {e.path: e for e in map(FileEntry.from_row, store.read_jsonl(version / FILES))}
    except (store.IndexCorrupt, KeyError, TypeError, ValueError) as exc:
        log.warning("the file cache %s is unusable (%s); re-reading every file", version / FILES, exc)
        return {}


def _entry(name: str, path: Path, cached: FileEntry | None, max_chars: int) -> tuple[FileEntry, bool]:
    """The file's entry, from the cache when it is unchanged; ``(entry, whether it was read)``."""
    st = path.stat()
    if cached is not None and cached.size == st.st_size and cached.mtime_ns == st.st_mtime_ns:
        return _renamed(cached, name), False
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if cached is not None and cached.sha256 == sha:  # touched, not changed
        return replace(_renamed(cached, name), size=st.st_size, mtime_ns=st.st_mtime_ns), True
    kind = readers.file_format(path) or "text"
    try:
        doc = readers.parse_bytes(data, suffix=path.suffix, name=name, path=str(path), max_chars=max_chars)
    except (ValueError, ImportError) as exc:
        log.warning("skipping %s: %s", path, exc)
        return FileEntry(name, str(path), st.st_size, st.st_mtime_ns, sha, kind, error=str(exc)), True
    return FileEntry(name, str(path), st.st_size, st.st_mtime_ns, sha, kind, doc.title, tuple(doc.units),
                     tuple(doc.repairs)), True


def _renamed(entry: FileEntry, name: str) -> FileEntry:
    if entry.name == name:
        return entry
    return replace(entry, name=name, units=tuple(replace(u, source=name) for u in entry.units))


def _combine(paths: Sequence[Path], entries: list[FileEntry], *, cite_files: bool) -> Document:
    """One `Document` of every file's passages, numbered through, each keeping its paragraph number."""
    units: list[Unit] = []
    repairs: list[Repair] = []
    for e in entries:
        for u in e.units:
            units.append(replace(u, id=len(units) + 1, source=e.name if cite_files else "", paragraph=u.id))
        prefix = f"{e.name}: " if cite_files else ""
        repairs += [Repair(r.kind, r.line, f"{prefix}{r.detail}") for r in e.repairs]
    sha = content_hash("".join(f"{e.name}\t{e.sha256}\n" for e in entries))
    label = str(paths[0]) if len(paths) == 1 else "; ".join(str(p) for p in paths)
    first = Path(paths[0])
    title = entries[0].title if len(entries) == 1 else (first.name if first.is_dir() else f"{len(entries)} 个文档")
    return Document(path=label, title=title, sha256=sha, units=units, repairs=repairs)


def open_library(
    paths: str | Path | Sequence[str | Path],
    *,
    encoder,
    settings: Settings,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> Library:
    """A loaded `Library` of `paths` (see `qa.load_index`, which picks the encoder and settings)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    from qa.milvus_store import parse_store

    spec = parse_store(settings.store)
    if spec.is_milvus:
        library = MilvusLibrary(list(paths), encoder=encoder, settings=settings, spec=spec)
        library.refresh(progress=progress, rebuild=rebuild)
        return library
    if not paths:
        raise ValueError("paths is empty: give a folder or one or more files")
    library = Library(list(paths), encoder=encoder, settings=settings)
    library.refresh(progress=progress, rebuild=rebuild)
    return library


class MilvusLibrary(Library):
    """A library whose index lives in Milvus (`qa.milvus_store`): built from files, or read as stored.

    With `paths`, ``refresh()`` brings the stored library up to date with those files (only
    new text is encoded; a new version is written and the alias moved). Without `paths` it
    answers from what the store holds, reading no file and encoding nothing: a second server
    pointed at the same store. Either way answers are searched in Milvus, and a newer
    version written by another process is picked up within ``ALIAS_CHECK_S`` seconds.
    """

    def __init__(self, paths: Sequence[str | Path], *, encoder, settings: Settings, spec) -> None:
        self._start(paths, encoder, settings)  # no local cache folder: the store holds the index
        self.spec = spec
        self.store_uri = spec.uri
        self.collection: str | None = None  # the version answered from
        self._checked = 0.0

    @property
    def location(self) -> str:
        return f"{self.spec.uri} (library {self.spec.collection!r}, version {self.collection})"

    def _build_settings(self) -> dict:
        from qa.lexical import TOKENIZER_VERSION

        return {"max_passage_chars": self.settings.max_passage_chars, "passage_vectors": PASSAGE_VECTORS,
                "section_context": self.settings.retrieval.section_context, "tokenizer": TOKENIZER_VERSION}

    def refresh(self, *, progress: Progress | None = None, rebuild: bool = False) -> BuildReport:
        """Update the stored library from the files (with `paths`), or open what the store holds (without).

        Raises:
            qa.milvus_store.StoreError: the store is unreachable, empty, or built with another encoder.
            FileNotFoundError, ValueError: as for `Library.refresh`.
        """
        from qa import milvus_store as ms

        with self._lock:
            t0 = time.perf_counter()
            conn = ms.connect(self.spec)
            if not self.paths:
                if rebuild:
                    raise ValueError("--rebuild needs the documents: give the files or folders to build from")
                report = self._open_stored(conn, t0)
            else:
                lock = None
                if self.spec.kind == "lite":  # one builder at a time on this machine
                    from filelock import FileLock

                    lock = FileLock(self.spec.target + ".docqa-build.lock", timeout=600)
                    lock.acquire()
                try:
                    report = self._update(conn, t0, progress=progress, rebuild=rebuild)
                finally:
                    if lock is not None:
                        lock.release()
            self._checked = time.monotonic()
            return report

    def _open_stored(self, conn, t0: float, stored=None) -> BuildReport:
        from qa import milvus_store as ms

        stored = stored or ms.current(conn, self.spec.collection)
        if stored is None:
            raise ms.StoreError(
                f"{self.spec.uri}: holds no library {self.spec.collection!r} yet; "
                f"build it with: docqa index --store {self.spec.uri} PATH"
            )
        ms.check_encoder(self.spec, stored.manifest, self.encoder)
        built, want = stored.manifest.get("build") or {}, self._build_settings()
        if built.get("tokenizer") != want["tokenizer"] or built.get("passage_vectors") != want["passage_vectors"]:
            raise ms.StoreError(
                f"{self.spec.uri}: library {self.spec.collection!r} was built by another docqa version "
                f"({built}); rebuild it with docqa index --store {self.spec.uri} --rebuild PATH"
            )
        document, index, files = ms.open_version(conn, stored, self.encoder)
        self._single_file = not stored.manifest.get("cites_files", True)
        self._entries = _entries_from_rows(files, document.units)
        self._install(document, index, stored.collection)
        report = BuildReport(document.path, False, "cached", len(index), 0, 0, {"read": time.perf_counter() - t0})
        self.build_report = report
        return report

    def _install(self, document, index, collection: str) -> None:
        self._state = (document, index, Retriever(index, self.encoder))
        self.collection = collection

    def _update(self, conn, t0: float, *, progress, rebuild: bool) -> BuildReport:
        from qa import milvus_store as ms

        files = discover(self.paths)
        try:
            stored = ms.current(conn, self.spec.collection)
        except ms.StoreError as exc:
            if not rebuild:
                raise
            log.warning("%s", exc)
            stored = None
        want = self._build_settings()
        if stored is not None and not rebuild:
            ms.check_encoder(self.spec, stored.manifest, self.encoder)
        same = stored is not None and not rebuild and (stored.manifest.get("build") or {}) == want
        cache: dict[str, FileEntry] = {}
        stored_units: list[Unit] = []
        if same:
            stored_units, _ = ms.read_units(conn, stored.collection)
            cache = {e.path: e for e in _entries_from_rows(stored.manifest.get("files") or [], stored_units)}
        for e in self._entries if not rebuild else []:
            cache.setdefault(e.path, e)
        entries, _, document = self._read(files, cache)
        t_read = time.perf_counter() - t0
        stored_doc = (stored.manifest.get("document") or {}) if stored is not None else {}
        if same and stored_doc.get("sha256") == document.sha256 and len(stored_units) == len(document.units):
            index = ms.MilvusIndex(conn, stored.collection, document.units, stored.manifest.get("vocabulary") or [],
                                   section_context=want["section_context"], dim=self.encoder.dim)
            self._entries = entries
            self._install(document, index, stored.collection)
            self.build_report = BuildReport(document.path, False, "cached", len(index), 0, 0, {"read": t_read})
            return self.build_report
        reason = ("rebuild requested" if rebuild else "no library in the store yet" if stored is None
                  else "the documents changed" if same else "built with other settings")
        reuse: dict = {}
        if stored is not None and (stored.manifest.get("encoder") or {}).get("name") == self.encoder.name:
            from qa.search_index import texts_and_keys

            wanted = set(texts_and_keys(document.units, section_context=want["section_context"])[2])
            reuse = ms.stored_sentence_vectors(conn, stored.collection, wanted)
        index, encoded, seconds = SearchIndex.build(
            document.units, self.encoder, section_context=want["section_context"], reuse=reuse, progress=progress
        )
        t_save = time.perf_counter()
        manifest = {
            "format_version": ms.FORMAT_VERSION,
            "encoder": {"name": self.encoder.name, "dim": self.encoder.dim},
            "build": want,
            "document": {"path": document.path, "sha256": document.sha256, "title": document.title},
            "repairs": [r.__dict__ for r in document.repairs],
            "files": [{**{k: v for k, v in e.to_row().items() if k != "units"}, "passages": len(e.units)} for e in entries],
            "cites_files": not self._single_file,
            "counts": {"passages": len(index), "sentences": int(index.sentence_vectors.shape[0])},
            "vocabulary": index.lexical.vocabulary(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        collection = ms.write_version(conn, self.spec.collection, index, manifest, progress=progress)
        seconds = dict(seconds, read=t_read, save=time.perf_counter() - t_save)
        stored_index = ms.MilvusIndex(conn, collection, document.units, manifest["vocabulary"],
                                      section_context=want["section_context"], dim=self.encoder.dim)
        self._entries = entries
        self._install(document, stored_index, collection)
        n_sent = int(index.sentence_vectors.shape[0])
        self.build_report = BuildReport(document.path, True, reason, len(index), n_sent, encoded, seconds)
        log.info("library %s in %s: %d files, %s", self.spec.collection, self.spec.uri, len(entries), reason)
        return self.build_report

    def _follow(self) -> None:
        """Answer from a newer version if another process wrote one (checked every ``ALIAS_CHECK_S`` seconds)."""
        from qa import milvus_store as ms

        if time.monotonic() - self._checked < ms.ALIAS_CHECK_S:
            return
        with self._lock:
            if time.monotonic() - self._checked < ms.ALIAS_CHECK_S:
                return
            self._checked = time.monotonic()
            try:
                stored = ms.current(ms.connect(self.spec), self.spec.collection)
                if stored is not None and stored.collection != self.collection:
                    self._open_stored(ms.connect(self.spec), time.perf_counter(), stored)
            except ms.StoreError as exc:  # keep answering from the version in hand
                log.warning("%s", exc)

    def ask(self, question: str, k: int = 5, *, config: RetrievalConfig | None = None, source: str | None = None) -> Answer:
        self._follow()
        return super().ask(question, k, config=config, source=source)

    def search(self, question: str, k: int = 5, *, config: RetrievalConfig | None = None) -> SearchResult:
        self._follow()
        return super().search(question, k, config=config)


def _entries_from_rows(rows: list[dict], units: Sequence[Unit]) -> list[FileEntry]:
    """File entries from a stored manifest's file rows, each with its share of the stored passages (in order)."""
    entries, at = [], 0
    for row in rows:
        n = int(row.get("passages", 0)) if not row.get("error") else 0
        base = FileEntry.from_row({**row, "units": []})
        own = tuple(replace(u, id=j, source=base.name, paragraph=0) for j, u in enumerate(units[at : at + n], start=1))
        entries.append(replace(base, units=own))
        at += n
    return entries
