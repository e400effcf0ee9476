"""SQuAD-format reading-comprehension sets (CMRC 2018, DRCD, SQuAD 1.1/2.0) as a folder of documents.

A set is ``{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
"answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``. `lay_out` writes each
article as one plain-text file (its title, then its paragraphs) and turns its questions
into rows for `qa.evaluation.load_questions`, each naming the file that answers it, so
that every question is asked against the whole folder. It can also make unanswerable
questions out of answerable ones, by removing the sentence that holds the answer.

`BigramBM25` is the model-free baseline to compare docqa with: BM25 over character
bigrams, no words, no script folding, no model.

Everything here is deterministic: the same input gives byte-identical files and rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from qa.corpus import MAX_PASSAGE_CHARS, parse_text, split_sentences
from qa.normalize import fold_script, normalize_text, strip_controls

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
LAYOUT_FILE = "layout.json"
# Changes whenever the layout rules change: a folder laid out by other rules is laid out again.
LAYOUT_VERSION = 1

# A share of CJK characters that t2s changes at or above this is traditional script. Measured
# per article on seeds/public: CMRC 2018 (simplified) at most 1.9%, DRCD (traditional) at least 19%.
TRADITIONAL_SHARE = 0.05
# Fewer CJK ideographs than this share of a text's letters: the text is not Chinese.
MIN_CJK_SHARE = 0.2
# Questions tried, per article, for a removal before the article is left whole.
REMOVAL_TRIES = 5

# Why a question was left out of a layout (the keys of `Layout.dropped`).
NOT_IN_ONE_PASSAGE = "answer not inside one passage"
LOST_WITH_REMOVAL = "answer lost with the removed sentence"
# What the removals did (the keys of `Layout.removals`), in this order.
_REMOVAL_KEYS = (
    "articles chosen for a removal",
    "articles with a sentence removed",
    "articles left whole: removed answer still elsewhere in the folder",
    "articles left whole: no question whose answer could be removed",
)

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SPACES = re.compile(r"[ \t]{2,}")


class SquadError(ValueError):
    """A SQuAD file docqa cannot use; the one-line message names the file and what is wrong."""


@dataclass(frozen=True)
class SquadQuestion:
    """One question of an article, with its reference answers."""

    id: str
    question: str
    answers: tuple[str, ...]  # reference answer texts, deduplicated, in order; () when impossible
    impossible: bool  # SQuAD 2.0 ``is_impossible``
    paragraph: int  # its paragraph within the article (0-based)
    starts: tuple[int, ...]  # ``answer_start`` of each answer (its first occurrence), -1 where not given


@dataclass(frozen=True)
class SquadArticle:
    """One article: its title, its paragraphs (verbatim) and the questions about them."""

    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[SquadQuestion, ...]


@dataclass
class Layout:
    """A set laid out as a folder: the files, the question rows and what was left out.

    ``questions`` are rows for `qa.evaluation.load_questions` and
    `qa.evaluation.resolve_files`: ``{"id", "question", "answers", "file", "type", "tags",
    "split"}``, ``type`` being ``"answerable"``, ``"impossible"`` (SQuAD 2.0) or
    ``"answer removed"`` (then also ``"removed_answers"`` and ``"removed_text"``).
    """

    folder: Path
    questions: list[dict]
    dropped: dict[str, int]  # why questions were left out: reason -> count
    removals: dict[str, int] = field(default_factory=dict)  # what `make_unanswerable` did, in articles
    reused: bool = False  # True when an existing folder with the same inputs was kept as it was


# -- reading -------------------------------------------------------------------


def load_squad(path: str | Path) -> list[SquadArticle]:
    """Read a SQuAD-format JSON file.

    Answer texts are stripped (their starts moved with them) and deduplicated; a
    question marked ``is_impossible`` has no answers. A question whose text is blank is
    left out, with a warning (real sets have a few).

    Raises:
        FileNotFoundError: the file does not exist.
        SquadError: not UTF-8 JSON, no ``data`` list of articles, an article without
            paragraphs, a paragraph without context, a question without text or id, a
            repeated id, or a question with neither answers nor ``is_impossible``. (A
            missing or empty title is allowed: the file then starts with the text.)
    """
    path = Path(path)
    name = path.name
    try:
        root = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise SquadError(f"{name}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise SquadError(f"{name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    data = root.get("data") if isinstance(root, dict) else None
    if not isinstance(data, list) or not data:
        raise SquadError(f"{name}: no 'data' list of articles (not a SQuAD-format file)")
    seen: set[str] = set()
    blank: list[str] = []
    articles = []
    for n, raw in enumerate(data, start=1):
        if not isinstance(raw, dict):
            raise SquadError(f"{name}: article {n} is not an object")
        title = raw.get("title", "")
        if not isinstance(title, str):
            raise SquadError(f"{name}: article {n}: 'title' is not text")
        where = f"{name}: article {n}" + (f" ({title.strip()[:40]})" if title.strip() else "")
        paragraphs = raw.get("paragraphs")
        if not isinstance(paragraphs, list) or not paragraphs:
            raise SquadError(f"{where} has no paragraphs")
        contexts, questions = [], []
        for p, para in enumerate(paragraphs):
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str) or not context.strip():
                raise SquadError(f"{where}, paragraph {p + 1} has no 'context' text")
            qas = para.get("qas", [])
            if not isinstance(qas, list):
                raise SquadError(f"{where}, paragraph {p + 1}: 'qas' is not a list")
            contexts.append(context)
            for k, qa in enumerate(qas, start=1):
                q = _question(qa, p, f"{where}, paragraph {p + 1}, question {k}")
                if q is None:
                    blank.append(str(qa.get("id")))
                    continue
                if q.id in seen:
                    raise SquadError(f"{where}: question id {q.id!r} is used twice in the file")
                seen.add(q.id)
                questions.append(q)
        articles.append(SquadArticle(title.strip(), tuple(contexts), tuple(questions)))
    if blank:
        log.warning("%s: left out %d question(s) with blank text: %s", name, len(blank), ", ".join(blank[:5]))
    return articles


def _question(qa: object, paragraph: int, where: str) -> SquadQuestion | None:
    """One question of a paragraph; None for one whose question text is blank."""
    if not isinstance(qa, dict):
        raise SquadError(f"{where} is not an object")
    qid = qa.get("id")
    if not isinstance(qid, (str, int)) or isinstance(qid, bool) or not str(qid).strip():
        raise SquadError(f"{where} has no id")
    text = qa.get("question")
    if not isinstance(text, str):
        raise SquadError(f"{where} (id {qid}) has no question text")
    if not text.strip():
        return None  # a blank question: CMRC 2018 trial has two (TRIAL_20_QUERY_0, TRIAL_776_QUERY_4)
    impossible = bool(qa.get("is_impossible", False))
    answers: dict[str, int] = {}
    raw_answers = qa.get("answers") or []
    if not isinstance(raw_answers, list):
        raise SquadError(f"{where} (id {qid}): 'answers' is not a list")
    for a in raw_answers if not impossible else []:
        raw = a.get("text") if isinstance(a, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            continue
        start = _int(a.get("answer_start"))
        if start >= 0:
            start += len(raw) - len(raw.lstrip())
        answers.setdefault(raw.strip(), start)
    if not impossible and not answers:
        raise SquadError(f"{where} (id {qid}) has no answers and is not marked is_impossible")
    return SquadQuestion(str(qid).strip(), text.strip(), tuple(answers), impossible, paragraph, tuple(answers.values()))


def _int(value: object) -> int:
    """A non-negative answer start, or -1 where none (or nothing usable) is given."""
    if isinstance(value, bool):
        return -1
    try:
        n = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -1
    return n if n >= 0 else -1


# -- script and selection ------------------------------------------------------


def _is_ideograph(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0003134f"


def script_of(text: str) -> str:
    """The script of a Chinese text: ``"traditional"``, ``"simplified"`` or ``"other"``.

    Traditional when at least `TRADITIONAL_SHARE` of its CJK ideographs change under
    the t2s folding (`qa.normalize.fold_script`, character by character); "other" when ideographs are fewer
    than `MIN_CJK_SHARE` of its letters (or there are none).
    """
    ideographs = [ch for ch in text if _is_ideograph(ch)]
    letters = sum(1 for ch in text if ch.isalpha())
    if not ideographs or len(ideographs) < MIN_CJK_SHARE * letters:
        return "other"
    counts: dict[str, int] = {}
    for ch in ideographs:
        counts[ch] = counts.get(ch, 0) + 1
    distinct = "".join(counts)
    # Each character alone (no phrase context): one character in, one out (`fold_script`).
    converted = [fold_script(ch) for ch in distinct]
    changed = sum(counts[ch] for ch, out in zip(distinct, converted) if out != ch)
    return "traditional" if changed >= TRADITIONAL_SHARE * len(ideographs) else "simplified"


def article_split(dataset: str, title: str) -> str:
    """The fixed split of an article: ``"train"``, ``"dev"`` or ``"test"``.

    The rule behind `qa.evaluation.public_split`, which calls this (``seeds/public/README.md``):
    the first 32 bits of
    ``sha256(dataset + "\n" + title)`` as a fraction; below 0.6 train, below 0.8 dev,
    else test.
    """
    h = int(hashlib.sha256(f"{dataset}\n{title}".encode("utf-8")).hexdigest()[:8], 16) / 2**32
    return "train" if h < 0.6 else "dev" if h < 0.8 else "test"


def _sample_key(dataset: str, title: str) -> str:
    # Not the split's hash: ordered by that, the first articles of the whole set would all be train.
    return hashlib.sha256(f"sample\n{dataset}\n{title}".encode("utf-8")).hexdigest()


def select_articles(
    articles: Iterable[SquadArticle], *, dataset: str, split: str | None = None, articles_n: int | None = None
) -> list[SquadArticle]:
    """The articles of one split, or a stable sample of them, in the file's order.

    Args:
        articles: as `load_squad` gives them.
        dataset: the set's name for the split and the sample (``"cmrc2018"``, ``"drcd"``).
        split: ``"train"``, ``"dev"``, ``"test"``, or None / ``"all"`` for every article.
        articles_n: keep this many: the first by ``sha256("sample\n" + dataset + "\n" +
            title)``, so that a larger sample holds every smaller one; all when None.

    Raises:
        ValueError: an unknown split or a negative `articles_n`.
    """
    if split not in (None, "", "all") + SPLITS:
        raise ValueError(f"split must be one of all, {', '.join(SPLITS)}; got {split!r}")
    if articles_n is not None and articles_n < 0:
        raise ValueError(f"articles_n must be 0 or more, got {articles_n}")
    chosen = [a for a in articles if split in (None, "", "all") or article_split(dataset, a.title) == split]
    if articles_n is None or articles_n >= len(chosen):
        return chosen
    order = sorted(range(len(chosen)), key=lambda i: (_sample_key(dataset, chosen[i].title), i))
    keep = set(order[:articles_n])
    return [a for i, a in enumerate(chosen) if i in keep]


# -- the text of a file ---------------------------------------------------------


def _is_cjk(ch: str) -> bool:
    return _is_ideograph(ch) or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"


def _glue(left: str, right: str) -> str:
    """Two pieces of one line: nothing between CJK, one space between words."""
    left, right = left.rstrip(), right.lstrip()
    if not left or not right:
        return left + right
    return left + right if _is_cjk(left[-1]) or _is_cjk(right[0]) else left + " " + right


def _one_line(text: str) -> str:
    """A paragraph as one clean line: NFC, no control characters, inner line breaks joined."""
    # Control characters go as docqa's own text reader drops them (line breaks kept to join below).
    text = unicodedata.normalize("NFC", strip_controls(text, keep="\t\n\r", replacement="", categories=("Cc",)))
    out = ""
    for line in text.splitlines():
        out = _glue(out, line.strip())
    return out.strip()


def article_text(article: SquadArticle) -> str:
    """The text of an article's file: the title line, a blank line, the paragraphs.

    Paragraphs are separated by blank lines, each on one line (inner line breaks
    joined, control characters dropped, NFC); an empty paragraph is left out. The text
    ends with a line break.
    """
    parts = [p for p in (_one_line(x) for x in (article.title, *article.paragraphs)) if p]
    return "\n\n".join(parts) + "\n"


def file_name(n: int, title: str) -> str:
    """``{n:04d}-{title}.txt``, with anything but letters and digits in the title made ``_``."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in unicodedata.normalize("NFC", title))
    safe = re.sub(r"_+", "_", safe).strip("_")[:40].rstrip("_")
    return f"{n:04d}-{safe or 'article'}.txt"


# -- the folder ------------------------------------------------------------------


def _removes(dataset: str, title: str, round_: int = 0) -> bool:
    """Whether an article is in the half that loses an answer sentence (not the split's bits); each round draws its own half."""
    key = f"remove\n{dataset}\n{title}" if not round_ else f"remove\n{round_}\n{dataset}\n{title}"
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 2 == 0


def _id_key(qid: str, round_: int = 0) -> str:
    return hashlib.sha256((qid if not round_ else f"{round_}\n{qid}").encode("utf-8")).hexdigest()


def _passages(text: str, name: str, max_chars: int) -> list[str]:
    return [u.text for u in parse_text(text, path=name, max_chars=max_chars).units]


def _in_one_passage(answers: Sequence[str], passages: Sequence[str]) -> bool:
    return any(a in p for a in answers for p in passages)


def _nfc(answers: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(unicodedata.normalize("NFC", a) for a in answers))


def answer_spans(paragraph: str, q: SquadQuestion) -> list[tuple[int, int]]:
    """Where the question's answers are in its (verbatim) paragraph, from their given starts.

    A start that does not point at its answer is moved to the nearest occurrence of the
    answer; an answer without a start gives no span.
    """
    spans = []
    for text, start in zip(q.answers, q.starts):
        if start < 0:
            continue
        if paragraph[start : start + len(text)] != text:
            found = [m.start() for m in re.finditer(re.escape(text), paragraph)]
            if not found:
                continue
            start = min(found, key=lambda s: (abs(s - start), s))
        spans.append((start, start + len(text)))
    return spans


def remove_sentences(paragraph: str, spans: Sequence[tuple[int, int]]) -> tuple[str, str] | None:
    """The paragraph without the sentences that overlap `spans`, and the removed text.

    None when no sentence overlaps them. Each cut is closed cleanly: nothing between CJK,
    one space between words.
    """
    hit = [
        s for s in split_sentences(paragraph)
        if any(s.start < e and s.start + len(s.text) > b for b, e in spans)
    ]
    if not hit:
        return None
    text, removed = paragraph, ""
    for s in reversed(hit):  # from the end, so that earlier offsets still hold
        text = _glue(text[: s.start], text[s.start + len(s.text) :])
        removed = _glue(s.text, removed)
    return text.strip(), removed


def _contains(answer: str, norm_answer: str, texts: Sequence[str], norms: Sequence[str]) -> bool:
    return any(answer in t for t in texts) or bool(norm_answer) and any(norm_answer in t for t in norms)


@dataclass
class _Removal:
    """One answer sentence taken out of an article: whose, the file's new text, what went."""

    question: SquadQuestion
    text: str
    removed: str


def _try_removal(
    i: int, article: SquadArticle, kept: set[str], texts: list[str], norms: list[str], round_: int = 0
) -> tuple[_Removal | None, bool]:
    """Remove one answer sentence from article `i`, if one can be removed cleanly.

    Tries up to `REMOVAL_TRIES` of its questions (known answer start, answer in one
    passage), in the order of the sha256 of their ids (and of `round_`). A removal counts only when none
    of the question's answers occurs anywhere in the folder afterwards (every file, as
    written or as its normalised matching form) and the article keeps a paragraph.

    Returns:
        (the removal or None, whether a try failed because an answer was still elsewhere)
    """
    candidates = [
        q for q in article.questions
        if not q.impossible and q.id in kept and answer_spans(article.paragraphs[q.paragraph], q)
    ]
    candidates.sort(key=lambda q: (_id_key(q.id, round_), q.id))
    elsewhere = False
    others = texts[:i] + texts[i + 1 :]
    other_norms = norms[:i] + norms[i + 1 :]
    for q in candidates[:REMOVAL_TRIES]:
        raw = article.paragraphs[q.paragraph]
        cut = remove_sentences(raw, answer_spans(raw, q))
        if cut is None:
            continue
        paragraphs = list(article.paragraphs)
        paragraphs[q.paragraph] = cut[0]
        changed = replace(article, paragraphs=tuple(paragraphs))
        if not any(_one_line(p) for p in changed.paragraphs):
            continue  # the file would hold only its title: docqa would skip it
        text = article_text(changed)
        norm = normalize_text(text)
        if any(_contains(a, normalize_text(a), others + [text], other_norms + [norm]) for a in _nfc(q.answers)):
            elsewhere = True
            continue
        return _Removal(q, text, _one_line(cut[1])), elsewhere
    return None, elsewhere


def _plan(
    articles: list[SquadArticle], names: list[str], *, dataset: str, split: str, make_unanswerable: bool,
    max_chars: int, removal_round: int = 0,
) -> tuple[list[str], list[dict], dict[str, int], dict[str, int]]:
    """The files' texts, the question rows, the dropped counts and the removal counts."""
    texts = [article_text(a) for a in articles]
    scripts = [script_of(t) for t in texts]
    norms = [normalize_text(t) for t in texts] if make_unanswerable else []
    dropped = {NOT_IN_ONE_PASSAGE: 0, LOST_WITH_REMOVAL: 0}
    removals = dict.fromkeys(_REMOVAL_KEYS, 0)
    rows: list[dict] = []
    for i, (article, name) in enumerate(zip(articles, names)):
        passages = _passages(texts[i], name, max_chars)
        kept = {q.id for q in article.questions if not q.impossible and _in_one_passage(_nfc(q.answers), passages)}
        removal = None
        if make_unanswerable and _removes(dataset, article.title, removal_round):
            removals[_REMOVAL_KEYS[0]] += 1
            removal, elsewhere = _try_removal(i, article, kept, texts, norms, removal_round)
            if removal is not None:
                removals[_REMOVAL_KEYS[1]] += 1
                texts[i] = removal.text
                norms[i] = normalize_text(removal.text)
            else:
                removals[_REMOVAL_KEYS[2] if elsewhere else _REMOVAL_KEYS[3]] += 1
        after = _passages(texts[i], name, max_chars) if removal is not None else passages
        for q in article.questions:
            tags = [f"dataset:{dataset}", f"script:{scripts[i]}"]
            row = {"id": q.id, "question": q.question, "answers": _nfc(q.answers), "file": name}
            if q.impossible:
                rows.append({**row, "type": "impossible", "tags": tags, "split": split})
            elif removal is not None and q.id == removal.question.id:
                rows.append({**row, "answers": [], "type": "answer removed", "tags": tags, "split": split,
                             "removed_answers": row["answers"], "removed_text": removal.removed})
            elif q.id not in kept:
                dropped[NOT_IN_ONE_PASSAGE] += 1
            elif removal is not None and not _in_one_passage(row["answers"], after):
                dropped[LOST_WITH_REMOVAL] += 1
            else:
                rows.append({**row, "type": "answerable", "tags": tags, "split": split})
    return (
        texts,
        rows,
        {k: v for k, v in dropped.items() if v},
        {k: v for k, v in removals.items() if v} if make_unanswerable else {},
    )


def _fingerprint(
    articles: list[SquadArticle], *, dataset: str, split: str, make_unanswerable: bool, max_chars: int, removal_round: int = 0
) -> dict:
    """What a layout was made from: a folder with the same fingerprint is reused."""
    content = json.dumps([asdict(a) for a in articles], ensure_ascii=False, sort_keys=True)
    return {
        "version": LAYOUT_VERSION,
        "dataset": dataset,
        "split": split,
        "make_unanswerable": bool(make_unanswerable),
        "removal_round": int(removal_round) if make_unanswerable else 0,
        "max_passage_chars": int(max_chars),
        "articles": len(articles),
        "sha256": hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest(),
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _existing(folder: Path, fingerprint: dict) -> Layout | None:
    """The layout already in `folder` when it was made from the same inputs and is intact.

    Raises:
        FileExistsError: `folder` exists and is not a layout (a file, or a folder with other
            things and no layout.json): it is never overwritten.
    """
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise FileExistsError(f"{folder}: exists and is not a folder")
    meta = folder / LAYOUT_FILE
    if not meta.is_file():
        if any(folder.iterdir()):
            raise FileExistsError(f"{folder}: exists and holds other files (no {LAYOUT_FILE}); choose another folder")
        return None
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
        return None
    files, rows, dropped = record.get("files"), record.get("questions"), record.get("dropped")
    if not (isinstance(files, dict) and isinstance(rows, list) and isinstance(dropped, dict)):
        return None
    if {p.name for p in folder.iterdir()} != set(files) | {LAYOUT_FILE}:
        return None
    for name, sha in files.items():
        if _sha((folder / name).read_bytes()) != sha:
            return None  # a file was edited since
    return Layout(folder, rows, dropped, record.get("removals") or {}, reused=True)


def _write(folder: Path, files: dict[str, bytes], record: dict) -> None:
    """Write the files and layout.json into a hidden sibling folder, then move it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / LAYOUT_FILE).write_bytes((json.dumps(record, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
        if folder.exists():  # a layout of other inputs: moved aside, replaced, then deleted
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def lay_out(
    articles: Iterable[SquadArticle],
    folder: str | Path,
    *,
    dataset: str,
    split: str = "",
    make_unanswerable: bool = False,
    max_passage_chars: int = MAX_PASSAGE_CHARS,
    removal_round: int = 0,
) -> Layout:
    """Write articles as a folder of text files, one per article, and their questions as rows.

    Files are named ``0001-<title>.txt`` by the article's place (see `file_name`) and hold
    `article_text`. A question is kept only when one of its answers lies inside one
    passage of its file, as docqa reads it (`qa.corpus.parse_text` with
    `max_passage_chars`); SQuAD 2.0 impossible questions are kept as ``"impossible"``.

    With `make_unanswerable`, a stable half of the articles (by ``sha256("remove\n" +
    dataset + "\n" + title)``) each lose the sentence that answers one of their questions,
    which becomes ``"answer removed"``: kept only when none of its answers then occurs
    anywhere in the folder, else another question is tried (up to `REMOVAL_TRIES`) or the
    article is left whole. The article's other questions whose answer went with the
    sentence are left out. Another `removal_round` draws another half and other questions
    (round 0 is the one reported; the others give a fit more unanswerable questions).

    The folder appears whole or not at all (written beside it, then renamed into place);
    a folder laid out before from the same inputs is reused untouched.

    Args:
        articles: as `load_squad` / `select_articles` give them.
        folder: where the files go; replaced if it holds a layout of other inputs.
        dataset: the set's name, for the tags and the removal half.
        split: written into each row's ``"split"``.
        make_unanswerable: remove answer sentences as above.
        removal_round: which draw of articles and questions loses a sentence (0: the usual).
        max_passage_chars: the longest passage, as the library will read the files.

    Raises:
        FileExistsError: `folder` exists and is not a layout.
    """
    articles = list(articles)
    folder = Path(folder)
    fingerprint = _fingerprint(
        articles, dataset=dataset, split=split, make_unanswerable=make_unanswerable, max_chars=max_passage_chars,
        removal_round=removal_round,
    )
    found = _existing(folder, fingerprint)
    if found is not None:
        return found
    names = [file_name(n, a.title) for n, a in enumerate(articles, start=1)]
    texts, rows, dropped, removals = _plan(
        articles, names, dataset=dataset, split=split, make_unanswerable=make_unanswerable,
        max_chars=max_passage_chars, removal_round=removal_round,
    )
    data = {name: text.encode("utf-8") for name, text in zip(names, texts)}
    record = {
        "format": "docqa squad layout",
        "fingerprint": fingerprint,
        "files": {name: _sha(b) for name, b in data.items()},
        "dropped": dropped,
        "removals": removals,
        "questions": rows,
    }
    _write(folder, data, record)
    return Layout(folder, rows, dropped, removals)


# -- the baseline ------------------------------------------------------------------


def bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of NFKC-lower-cased text without whitespace and punctuation.

    A text of one character gives that character; no traditional/simplified folding.
    """
    t = _NON_WORD.sub("", unicodedata.normalize("NFKC", text).lower())
    if len(t) == 1:
        return [t]
    return [t[i : i + 2] for i in range(len(t) - 1)]


class BigramBM25:
    """Model-free baseline: BM25 (bm25s, k1=1.2, b=0.75) over character `bigrams` of each text.

    The naive baseline: no word segmentation, no traditional/simplified folding, no model.
    """

    def __init__(self, retriever, size: int) -> None:
        self._bm25 = retriever
        self._size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> BigramBM25:
        """Index the texts (their order is the ranking's numbering)."""
        if not texts:
            return cls(None, 0)
        import bm25s

        corpus = [bigrams(t) or ["\u2205"] for t in texts]  # "∅" is a symbol: no question's bigram
        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        bm25.index(corpus, show_progress=False)
        return cls(bm25, len(texts))

    def __len__(self) -> int:
        return self._size

    def rank(self, question: str, k: int = 10) -> list[int]:
        """Indices of the `k` best texts for the question, best first, ties in text order.

        Only texts sharing a bigram with the question (score > 0); [] when none does.
        """
        if self._bm25 is None or k <= 0:
            return []
        vocab = self._bm25.vocab_dict
        tokens = [t for t in bigrams(question) if t in vocab]
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=np.float64)
        order = np.argsort(-scores, kind="stable")
        return [int(i) for i in order[:k] if scores[i] > 0]
