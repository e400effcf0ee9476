"""The public reading-comprehension sets in seeds/public: present with their licences, split by article as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.evaluation import public_split

PUBLIC = Path(__file__).resolve().parent.parent / "seeds" / "public"
# (file, dataset): {split: (articles, paragraphs, questions)}, as seeds/public/README.md gives them.
COUNTS = {
    ("cmrc2018/cmrc2018_trial.json", "cmrc2018"): {"train": (146, 146, 579), "dev": (56, 56, 222), "test": (54, 54, 201)},
    ("cmrc2018/cmrc2018_dev_part.json", "cmrc2018"): {"train": (236, 236, 873), "dev": (83, 83, 315), "test": (86, 86, 339)},
    ("drcd/DRCD_dev.json", "drcd"): {"train": (248, 657, 2352), "dev": (69, 157, 552), "test": (66, 186, 620)},
}


@pytest.mark.parametrize("name, dataset", list(COUNTS))
def test_each_set_splits_by_article_as_documented(name, dataset):
    data = json.loads((PUBLIC / name).read_text(encoding="utf-8"))["data"]
    counts = {s: [0, 0, 0] for s in ("train", "dev", "test")}
    for article in data:
        c = counts[public_split(dataset, article["title"])]
        c[0] += 1
        c[1] += len(article["paragraphs"])
        c[2] += sum(len(p["qas"]) for p in article["paragraphs"])
    assert {s: tuple(c) for s, c in counts.items()} == COUNTS[(name, dataset)]


def test_split_is_stable_and_uses_the_dataset_name():
    assert public_split("drcd", "臺灣") == public_split("drcd", "臺灣")
    splits = {public_split("cmrc2018", f"t{i}") for i in range(50)}
    assert splits == {"train", "dev", "test"}


def test_licences_and_attribution_travel_with_the_data():
    assert "Attribution-ShareAlike 4.0" in (PUBLIC / "cmrc2018" / "LICENCE").read_text(encoding="utf-8")
    drcd = (PUBLIC / "drcd" / "LICENCE").read_text(encoding="utf-8")
    assert "CC BY-SA 3.0" in drcd and "arXiv:1806.00920" in drcd
    readme = (PUBLIC / "README.md").read_text(encoding="utf-8")
    assert "Cui et al." in readme and "Shao et al." in readme
