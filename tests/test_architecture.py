"""The shape of the code: imports go one way (ui -> qa -> embeddings), with no cycles, and each word list once."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("qa", "embeddings", "ui")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def _imports(path: Path, module: str) -> list[tuple[str, list[str]]]:
    """Every import statement in a file (lazy ones inside functions too): (module, names imported from it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found.append((base, [a.name for a in node.names]))
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for base, names in _imports(f, m):
            for target in [base] + [f"{base}.{n}" for n in names]:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != m and not m.startswith(target + "."):
                    graph[m].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_the_projects_modules():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_embeddings_imports_nothing_of_qa_or_ui():
    graph = _graph()
    bad = {m: sorted(t for t in ts if t.split(".")[0] in ("qa", "ui")) for m, ts in graph.items() if m.startswith("embeddings")}
    assert not any(bad.values()), bad


def test_settings_import_nothing_else_of_qa():
    targets = _graph()["qa.settings"]
    assert not [t for t in targets if t.startswith("qa")], targets


def test_ui_uses_only_the_public_qa_api():
    import qa

    mods = _modules()
    for m, f in mods.items():
        if not m.startswith("ui"):
            continue
        for base, names in _imports(f, m):
            if base.startswith("qa."):
                pytest.fail(f"{m} imports {base}: ui may import only `from qa import …`")
            if base == "qa":
                missing = [n for n in names if n not in qa.__all__]
                assert not missing, f"{m} imports {missing} from qa, which qa.__all__ does not export"


def test_qa_never_imports_gradio():
    mods = _modules()
    for m, f in mods.items():
        if m.startswith(("qa", "embeddings")):
            assert not any(base.split(".")[0] == "gradio" for base, _ in _imports(f, m)), m


def test_every_public_name_resolves():
    import qa

    for name in qa.__all__:
        assert getattr(qa, name) is not None, name


def test_no_word_is_listed_twice_in_one_language():
    """Each word list is written once: no list repeats a word, and no two lists of a file share their whole content."""
    for path in sorted((ROOT / "qa" / "data" / "words").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))

        def lists(node, where):
            if isinstance(node, list) and all(isinstance(x, str) for x in node):
                yield where, node
            elif isinstance(node, dict):
                for k, v in node.items():
                    yield from lists(v, f"{where}.{k}")

        seen: dict[tuple, str] = {}
        for where, items in lists(data, path.name):
            assert len(items) == len(set(items)), f"{where} repeats a word"
            key = tuple(sorted(items))
            assert key not in seen, f"{where} is the same list as {seen.get(key)}"
            seen[key] = where


def test_fusion_names_in_settings_are_the_strategies():
    from qa.fusion import FUSIONS
    from qa.settings import _CHOICES

    assert set(_CHOICES["fusion"]) == set(FUSIONS)


def test_not_found_weights_name_exactly_the_signals():
    from qa.settings import default_not_found_weights, not_found_signals

    assert set(default_not_found_weights()) == set(not_found_signals()) | {"bias"}
