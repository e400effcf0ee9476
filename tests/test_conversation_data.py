"""The conversation sets (multi-turn follow-ups) in seeds/: valid, as seeds/check_conversations.py checks them."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from qa.evaluation import public_split, squad_dataset_name

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def _checker():
    spec = importlib.util.spec_from_file_location("check_conversations", SEEDS / "check_conversations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_conversation_sets_pass_their_checks():
    errors, stats = _checker().check(str(ROOT))
    assert errors == []
    assert stats["bundled"]["conversations"] >= 36 and stats["public"]["conversations"] >= 24
    for st in stats.values():
        assert st["dev"] and st["test"] and st["3-turn"]


def test_public_conversations_use_the_engines_split_of_their_article():
    """The checker's own copy of the split rule and dataset name agree with qa.evaluation's."""
    check = _checker()
    for conv in _rows(SEEDS / "public" / "conversations.jsonl"):
        dataset = squad_dataset_name(ROOT / conv["document"])
        assert dataset == check.dataset_name(conv["document"])
        assert public_split(dataset, conv["title"]) == check.article_split(dataset, conv["title"]) == conv["split"]
        assert conv["split"] in ("dev", "test")


def test_the_check_catches_a_quote_not_in_the_document_and_a_train_article(tmp_path):
    check = _checker()
    (tmp_path / "seeds" / "public").mkdir(parents=True)
    for name in ("000_f68f8fec486f23e4.txt", "questions.jsonl"):
        os.symlink(SEEDS / name, tmp_path / "seeds" / name)
    for name in ("cmrc2018", "drcd"):
        os.symlink(SEEDS / "public" / name, tmp_path / "seeds" / "public" / name)
    bundled = _rows(SEEDS / "conversations.jsonl")
    bundled[0]["turns"][1]["answers"] = ["not in the document"]
    public = _rows(SEEDS / "public" / "conversations.jsonl")
    cmrc = "seeds/public/cmrc2018/cmrc2018_trial.json"
    data = json.loads((ROOT / cmrc).read_text(encoding="utf-8"))["data"]
    train = next(a for a in data if public_split("cmrc2018", a["title"]) == "train")
    qa = train["paragraphs"][0]["qas"]
    public[0] = {"id": "p001", "split": "dev", "document": cmrc, "title": train["title"], "turns": [
        {"question": qa[0]["question"], "answers": list(dict.fromkeys(a["text"] for a in qa[0]["answers"])),
         "answerable": True, "source_id": qa[0]["id"]},
        {"question": "那它呢？", "answers": list(dict.fromkeys(a["text"] for a in qa[1]["answers"])),
         "answerable": True, "source_id": qa[1]["id"], "reading": qa[1]["question"]},
    ]}
    for path, rows in ((tmp_path / "seeds" / "conversations.jsonl", bundled),
                       (tmp_path / "seeds" / "public" / "conversations.jsonl", public)):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    errors, _ = check.check(str(tmp_path))
    assert any(e.startswith("c001 turn 2: answer not verbatim") for e in errors)
    assert any(e.startswith("p001: article") and "train" in e for e in errors)
