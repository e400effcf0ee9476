"""A collection: many files (folders, lists of paths) read once each, cached per file, indexed together.

Citations: every passage keeps its file (``source``, the path relative to the folder it was
found in, or the file name for a file given directly), its ``page`` (PDF; where the
passage starts) and its ``paragraph``: its number among that file's passages, 1-based,
in reading order, as `docqa index --report` lists them. ``paragraph`` depends only on the
file's own content, so adding or changing another file never renumbers it. ``Passage.id``
is the passage's number in the whole collection (unique, used for ranking and evaluation;
it shifts when files before it change).

Incremental updates: a file whose size and mtime (or, if those changed, whose sha256) match
the last build is neither read nor parsed again, and only passages whose text is new are
sent to the encoder (vectors are reused by content hash); the keyword and vector indexes
themselves are rebuilt, which takes milliseconds.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterable, Sequence

from qa import readers, store
from qa.answer import Answer, Passage
from qa.config import RetrievalConfig, Settings
from qa.corpus import Document, Repair, Unit, content_hash
from qa.index import BuildReport, DocumentIndex, Progress, _previous_vectors

log = logging.getLogger(__name__)

FILES = "files.jsonl"  # the per-file parse cache, stored beside the index files of a version
MAX_FILES = 5000  # a guard against `--doc /` or a home folder by mistake


@dataclass(frozen=True)
class FilePassage(Passage):
    """A retrieved passage of a collection: also its paragraph number within its own file."""

    paragraph: int = 0


@dataclass(frozen=True)
class DocumentInfo:
    """One file of a collection, as the chat and `docqa index` list it."""

    name: str
    passages: int
    kind: str  # "text" | "docx" | "pdf" | "html"
    title: str = ""
    pages: int = 0  # PDF pages that hold passages (0 for other formats)


@dataclass(frozen=True)
class FileEntry:
    """What the collection knows about one file: its identity on disk and its parsed passages."""

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
    """The files of a collection, as (cited name, absolute path), in a stable order.

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
                    f"{p.name}: unsupported file type {p.suffix or '(none)'!r}; "
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


def collection_root(home: Path, paths: Sequence[Path], encoder_name: str) -> Path:
    """The folder holding every version of one collection's index for one encoder."""
    resolved = "\n".join(sorted(str(Path(p).expanduser().resolve()) for p in paths))
    key = hashlib.sha256(f"collection\n{resolved}\n{encoder_name}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    first = Path(paths[0]).expanduser().resolve()
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (first.name or "root"))[:40]
    return Path(home) / "collections" / f"{stem}-{key}"


class Collection:
    """Several documents answered from as one: ask it like a `DocumentIndex`.

    Use `load_collection` to open one. ``ask`` returns the usual `Answer`; its passages are
    `FilePassage`s (``source``, ``page``, ``paragraph``).
    """

    def __init__(self, paths: Sequence[str | Path], *, encoder, settings: Settings) -> None:
        if not paths:
            raise ValueError("paths is empty: give a folder or one or more files")
        self.paths = [Path(p).expanduser() for p in paths]
        self.encoder = encoder
        self.settings = settings
        self.root = collection_root(settings.home, self.paths, encoder.name)
        self._entries: list[FileEntry] = []
        self._index: DocumentIndex | None = None
        self._paragraph: dict[int, int] = {}  # collection id -> paragraph number within its file
        self._lock = threading.Lock()

    # -- what it holds -------------------------------------------------------------

    @property
    def index(self) -> DocumentIndex:
        if self._index is None:
            raise RuntimeError("collection not loaded: call refresh() (load_collection does)")
        return self._index

    @property
    def document(self) -> Document:
        return self.index.document

    @property
    def units(self) -> list[Unit]:
        return self.index.units

    @property
    def build_report(self) -> BuildReport | None:
        return self.index.build_report

    @property
    def version_dir(self) -> Path | None:
        return self.index.version_dir

    def __len__(self) -> int:
        return len(self.index)

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

    def paragraph_of(self, passage_id: int) -> int:
        """The paragraph number within its file of the passage with collection id `passage_id`."""
        return self._paragraph.get(passage_id, passage_id)

    # -- asking ----------------------------------------------------------------------

    def ask(self, question: str, k: int = 5, *, config: RetrievalConfig | None = None) -> Answer:
        """Answer from all the documents; see `DocumentIndex.ask`. Passages cite file and place."""
        index, paragraph = self._index, self._paragraph  # one consistent snapshot across a refresh
        if index is None:
            raise RuntimeError("collection not loaded: call refresh() (load_collection does)")
        answer = index.ask(question, k, config=config)
        names = [f.name for f in fields(Passage)]
        passages = [
            FilePassage(**{n: getattr(p, n) for n in names}, paragraph=paragraph.get(p.id, p.id))
            for p in answer.passages
        ]
        return replace(answer, passages=passages)

    def search(self, question: str, k: int = 5, *, config: RetrievalConfig | None = None):
        """Only the ranked passages (for evaluation and benchmarks)."""
        return self.index.search(question, k, config=config)

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
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                lock = FileLock(str(self.root / ".lock"), timeout=600)
                lock.acquire()
            except OSError as exc:
                log.warning("collection cache %s is not writable (%s); building in memory only", self.root, exc)
                lock = None
            try:
                version = store.current_version(self.root)
                cache = {} if rebuild else _read_file_cache(version)
                if not rebuild:  # and what is in memory, so an unwritable cache still skips unchanged files
                    for e in self._entries:
                        cache.setdefault(e.path, e)
                entries, read = [], 0
                for name, path in files:
                    entry, was_read = _entry(name, path, cache.get(str(path)), self.settings.max_passage_chars)
                    entries.append(entry)
                    read += was_read
                good = [e for e in entries if not e.error]
                if not good:
                    why = "; ".join(e.error for e in entries) or "no .txt/.md/.docx/.pdf/.html files found"
                    raise ValueError(f"no readable document in {', '.join(str(p) for p in self.paths)}: {why}")
                document, paragraph = _combine(self.paths, good)
                t_read = time.perf_counter() - t0
                index, reason = None, "rebuild requested" if rebuild else "no index yet"
                if version is not None and not rebuild:
                    try:
                        index = DocumentIndex.load_version(version, document, self.encoder, settings=self.settings)
                        reason = "cached"
                    except store.IndexCorrupt as exc:
                        reason = str(exc)
                if index is None:
                    reuse = _previous_vectors(self.root, self.encoder)
                    if self._index is not None:  # the vectors in memory, when the cache is not writable
                        reuse = {**self._index.cached_vectors(), **reuse}
                    index = DocumentIndex.build(
                        document, self.encoder, settings=self.settings, reuse=reuse, progress=progress
                    )
                    if lock is not None:
                        self._save(index, entries)
                    index.build_report = replace(
                        index.build_report, reason=reason, seconds=dict(index.build_report.seconds, read=t_read)
                    )
                else:
                    index.build_report = BuildReport(document.path, False, reason, len(index), 0, 0, {"read": t_read})
                log.info("collection %s: %d files (%d read), %s", self.root.name, len(entries), read, reason)
                self._entries, self._index, self._paragraph = entries, index, paragraph
                return index.build_report
            finally:
                if lock is not None:
                    lock.release()

    def _save(self, index: DocumentIndex, entries: list[FileEntry]) -> None:
        tmp = store.new_version_dir(self.root)
        try:
            # First: save() writes the manifest last, with the checksum of every file already there.
            store.write_jsonl(tmp / FILES, [e.to_row() for e in entries])
            index.save(tmp)
            index.version_dir = store.publish(self.root, tmp)
        except OSError as exc:
            log.warning("could not save the collection index to %s: %s", self.root, exc)

    # -- evaluation ------------------------------------------------------------------------

    def questions(self, source: str | Path | Iterable[dict]) -> list[dict]:
        """Question rows for `qa.evaluation.evaluate`, with ``"file"`` resolved to gold passage ids.

        A row may name the file that answers it (``"file": "report.pdf"``, a citation name
        or a file name). Its answers are then looked for in that file only, and the ids of
        the passages holding them become its ``gold_ids``.

        Raises:
            qa.evaluation.QuestionFileError: a row names a file not in the collection, or
                none of its answers occurs in that file.
        """
        import json

        from qa.evaluation import QuestionFileError

        if isinstance(source, (str, Path)):
            rows = []
            for n, line in enumerate(Path(source).read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise QuestionFileError(f"{Path(source).name} line {n}: not valid JSON ({exc.msg})") from None
        else:
            rows = list(source)
        by_name: dict[str, str] = {}
        for d in self.documents:
            by_name[d.name] = d.name
            by_name.setdefault(Path(d.name).name, d.name)
        out = []
        for n, row in enumerate(rows, start=1):
            if not isinstance(row, dict) or not row.get("file"):
                out.append(row)
                continue
            name = by_name.get(str(row["file"]))
            if name is None:
                raise QuestionFileError(
                    f"line {n}: 'file' {row['file']!r} is not in the collection "
                    f"({', '.join(d.name for d in self.documents)})"
                )
            answers = row.get("answers") or []
            gold = [u.id for u in self.units if u.source == name and any(a in u.text for a in answers)]
            if answers and not gold and not row.get("gold_ids"):
                raise QuestionFileError(f"line {n}: none of its answers occurs in {name}")
            out.append({**row, "gold_ids": sorted(set(row.get("gold_ids") or []) | set(gold))})
        return out


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


def _combine(paths: Sequence[Path], entries: list[FileEntry]) -> tuple[Document, dict[int, int]]:
    """One `Document` of every file's passages, numbered through; and each passage's paragraph."""
    units: list[Unit] = []
    paragraph: dict[int, int] = {}
    repairs: list[Repair] = []
    for e in entries:
        for u in e.units:
            gid = len(units) + 1
            units.append(replace(u, id=gid, source=e.name))
            paragraph[gid] = u.id
        repairs += [Repair(r.kind, r.line, f"{e.name}: {r.detail}") for r in e.repairs]
    sha = content_hash("".join(f"{e.name}\t{e.sha256}\n" for e in entries))
    label = str(paths[0]) if len(paths) == 1 else "; ".join(str(p) for p in paths)
    first = Path(paths[0])
    title = entries[0].title if len(entries) == 1 else (first.name if first.is_dir() else f"{len(entries)} 个文档")
    return Document(path=label, title=title, sha256=sha, units=units, repairs=repairs), paragraph


def load_collection(
    paths: str | Path | Sequence[str | Path],
    *,
    encoder=None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> Collection:
    """Open (building or updating as needed) the index of a folder or a list of files.

    Args:
        paths: a folder (searched recursively), a file, or a list of both. Reads
            .txt/.md (UTF-8 or a detected Chinese encoding), .docx, .pdf (with a text
            layer) and .html.
        encoder: the encoder; the configured default when omitted.
        settings: cache folder, encoder spec and retrieval settings.
        progress: ``progress(stage, done, total)`` while encoding.
        rebuild: re-read every file and rebuild the index (known vectors are still reused).

    Returns:
        A `Collection`: ``.ask(question, k)``, ``.documents``, ``.skipped``, ``.refresh()``.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: an unsupported file named directly, or no readable document at all.
    """
    from qa.api import _shared_encoder

    settings = settings or Settings()
    if isinstance(paths, (str, Path)):
        paths = [paths]
    collection = Collection(list(paths), encoder=encoder or _shared_encoder(settings.encoder), settings=settings)
    collection.refresh(progress=progress, rebuild=rebuild)
    return collection


__all__ = ["Collection", "DocumentInfo", "FileEntry", "FilePassage", "discover", "load_collection"]
