#!/usr/bin/env python3
"""Validate seeds/questions.jsonl against seeds/000_f68f8fec486f23e4.txt.

Stdlib only. Exits non-zero on any violation.

Usage:  python3 seeds/check_questions.py
"""
import json
import os
import re
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DOC_PATH = os.path.join(HERE, "000_f68f8fec486f23e4.txt")
QS_PATH = os.path.join(HERE, "questions.jsonl")

FIELDS = {"id", "question", "answers", "type", "split", "tags"}
# Batches written by helpers that saw the document and nothing else (no questions, no engine).
BLIND_BATCHES = "hjklm"
TYPES = ["factoid", "paraphrase", "repaired", "caption", "list", "english",
         "unanswerable"]
SPLITS = ["dev", "test"]
MIN_TOTAL = 170
MIN_UNANSWERABLE = 35
# A paraphrase question may not copy a run of this many characters from
# the sentence that contains its answer.
PARAPHRASE_MAX_COPY = 4
CJK = re.compile(r"[\u3400-\u9fff]")
SENT_END = "。!！?？;；"


def load_doc(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text, text.split("\n")


def is_caption(line):
    return line.lstrip().startswith("▲")


def cut_lines(lines):
    """Indices of lines belonging to a paragraph cut by a page break.

    A body line (long, not a caption) that does not end with sentence
    punctuation is cut; its continuation is the next non-blank, non-caption
    line.  Both halves are returned.
    """
    cut = set()
    for i, line in enumerate(lines):
        s = line.strip()
        if len(s) < 40 or is_caption(s) or s[-1] in SENT_END + "”":
            continue
        cut.add(i)
        for j in range(i + 1, len(lines)):
            t = lines[j].strip()
            if t and not is_caption(t):
                cut.add(j)
                break
    return cut


def sentences_with(line, ans):
    """Sentences of `line` overlapping an occurrence of `ans`."""
    out = []
    start = 0
    bounds = []
    for k, ch in enumerate(line):
        if ch in SENT_END:
            bounds.append((start, k + 1))
            start = k + 1
    if start < len(line):
        bounds.append((start, len(line)))
    for m in re.finditer(re.escape(ans), line):
        for a, b in bounds:
            if a < m.end() and m.start() < b:
                out.append(line[a:b])
    return out


def longest_common_substring(a, b):
    best = 0
    prev = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        cur = [0] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    return best


def main():
    seen_ids = set()
    errors = []

    def err(qid, msg):
        errors.append("%s: %s" % (qid, msg))

    if not os.path.exists(DOC_PATH):
        print("missing document: %s" % DOC_PATH)
        return 2
    text, lines = load_doc(DOC_PATH)
    cut = cut_lines(lines)
    caption_idx = {i for i, l in enumerate(lines) if is_caption(l)}

    items = []
    with open(QS_PATH, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                err("line %d" % n, "blank line")
                continue
            try:
                items.append(json.loads(raw))
            except ValueError as e:
                err("line %d" % n, "invalid JSON: %s" % e)

    seen_q = set()
    multi = []  # answer strings occurring more than once in the document
    covered = set()
    for n, it in enumerate(items, 1):
        qid = it.get("id", "#%d" % n) if isinstance(it, dict) else "#%d" % n
        if not isinstance(it, dict):
            err(qid, "not an object")
            continue
        if set(it) != FIELDS:
            err(qid, "fields %s != %s" % (sorted(it), sorted(FIELDS)))
            continue
        if it["id"] in seen_ids or not re.fullmatch(r"[qdhjklm]\d{3}", it["id"]):
            err(qid, "id must be unique and look like q001 (both splits), d001 / h001 / j001 (dev only) or k001 / l001 / m001 (test only)")
        seen_ids.add(it["id"])
        if it["id"].startswith("d") and it["split"] != "dev":
            err(qid, "d-ids are dev-only questions")
        if it["id"][0] in "dhj" and it["split"] != "dev":
            err(qid, "d-, h- and j-ids are dev-only questions")
        if it["id"][0] in "klm" and it["split"] != "test":
            err(qid, "k-, l- and m-ids are test-only questions")
        want_tags = ["batch-" + it["id"][:1]] + (["blind"] if it["id"][:1] in BLIND_BATCHES else [])
        if it["tags"] != want_tags:
            err(qid, "tags must be %s (its batch, and 'blind' for h/j/k/l/m)" % want_tags)
        q, answers, typ, split = (it["question"], it["answers"], it["type"],
                                  it["split"])
        if not isinstance(q, str) or not q.strip():
            err(qid, "empty question")
            continue
        if q in seen_q:
            err(qid, "duplicate question")
        seen_q.add(q)
        if typ not in TYPES:
            err(qid, "bad type %r" % typ)
        if split not in SPLITS:
            err(qid, "bad split %r" % split)
        if not isinstance(answers, list) or not all(
                isinstance(a, str) and a for a in answers):
            err(qid, "answers must be a list of non-empty strings")
            continue
        if len(set(answers)) != len(answers):
            err(qid, "duplicate answer strings")
        if (typ == "unanswerable") != (answers == []):
            err(qid, "answers must be [] exactly for unanswerable questions")
        if typ == "english" and CJK.search(q):
            err(qid, "english question contains CJK characters")
        if typ != "english" and typ != "unanswerable" and not CJK.search(q):
            err(qid, "non-english question has no CJK characters")

        hit_lines = set()
        for a in answers:
            if "\n" in a:
                err(qid, "answer spans a line break: %r" % a)
                continue
            where = [i for i, l in enumerate(lines) if a in l]
            if not where:
                err(qid, "answer not found verbatim in a single line: %r" % a)
                continue
            hit_lines.update(where)
            covered.update(where)
            if text.count(a) > 1:
                multi.append((qid, a, text.count(a)))
            if typ == "paraphrase":
                for i in where:
                    for sent in sentences_with(lines[i], a):
                        lcs = longest_common_substring(q, sent)
                        if lcs >= PARAPHRASE_MAX_COPY:
                            err(qid, "paraphrase copies %d chars from %r"
                                % (lcs, sent[:40]))
        if answers and hit_lines:
            if typ == "caption" and not hit_lines & caption_idx:
                err(qid, "caption question but no answer in a ▲ line")
            if typ == "repaired" and not hit_lines & cut:
                err(qid, "repaired question but no answer in a cut paragraph")

    # counts
    by_type = Counter(it.get("type") for it in items if isinstance(it, dict))
    by_ts = Counter((it.get("type"), it.get("split")) for it in items
                    if isinstance(it, dict))
    by_split = Counter(it.get("split") for it in items if isinstance(it, dict))
    if len(items) < MIN_TOTAL:
        err("all", "only %d questions (< %d)" % (len(items), MIN_TOTAL))
    if by_type["unanswerable"] < MIN_UNANSWERABLE:
        err("all", "only %d unanswerable (< %d)"
            % (by_type["unanswerable"], MIN_UNANSWERABLE))
    for t in TYPES:
        d, s = by_ts[(t, "dev")], by_ts[(t, "test")]
        # q-ids split 50/50; d-, h- and j-ids are dev only; k-, l- and m-ids are test
        # only (written by helpers that saw the document and nothing else). Every type
        # must still be in both splits.
        if d == 0 or s == 0:
            err("all", "type %s missing from a split: dev=%d test=%d" % (t, d, s))

    print("questions: %d  (dev %d / test %d)"
          % (len(items), by_split["dev"], by_split["test"]))
    print("%-14s %5s %5s %5s" % ("type", "total", "dev", "test"))
    for t in TYPES:
        print("%-14s %5d %5d %5d" % (t, by_type[t], by_ts[(t, "dev")],
                                    by_ts[(t, "test")]))
    print("answer strings occurring more than once in the document: %d"
          % len(multi))
    for qid, a, c in multi:
        print("   %s %r x%d" % (qid, a, c))
    body = [i for i, l in enumerate(lines)
            if len(l.strip()) >= 40 or is_caption(l)]
    missing = [i for i in body if i not in covered]
    print("content lines without any answer: %d" % len(missing))
    for i in missing:
        print("   line %d: %s" % (i + 1, lines[i][:40]))

    return report(errors)


def report(errors):
    """Print the violations (or OK); the exit code: 1 if any."""
    if errors:
        print("\n%d violation(s):" % len(errors))
        for e in errors:
            print("  " + e)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
