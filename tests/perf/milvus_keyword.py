"""The keyword side on Milvus Lite, measured against docqa's own BM25 (groundwork, not the product).

Three ways to rank passages by keywords, on the dev articles of the public sets
(CMRC 2018 trial, CMRC 2018 dev part, DRCD):

* ``0``  docqa's `qa.lexical.LexicalIndex` (jieba search-mode words, bm25s, k1=1.2, b=0.75,
         Lucene IDF): the reference;
* ``A``  Milvus's own full-text search: a ``FunctionType.BM25`` function on a VARCHAR field
         whose analyzer is jieba (search mode) with docqa's stop words, k1/b as docqa's;
         ``A`` gets the text folded to simplified as docqa folds it (`fold_script`, NFKC),
         ``A-raw`` documents and questions as written, ``A-mixed`` documents as written and
         questions folded (a simplified question on a Taiwanese document: what folding is for);
* ``B``  sparse vectors docqa computes itself: each passage's vector holds its bm25s score
         for each of its words (dimension = a 32-bit hash of the word), a question's vector
         the count of each of its words, searched by inner product (``metric IP``), so the
         score is docqa's bm25s score.

For each: hit@1 / hit@5 of a passage from the question's own file that holds a reference
answer (`qa.evaluation.gold_passages`), index build seconds, query p50/p95 ms; for B also
the largest difference between its scores and docqa's, and how often its top 5 differs.
Then A and B with the largest set stored as 3 segments (Lite keeps BM25 statistics per
segment), and Milvus Lite itself: client start-up on a new and an existing database, a
second process on the same database, and a few feature probes. ``--scale N`` also times
0, A and B at N passages. Findings: docs/milvus.md.

Run: ``python tests/perf/milvus_keyword.py [--out FILE.json] [--scale N]`` (needs
``pip install pymilvus milvus-lite``; no model; about 35 s on 2 cores, 85 s with
``--scale 10000``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from types import SimpleNamespace

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # `python tests/perf/milvus_keyword.py` puts only tests/perf/ on the path
    sys.path.insert(0, str(PROJECT_ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

SETS = {
    "cmrc_trial": PROJECT_ROOT / "seeds/public/cmrc2018/cmrc2018_trial.json",
    "cmrc_dev_part": PROJECT_ROOT / "seeds/public/cmrc2018/cmrc2018_dev_part.json",
    "drcd": PROJECT_ROOT / "seeds/public/drcd/DRCD_dev.json",
}
K1, B = 1.2, 0.75  # qa.lexical.LexicalIndex.build
BATCH = 500


# -- the passages and questions, read as docqa reads them (no dense side) --------


def load_set(path: Path, home: Path):
    """(texts as docqa indexes them, raw texts, questions with gold ids) of one set's dev split."""
    from dataclasses import replace

    from qa import library, readers
    from qa.evaluation import gold_passages, load_questions, lay_out_squad
    from qa.search_index import embed_text, texts_and_keys
    from qa.settings import Settings

    settings = Settings()
    layout = lay_out_squad(path, home=home, split="dev")
    units = []
    for name, file in library.discover([layout.folder]):  # as Library._refresh / _combine do
        doc = readers.parse_bytes(file.read_bytes(), suffix=file.suffix, name=name, path=str(file),
                                  max_chars=settings.max_passage_chars)
        units += [replace(u, id=len(units) + n, source=name, paragraph=u.id) for n, u in enumerate(doc.units, start=1)]
    ctx = settings.retrieval.section_context
    folded = texts_and_keys(units, section_context=ctx)[0]  # what LexicalIndex.build gets
    raw = [embed_text(u, section_context=ctx) for u in units]
    index = SimpleNamespace(units=units)
    questions, no_gold = [], 0
    for q in load_questions(layout.questions):
        if not q.answerable:
            continue
        gold = gold_passages(q, index)
        if not gold:
            no_gold += 1
            continue
        questions.append((q.question, {g - 1 for g in gold}))  # ids are 1-based positions
    return folded, raw, questions, no_gold


# -- helpers -----------------------------------------------------------------------


def term_id(token: str) -> int:
    """A word's sparse dimension: 32 bits of its BLAKE2b hash (2^32-1 is reserved by Milvus)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "little") % (2**32 - 1)


def insert(c, name: str, rows: list[dict], segments: int) -> None:
    """Insert in batches; with `segments` > 1, flush after each share, so Lite stores that many segments
    (as a library that grows file by file would)."""
    share = -(-len(rows) // segments)
    for lo in range(0, len(rows), share):
        for s in range(lo, min(len(rows), lo + share), BATCH):
            c.insert(name, rows[s : min(s + BATCH, lo + share)])
        c.flush(name)


def hits(ranked: list[int], gold: set[int]) -> tuple[float, float]:
    return float(bool(ranked[:1]) and ranked[0] in gold), float(any(i in gold for i in ranked[:5]))


def ms_stats(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2)}


def top5_docqa(scores: np.ndarray) -> list[int]:
    order = np.argsort(-scores, kind="stable")[:5]
    return [int(i) for i in order if scores[i] > 0]


def client(path: Path):
    from pymilvus import MilvusClient

    return MilvusClient(str(path))


def close(c, path: Path) -> None:
    """Close the client and the embedded server: `MilvusClient.close()` alone keeps the database
    (and its LOCK) open in this process until it exits."""
    from milvus_lite import server_manager_instance

    c.close()
    server_manager_instance.release_server(str(path))


# -- (0) docqa's bm25s ---------------------------------------------------------------


def run_docqa(texts, questions):
    from qa.lexical import LexicalIndex, tokenize
    from qa.normalize import normalize_query

    t = time.perf_counter()
    lex = LexicalIndex.build(texts)
    build = time.perf_counter() - t
    h1 = h5 = 0.0
    times, tops, all_scores = [], [], []
    for question, gold in questions:
        t = time.perf_counter()
        s = lex.scores(tokenize(normalize_query(question)))
        top = top5_docqa(s)
        times.append(time.perf_counter() - t)
        a, b = hits(top, gold)
        h1, h5 = h1 + a, h5 + b
        tops.append(top)
        all_scores.append(s)
    n = len(questions)
    return lex, {"hit@1": h1 / n, "hit@5": h5 / n, "build_s": round(build, 3), **ms_stats(times)}, tops, all_scores


# -- (A) Milvus BM25 function -------------------------------------------------------------


def analyzer_params() -> dict:
    from qa.lexical import _STOPWORDS

    return {"tokenizer": {"type": "jieba", "mode": "search"},
            "filter": [{"type": "stop", "stop_words": sorted(_STOPWORDS)}]}


def prepare(text: str, fold: bool) -> str:
    from qa.normalize import fold_script

    return fold_script(unicodedata.normalize("NFKC", text)) if fold else text


def run_bm25_function(db: Path, texts_in, questions, *, fold: bool, name: str, fold_questions: bool | None = None,
                      segments: int = 1):
    from pymilvus import DataType, Function, FunctionType

    t0 = time.perf_counter()
    c = client(db)
    schema = c.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True,
                     analyzer_params=analyzer_params())
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    index = c.prepare_index_params()
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params={"bm25_k1": K1, "bm25_b": B})
    c.create_collection(name, schema=schema, index_params=index)
    rows = [{"id": i, "text": prepare(t, fold)} for i, t in enumerate(texts_in)]
    insert(c, name, rows, segments)
    c.load_collection(name)
    c.search(name, data=[prepare("预热", fold)], anns_field="sparse", limit=5)  # builds the segment's index
    build = time.perf_counter() - t0
    fold_q = fold if fold_questions is None else fold_questions
    h1 = h5 = 0.0
    times, tops = [], []
    for question, gold in questions:
        t = time.perf_counter()
        res = c.search(name, data=[prepare(question, fold_q)], anns_field="sparse", limit=5,
                       search_params={"metric_type": "BM25"})[0]
        times.append(time.perf_counter() - t)
        top = [int(h["id"]) for h in res]
        a, b = hits(top, gold)
        h1, h5 = h1 + a, h5 + b
        tops.append(top)
    close(c, db)
    n = len(questions)
    return {"hit@1": h1 / n, "hit@5": h5 / n, "build_s": round(build, 3), **ms_stats(times)}, tops


# -- (B) sparse vectors from docqa's own BM25 ------------------------------------------------


def passage_vectors(lex) -> tuple[list[dict[int, float]], int]:
    """Each passage's {term_id(word): bm25s score of that word in it}, and hash collisions."""
    import scipy.sparse as sp

    bm = lex._bm25  # the bm25s retriever; its score matrix is CSC, one column per word
    scores = bm.scores
    n_docs = int(scores["num_docs"])
    words = {i: w for w, i in bm.vocab_dict.items()}
    n_vocab = len(scores["indptr"]) - 1
    matrix = sp.csc_matrix((scores["data"], scores["indices"], scores["indptr"]), shape=(n_docs, n_vocab)).tocsr()
    dims = np.array([term_id(str(words[j])) for j in range(n_vocab)], dtype=np.int64)
    collisions = n_vocab - len(set(dims.tolist()))
    out = []
    for i in range(n_docs):
        lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
        out.append({int(d): float(v) for d, v in zip(dims[matrix.indices[lo:hi]], matrix.data[lo:hi]) if v > 0})
    return out, collisions


def query_vector(terms: list[str]) -> dict[int, float]:
    """A question's {term_id(word): count}: no vocabulary needed, an unknown word matches nothing."""
    out: dict[int, float] = {}
    for t in terms:
        out[term_id(t)] = out.get(term_id(t), 0.0) + 1.0
    return out


def sparse_collection(c, name: str) -> None:
    """A collection of (id, sparse vector) searched by inner product."""
    from pymilvus import DataType

    schema = c.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    index = c.prepare_index_params()
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    c.create_collection(name, schema=schema, index_params=index)


def run_sparse_ip(db: Path, texts, questions, ref_tops, ref_scores, name: str, segments: int = 1):
    from pymilvus import DataType

    from qa.lexical import LexicalIndex, tokenize
    from qa.normalize import normalize_query

    t0 = time.perf_counter()
    lex = LexicalIndex.build(texts)  # docqa computes the weights: its own BM25, as now
    vectors, collisions = passage_vectors(lex)
    t_weights = time.perf_counter() - t0
    c = client(db)
    sparse_collection(c, name)
    rows = [{"id": i, "sparse": v} for i, v in enumerate(vectors)]  # never empty: bm25s gives "∅" to a wordless text
    insert(c, name, rows, segments)
    c.load_collection(name)
    c.search(name, data=[{1: 1.0}], anns_field="sparse", limit=5)  # builds the segment's index
    build = time.perf_counter() - t0
    h1 = h5 = 0.0
    times, tops = [], []
    same_top5 = tie_only = 0
    max_diff = 0.0
    for qi, (question, gold) in enumerate(questions):
        t = time.perf_counter()
        qv = query_vector(tokenize(normalize_query(question)))
        res = c.search(name, data=[qv], anns_field="sparse", limit=5, search_params={"metric_type": "IP"})[0]
        times.append(time.perf_counter() - t)
        top = [int(h["id"]) for h in res]
        a, b = hits(top, gold)
        h1, h5 = h1 + a, h5 + b
        tops.append(top)
        ref = ref_scores[qi]
        for h in res:
            max_diff = max(max_diff, abs(float(h["distance"]) - float(ref[int(h["id"])])))
        if top == ref_tops[qi]:
            same_top5 += 1
        elif sorted(np.round(ref[top], 5).tolist()) == sorted(np.round(ref[ref_tops[qi]], 5).tolist()):
            tie_only += 1  # the same scores, tied passages in another order
    # The full score vector on a few questions: every passage's IP score against docqa's.
    full_diff = 0.0
    for qi, (question, _) in enumerate(questions[:20]):
        qv = query_vector(tokenize(normalize_query(question)))
        res = c.search(name, data=[qv], anns_field="sparse", limit=len(texts), search_params={"metric_type": "IP"})[0]
        got = np.zeros(len(texts))
        for h in res:
            got[int(h["id"])] = float(h["distance"])
        full_diff = max(full_diff, float(np.max(np.abs(got - ref_scores[qi]))))
    close(c, db)
    n = len(questions)
    return {"hit@1": h1 / n, "hit@5": h5 / n, "build_s": round(build, 3), "weights_s": round(t_weights, 3),
            **ms_stats(times), "max_abs_diff_top5": max_diff, "max_abs_diff_all_passages_20q": full_diff,
            "same_top5": same_top5, "top5_differs_by_ties_only": tie_only, "questions": n,
            "hash_collisions": collisions}, tops


# -- Milvus Lite itself: start-up, two processes, features ------------------------------------


def startup(db_new: Path, db_existing: Path, collection: str) -> dict:
    """Seconds to a client on a new path, and on an existing one (+ load + first search)."""
    out = {}
    code = ("import time,sys; t=time.perf_counter(); from pymilvus import MilvusClient; t1=time.perf_counter();"
            "c=MilvusClient(sys.argv[1]); t2=time.perf_counter(); n=sys.argv[2]\n"
            "if n:\n c.load_collection(n); t3=time.perf_counter(); c.search(n, data=[{1: 1.0}], anns_field='sparse', limit=5)\n"
            "else:\n t3=t2\n"
            "t4=time.perf_counter(); c.close(); print(round(t1-t,3), round(t2-t1,3), round(t3-t2,3), round(t4-t3,3))")
    for label, path, name in (("new", db_new, ""), ("existing", db_existing, collection)):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", code, str(path), name], capture_output=True, text=True, timeout=300)
        wall = time.perf_counter() - t
        vals = p.stdout.split()
        out[label] = ({"process_s": round(wall, 2), "import_s": float(vals[0]), "client_s": float(vals[1]),
                       "load_s": float(vals[2]), "first_search_s": float(vals[3])}
                      if p.returncode == 0 and len(vals) == 4 else {"error": p.stderr[-400:]})
    return out


CHILD = """
import json, sys, time
t = time.perf_counter()
try:
    from pymilvus import MilvusClient
    c = MilvusClient(sys.argv[1])
    c.load_collection(sys.argv[2])
    rows = c.query(sys.argv[2], filter="id >= 0", output_fields=["id"], limit=16384)
    c.search(sys.argv[2], data=[{1: 1.0}], anns_field="sparse", limit=5)
    print(json.dumps({"ok": True, "rows": len(rows), "s": round(time.perf_counter() - t, 2)}))
except Exception as e:
    print(json.dumps({"ok": False, "error": type(e).__name__ + ": " + str(e)[:160], "s": round(time.perf_counter() - t, 2)}))
"""


def two_processes(db: Path, collection: str) -> dict:
    """While this process holds the database: a second process by path, then two at once by URI."""
    from milvus_lite import server_manager_instance

    def child(target: str):
        return subprocess.Popen([sys.executable, "-c", CHILD, target, collection], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)

    out = {}
    c = client(db)
    c.load_collection(collection)
    c.insert(collection, [{"id": 10_000_000, "sparse": {7: 1.0}}])  # not flushed: only in the holder's memory and WAL
    out["holder_rows"] = len(c.query(collection, filter="id >= 0", output_fields=["id"], limit=16384))
    out["second_process_by_path"] = json.loads(child(str(db)).communicate(timeout=120)[0])
    uri = server_manager_instance.start_and_get_uri(str(db))  # the holder's in-process gRPC server
    out["holder_uri"] = uri.rsplit(":", 1)[0] + ":<port>"
    both = [child(uri), child(uri)]
    out["two_processes_by_uri_at_once"] = [json.loads(p.communicate(timeout=120)[0]) for p in both]
    c.delete(collection, ids=[10_000_000])
    c.close()
    out["after_client_close_by_path"] = json.loads(child(str(db)).communicate(timeout=120)[0])
    server_manager_instance.release_server(str(db))
    out["after_release_server_by_path"] = json.loads(child(str(db)).communicate(timeout=120)[0])
    return out


def _why(e: Exception) -> str:
    details = getattr(e, "details", None)
    if callable(details):  # a gRPC error: UNIMPLEMENTED and the like
        return f"{e.code().name}: {details()}"
    return str(getattr(e, "message", "") or e).splitlines()[0][:160]


def probes(db: Path) -> dict:
    """What this Milvus Lite accepts, tried rather than assumed."""
    from pymilvus import DataType, Function, FunctionType

    out = {}
    c = client(db)

    def bm25_collection(name: str, params: dict) -> str:
        schema = c.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("text", DataType.VARCHAR, max_length=1000, enable_analyzer=True, analyzer_params=params)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                     output_field_names=["sparse"]))
        index = c.prepare_index_params()
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        try:
            c.create_collection(name, schema=schema, index_params=index)
            return "accepted"
        except Exception as e:  # noqa: BLE001 - the message is the finding
            return "rejected: " + _why(e)

    out["analyzer type=chinese"] = bm25_collection("p_chinese", {"type": "chinese"})
    out["analyzer tokenizer=jieba"] = bm25_collection("p_jieba", {"tokenizer": "jieba"})
    out["analyzer jieba+cnalphanumonly"] = bm25_collection("p_cnalnum", {"tokenizer": "jieba", "filter": ["cnalphanumonly"]})
    if out["analyzer jieba+cnalphanumonly"] == "accepted":  # is the filter applied? punctuation would be dropped
        c.insert("p_cnalnum", [{"id": 1, "text": "你好，世界"}, {"id": 2, "text": "你好世界"}])
        r = c.search("p_cnalnum", data=["，"], anns_field="sparse", limit=5)[0]
        out["cnalphanumonly applied"] = not r
    out["analyzer tokenizer=icu"] = bm25_collection("p_icu", {"tokenizer": "icu"})
    try:
        c.run_analyzer("你好，世界", analyzer_params={"tokenizer": "jieba"})
        out["run_analyzer"] = "works"
    except Exception as e:  # noqa: BLE001
        out["run_analyzer"] = "fails: " + _why(e)
    for what, call in (
        ("alias", lambda: (c.create_alias("p_jieba", "p_live"), c.alter_alias("p_jieba", "p_live"),
                           c.describe_alias("p_live"))),
        ("partition", lambda: (c.create_partition("p_jieba", "file_1"), c.list_partitions("p_jieba"))),
        ("rename_collection", lambda: c.rename_collection("p_icu" if out["analyzer tokenizer=icu"] == "accepted"
                                                          else "p_jieba", "p_renamed")),
        ("add_collection_field", lambda: c.add_collection_field("p_jieba", field_name="extra", data_type=DataType.INT64,
                                                                nullable=True)),
    ):
        try:
            call()
            out[what] = "works"
        except Exception as e:  # noqa: BLE001
            out[what] = "fails: " + _why(e)
    close(c, db)
    return out


def scale(db: Path, texts: list[str], n: int) -> dict:
    """Build s and query ms of 0, A and B at `n` passages (the dev passages repeated): how Lite's Python search grows."""
    from qa.lexical import LexicalIndex, tokenize
    from qa.normalize import normalize_query
    from pymilvus import DataType

    big = [texts[i % len(texts)] + f" 片段{i}" for i in range(n)]
    qs = [normalize_query(t[:30]) for t in texts[:60]]
    t = time.perf_counter()
    lex = LexicalIndex.build(big)
    out = {"passages": n, "0_build_s": round(time.perf_counter() - t, 2)}
    times = []
    for q in qs:
        t = time.perf_counter()
        top5_docqa(lex.scores(tokenize(q)))
        times.append(time.perf_counter() - t)
    out["0"] = ms_stats(times)
    t = time.perf_counter()
    vectors, _ = passage_vectors(lex)
    c = client(db)
    sparse_collection(c, "scale")
    for s in range(0, n, BATCH):
        c.insert("scale", [{"id": i, "sparse": vectors[i]} for i in range(s, min(n, s + BATCH))])
    c.flush("scale")
    c.load_collection("scale")
    c.search("scale", data=[{1: 1.0}], anns_field="sparse", limit=5)
    out["B_build_s"] = round(time.perf_counter() - t + out["0_build_s"], 2)
    times = []
    for q in qs:
        t = time.perf_counter()
        c.search("scale", data=[query_vector(tokenize(q))], anns_field="sparse", limit=5)
        times.append(time.perf_counter() - t)
    out["B"] = ms_stats(times)
    close(c, db)
    questions = [(q, set()) for q in qs]
    ra, _ = run_bm25_function(db.with_name("scale-a.db"), big, questions, fold=True, name="scale_a")
    out["A_build_s"], out["A"] = ra["build_s"], {"p50_ms": ra["p50_ms"], "p95_ms": ra["p95_ms"]}
    out["reopen_existing"] = startup(db.with_name("fresh-scale.db"), db, "scale")["existing"]
    return out


# -- main ---------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="also write the results here as JSON")
    ap.add_argument("--scale", type=int, default=0, help="also time 0, A and B at this many passages (e.g. 10000)")
    args = ap.parse_args(argv)

    import logging

    import milvus_lite
    import pymilvus

    for name in ("pymilvus", "milvus_lite", "grpc"):  # the probes fail on purpose; their errors are reported below
        logging.getLogger(name).setLevel(logging.CRITICAL)

    work = Path(tempfile.mkdtemp(prefix="docqa-milvus-"))
    report = {"versions": {"pymilvus": pymilvus.__version__, "milvus_lite": milvus_lite.__version__},
              "sets": {}}
    try:
        largest = None
        for set_name, path in SETS.items():
            folded, raw, questions, no_gold = load_set(path, work / "home")
            print(f"{set_name}: {len(folded)} passages, {len(questions)} questions ({no_gold} without a gold passage)",
                  flush=True)
            lex, r0, tops0, scores0 = run_docqa(folded, questions)
            db = work / f"{set_name}.db"
            ra, _ = run_bm25_function(db, folded, questions, fold=True, name="bm25_fn")
            rraw, _ = run_bm25_function(db, raw, questions, fold=False, name="bm25_fn_raw")
            rmix, _ = run_bm25_function(db, raw, questions, fold=False, fold_questions=True, name="bm25_fn_mixed")
            rb, _ = run_sparse_ip(db, folded, questions, tops0, scores0, name="sparse_ip")
            report["sets"][set_name] = {"passages": len(folded), "questions": len(questions),
                                        "0": r0, "A": ra, "A-raw": rraw, "A-mixed": rmix, "B": rb}
            if largest is None or len(folded) > report["sets"][largest]["passages"]:
                largest, largest_data = set_name, (folded, questions, tops0, scores0)
            for k in ("0", "A", "A-raw", "A-mixed", "B"):
                r = report["sets"][set_name][k]
                print(f"  {k:7} hit@1 {r['hit@1']:.3f}  hit@5 {r['hit@5']:.3f}  build {r['build_s']:.2f}s  "
                      f"query p50 {r['p50_ms']:.2f} ms", flush=True)
            print(f"  B vs 0: max |score diff| top5 {rb['max_abs_diff_top5']:.2e}, all passages "
                  f"{rb['max_abs_diff_all_passages_20q']:.2e}; same top 5 {rb['same_top5']}/{rb['questions']} "
                  f"(+{rb['top5_differs_by_ties_only']} differ only in tied order); "
                  f"hash collisions {rb['hash_collisions']}", flush=True)
        # Lite keeps BM25 statistics per segment: the largest set inserted as 3 flushed shares
        # (4 or more small segments are compacted into one at once, which hides the effect).
        folded, questions, tops0, scores0 = largest_data
        ra3, tops_a3 = run_bm25_function(work / "seg.db", folded, questions, fold=True, name="a3", segments=3)
        _, tops_a1 = run_bm25_function(work / "seg.db", folded, questions, fold=True, name="a1")
        rb3, _ = run_sparse_ip(work / "seg.db", folded, questions, tops0, scores0, name="b3", segments=3)
        report["segments"] = {
            "set": largest, "questions": len(questions),
            "A_3_segments": {k: ra3[k] for k in ("hit@1", "hit@5")},
            "A_3_segments_top5_same_as_1_segment": sum(a == b for a, b in zip(tops_a3, tops_a1)),
            "B_3_segments": {k: rb3[k] for k in ("hit@1", "hit@5", "same_top5", "max_abs_diff_all_passages_20q")}}
        print("segments:", json.dumps(report["segments"]), flush=True)
        db = work / f"{largest}.db"
        report["startup"] = startup(work / "fresh.db", db, "sparse_ip")
        print("start-up:", json.dumps(report["startup"]), flush=True)
        report["two_processes"] = two_processes(db, "sparse_ip")
        print("two processes:", json.dumps(report["two_processes"], ensure_ascii=False), flush=True)
        report["probes"] = probes(work / "probes.db")
        print("probes:", json.dumps(report["probes"], ensure_ascii=False, indent=1), flush=True)
        if args.scale:
            texts = []
            for p in SETS.values():
                texts += load_set(p, work / "home")[0]
            report["scale"] = scale(work / "scale.db", texts, args.scale)
            print("scale:", json.dumps(report["scale"]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
