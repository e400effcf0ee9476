"""Documents uploaded in the chat: checked (type, size, readable), then kept under the app's data folder.

An upload is only ever read as a document: it is copied byte for byte into
``$DOCQA_HOME/uploads/<collection>/`` under a cleaned name, never executed, never placed
anywhere else, and never under a name the uploader chose as a path.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import unicodedata
from pathlib import Path

from qa import file_sha256, read_file

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_FILES = 200
ALLOWED = (".txt", ".md", ".docx", ".pdf", ".html", ".htm")


class UploadRejected(ValueError):
    """An upload that is not kept; the message is for the user (Chinese, one line)."""


def upload_folder(home: Path, served: str | Path | None) -> Path:
    """Where uploads for the served document or folder are kept (one folder per served path)."""
    key = str(Path(served).expanduser().resolve()) if served else "<bundled>"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    stem = re.sub(r"[^\w-]", "_", Path(served).name if served else "bundled")[:40] or "docs"
    return Path(home) / "uploads" / f"{stem}-{digest}"


def safe_name(original: str) -> str:
    """A file name that is only a name: no folders, no control characters, no leading dot."""
    name = unicodedata.normalize("NFC", Path(str(original).replace("\\", "/")).name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r'[<>:"/\\|?*]', "_", name).strip().lstrip(".").strip()
    stem, suffix = Path(name).stem[:80] or "document", Path(name).suffix.lower()
    return f"{stem}{suffix}"


def store_upload(tmp_path: str | Path, folder: Path, *, original_name: str | None = None) -> Path:
    """Check an uploaded file and copy it into `folder`.

    Args:
        tmp_path: where the web server put the upload.
        folder: the uploads folder (created when missing).
        original_name: the name the user's file had; the temp file's name when omitted.

    Returns:
        The stored file.

    Raises:
        UploadRejected: wrong type, too large, empty, unreadable (scanned PDF ...) or too many uploads.
    """
    src = Path(tmp_path)
    name = safe_name(original_name or src.name)
    suffix = Path(name).suffix
    if suffix not in ALLOWED:
        raise UploadRejected(f"不支持这种文件类型（{suffix or '无扩展名'}）。可以上传：{' '.join(ALLOWED)}")
    size = src.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UploadRejected(f"文件太大（{size / 1024 / 1024:.1f} MB），上限是 {MAX_UPLOAD_BYTES // 1024 // 1024} MB。")
    if size == 0:
        raise UploadRejected("文件是空的。")
    folder.mkdir(parents=True, exist_ok=True)
    existing = [p for p in folder.iterdir() if p.is_file()]
    if len(existing) >= MAX_UPLOAD_FILES:
        raise UploadRejected(f"已经上传了 {len(existing)} 个文件，达到上限。")
    try:
        read_file(src, name=name)  # read before keeping: a file docqa cannot read is not kept
    except ValueError as exc:
        raise UploadRejected(f"无法读取 {name}：{exc}") from None
    data_hash = file_sha256(src)
    target = folder / name
    n = 2
    while target.exists():
        if file_sha256(target) == data_hash:
            return target  # the same file again
        target = folder / f"{Path(name).stem}-{n}{suffix}"
        n += 1
    tmp = folder / f".incoming-{data_hash[:12]}"
    shutil.copyfile(src, tmp)
    tmp.replace(target)  # appears whole or not at all; hidden names are not indexed meanwhile
    target.chmod(0o644)  # data, never executable
    log.info("stored upload %s (%d bytes)", target, size)
    return target


def add_upload(library, tmp_path: str | Path, folder: Path) -> str:
    """Keep an upload and bring the library up to date (only the new file is read and encoded).

    Returns:
        A one-line message for the user.

    Raises:
        UploadRejected: see `store_upload`.
    """
    stored = store_upload(tmp_path, folder)
    report = library.refresh()
    if not report.rebuilt:
        return f"{stored.name} 已在文档中。"
    return f"已添加 {stored.name}（编码了 {report.encoded} 段文字），现在共 {len(library.documents)} 份文档。"


