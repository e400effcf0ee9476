#!/usr/bin/env python3
"""Validate the conversation sets (multi-turn follow-up questions).

  seeds/conversations.jsonl          on seeds/000_f68f8fec486f23e4.txt ("document": "bundled")
  seeds/public/conversations.jsonl   on articles of the public SQuAD-format sets in seeds/public

One conversation per line: id, split, document, turns (2 or 3); public ones also name
their article's title. Each turn has a question, answers (verbatim reference spans,
[] when the document does not answer it), answerable, and from turn 2 on a reading
(the follow-up read as a standalone question; for the record only, never for the
system). Public turns also name the source_id of the existing question they come from.

A public conversation's split is its article's: `qa.evaluation.public_split(dataset,
title)`, where dataset is the name `qa.evaluation.squad_dataset_name` gives the file
(its folder, lower-cased: "cmrc2018", "drcd"); only dev and test articles are used.

Stdlib only. Exits non-zero on any violation.

Usage:  python3 seeds/check_conversations.py
"""
import difflib
import hashlib
import json
import os
import re
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DOC_PATH = os.path.join(HERE, "000_f68f8fec486f23e4.txt")
QS_PATH = os.path.join(HERE, "questions.jsonl")
BUNDLED_PATH = os.path.join(HERE, "conversations.jsonl")
PUBLIC_PATH = os.path.join(HERE, "public", "conversations.jsonl")
# Public documents, as written in "document": paths from the repository root.
PUBLIC_DOCS = ["seeds/public/cmrc2018/cmrc2018_trial.json", "seeds/public/drcd/DRCD_dev.json"]

SPLITS = ["dev", "test"]
CONV_FIELDS = {"bundled": {"id", "split", "document", "turns"},
               "public": {"id", "split", "document", "title", "turns"}}
TURN_FIELDS = {"question", "answers", "answerable", "reading", "source_id"}
MIN_TURNS, MAX_TURNS = 2, 3
MAX_ANSWERS = 3
MAX_ANSWER_CHARS = 40  # bundled answers are short key phrases, not sentences
MIN_BUNDLED = 36
MIN_PUBLIC = 24
MIN_UNANSWERABLE = 5
MIN_ENGLISH = 3
# Turn 1 may not copy, nor nearly copy, a question of seeds/questions.jsonl.
MAX_SEED_SIMILARITY = 0.85
CJK = re.compile(r"[\u3400-\u9fff]")
PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def article_split(dataset, title):
    """The fixed split of an article (the rule of qa.squad.article_split)."""
    h = int(hashlib.sha256(("%s\n%s" % (dataset, title)).encode("utf-8")).hexdigest()[:8], 16) / 2**32
    return "train" if h < 0.6 else "dev" if h < 0.8 else "test"


def dataset_name(document):
    """A SQuAD file's dataset name: its folder, lower-cased (qa.evaluation.squad_dataset_name)."""
    return os.path.basename(os.path.dirname(document)).lower()


def norm(q):
    return PUNCT.sub("", q).lower()


def load_jsonl(path, err):
    items = []
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                err("%s line %d" % (os.path.basename(path), n), "blank line")
                continue
            try:
                items.append(json.loads(raw))
            except ValueError as e:
                err("%s line %d" % (os.path.basename(path), n), "invalid JSON: %s" % e)
    return items


def load_public(root):
    """{document: {title: (contexts, {qa id: (question, [answer texts])})}}."""
    out = {}
    for doc in PUBLIC_DOCS:
        with open(os.path.join(root, doc), encoding="utf-8") as f:
            data = json.load(f)["data"]
        arts = {}
        for art in data:
            contexts = [p["context"] for p in art["paragraphs"]]
            qas = {}
            for p in art["paragraphs"]:
                for qa in p["qas"]:
                    answers = list(dict.fromkeys(a["text"] for a in qa["answers"]))
                    qas[qa["id"]] = (qa["question"], answers)
            arts[art["title"]] = (contexts, qas)
        out[doc] = arts
    return out


def check_turns(cid, turns, err):
    """Shape of the turns; returns False when they cannot be checked further."""
    if not isinstance(turns, list) or not MIN_TURNS <= len(turns) <= MAX_TURNS:
        err(cid, "turns must be a list of %d to %d turns" % (MIN_TURNS, MAX_TURNS))
        return False
    ok = True
    for k, t in enumerate(turns, 1):
        where = "%s turn %d" % (cid, k)
        if not isinstance(t, dict) or not set(t) <= TURN_FIELDS:
            err(where, "a turn is an object with fields among %s" % sorted(TURN_FIELDS))
            ok = False
            continue
        q, answers = t.get("question"), t.get("answers")
        if not isinstance(q, str) or not q.strip():
            err(where, "empty question")
            ok = False
        if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
            err(where, "answers must be a list of non-empty strings")
            ok = False
            continue
        if len(answers) > MAX_ANSWERS or len(set(answers)) != len(answers):
            err(where, "1 to %d distinct answers (or none)" % MAX_ANSWERS)
        if not isinstance(t.get("answerable"), bool):
            err(where, "answerable must be true or false")
        elif t["answerable"] != bool(answers):
            err(where, "answerable is %s but answers is %r" % (t["answerable"], answers))
        reading = t.get("reading")
        if k == 1:
            if "reading" in t:
                err(where, "turn 1 is standalone: no reading")
            if not answers:
                err(where, "turn 1 must be answerable")
        elif not isinstance(reading, str) or not reading.strip():
            err(where, "a follow-up needs its reading")
        elif isinstance(q, str) and norm(reading) == norm(q):
            err(where, "a follow-up must lean on the earlier turns (its reading is the same question)")
    return ok


def check(root=None):
    """Check both files. Returns (errors, stats); errors is a list of strings."""
    root = root or os.path.dirname(HERE)
    here = os.path.join(root, "seeds")
    errors = []

    def err(cid, msg):
        errors.append("%s: %s" % (cid, msg))

    with open(os.path.join(here, os.path.basename(DOC_PATH)), encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    with open(os.path.join(here, "questions.jsonl"), encoding="utf-8") as f:
        seed_qs = [norm(json.loads(l)["question"]) for l in f if l.strip()]
    public = load_public(root)

    bundled = load_jsonl(os.path.join(here, "conversations.jsonl"), err)
    pub = load_jsonl(os.path.join(here, "public", "conversations.jsonl"), err)
    seen = set()
    stats = {}
    for kind, items in (("bundled", bundled), ("public", pub)):
        st = Counter()
        for n, c in enumerate(items, 1):
            cid = c.get("id", "#%d" % n) if isinstance(c, dict) else "#%d" % n
            if not isinstance(c, dict) or set(c) != CONV_FIELDS[kind]:
                err(cid, "fields must be exactly %s" % sorted(CONV_FIELDS[kind]))
                continue
            pattern = r"c\d{3}" if kind == "bundled" else r"p\d{3}"
            if not isinstance(cid, str) or not re.fullmatch(pattern, cid) or cid in seen:
                err(cid, "ids must be unique and look like %s" % ("c001" if kind == "bundled" else "p001"))
            seen.add(cid)
            if c["split"] not in SPLITS:
                err(cid, "bad split %r" % c["split"])
            turns = c["turns"]
            if not check_turns(cid, turns, err):
                continue
            st["conversations"] += 1
            st["turns"] += len(turns)
            st["follow-ups"] += len(turns) - 1
            st["3-turn"] += len(turns) == 3
            st["unanswerable"] += sum(not t["answers"] for t in turns)
            st[c["split"]] += 1
            english = not CJK.search(turns[0]["question"])
            st["english"] += english

            if kind == "bundled":
                if c["document"] != "bundled":
                    err(cid, 'document must be "bundled"')
                want = "dev" if int(cid[1:]) % 2 else "test"
                if c["split"] != want:
                    err(cid, "bundled splits alternate: c001 dev, c002 test, ...; want %s" % want)
                q1 = norm(turns[0]["question"])
                close = [s for s in seed_qs if difflib.SequenceMatcher(None, q1, s).ratio() >= MAX_SEED_SIMILARITY]
                if close:
                    err(cid, "turn 1 (nearly) copies a question of seeds/questions.jsonl: %r" % close[0])
                for k, t in enumerate(turns, 1):
                    if english and CJK.search(t["question"]):
                        err("%s turn %d" % (cid, k), "an English conversation stays in English")
                    for a in t["answers"]:
                        if a not in text:
                            err("%s turn %d" % (cid, k), "answer not verbatim in the document: %r" % a)
                        elif not any(a in l for l in lines):
                            err("%s turn %d" % (cid, k), "answer spans a line break: %r" % a)
                        if len(a) > MAX_ANSWER_CHARS:
                            err("%s turn %d" % (cid, k), "answer longer than %d characters" % MAX_ANSWER_CHARS)
                continue

            doc, title = c["document"], c["title"]
            if doc not in public:
                err(cid, "document must be one of %s" % PUBLIC_DOCS)
                continue
            if title not in public[doc]:
                err(cid, "no article %r in %s" % (title, doc))
                continue
            st[dataset_name(doc)] += 1
            split = article_split(dataset_name(doc), title)
            if split not in SPLITS:
                err(cid, "article %r is on the %s side: use dev or test articles only" % (title, split))
            elif c["split"] != split:
                err(cid, "split %r but the article's split is %r" % (c["split"], split))
            contexts, qas = public[doc][title]
            sources = [t.get("source_id") for t in turns]
            if len(set(sources)) != len(sources):
                err(cid, "each turn comes from a different question")
            for k, t in enumerate(turns, 1):
                where = "%s turn %d" % (cid, k)
                if t.get("source_id") not in qas:
                    err(where, "source_id %r is not a question of %r" % (t.get("source_id"), title))
                    continue
                question, answers = qas[t["source_id"]]
                original = t["question"] if k == 1 else t.get("reading")
                if original != question:
                    err(where, "%s must be the source question verbatim: %r" % ("question" if k == 1 else "reading", question))
                if t["answers"] != answers:
                    err(where, "answers must be the source question's answers %r" % answers)
                for a in t["answers"]:
                    if not any(a in ctx for ctx in contexts):
                        err(where, "answer not verbatim in the article: %r" % a)
        stats[kind] = st

    b, p = stats.get("bundled", Counter()), stats.get("public", Counter())
    if b["conversations"] < MIN_BUNDLED:
        err("bundled", "only %d conversations (< %d)" % (b["conversations"], MIN_BUNDLED))
    if b["unanswerable"] < MIN_UNANSWERABLE:
        err("bundled", "only %d unanswerable follow-ups (< %d)" % (b["unanswerable"], MIN_UNANSWERABLE))
    if b["english"] < MIN_ENGLISH:
        err("bundled", "only %d English conversations (< %d)" % (b["english"], MIN_ENGLISH))
    if p["conversations"] < MIN_PUBLIC:
        err("public", "only %d conversations (< %d)" % (p["conversations"], MIN_PUBLIC))
    for kind, st in stats.items():
        if not st["dev"] or not st["test"]:
            err(kind, "both splits needed: dev=%d test=%d" % (st["dev"], st["test"]))
        if st["3-turn"] * 4 < st["conversations"]:
            err(kind, "too few 3-turn conversations: %d of %d" % (st["3-turn"], st["conversations"]))
    if not p["cmrc2018"] or not p["drcd"]:
        err("public", "both sets needed: cmrc2018=%d drcd=%d" % (p["cmrc2018"], p["drcd"]))
    return errors, stats


def main():
    if not os.path.exists(DOC_PATH):
        print("missing document: %s" % DOC_PATH)
        return 2
    errors, stats = check()
    cols = ["conversations", "turns", "follow-ups", "3-turn", "unanswerable", "english", "dev", "test"]
    print("%-8s %s" % ("", " ".join("%13s" % c for c in cols)))
    for kind, st in stats.items():
        print("%-8s %s" % (kind, " ".join("%13d" % st[c] for c in cols)))
    if "public" in stats:
        print("public by set: cmrc2018 %d, drcd %d" % (stats["public"]["cmrc2018"], stats["public"]["drcd"]))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from check_questions import report

    return report(errors)


if __name__ == "__main__":
    sys.exit(main())
