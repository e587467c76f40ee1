"""The house: every import inside speechgru points down the rooms, and no module reaches
itself through others (no import circle, lazy imports inside functions counted too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "speechgru"

# the rooms, lowest first: a module may import its own room's modules and any lower room
ROOMS = [
    ("speechgru.errors",),
    ("speechgru.utils",),
    ("speechgru.config", "speechgru"),  # the package root re-exports config and errors
    ("speechgru.audio", "speechgru.plots"),
    ("speechgru.features",),
    ("speechgru.data",),
    ("speechgru.synth", "speechgru.models"),
    ("speechgru.run_dir", "speechgru.metrics"),
    ("speechgru.runtime",),
    ("speechgru.export",),
    ("speechgru.stream_eval",),
    ("speechgru.talk_eval",),
    ("speechgru.training",),
    ("speechgru.analysis", "speechgru.web"),
    ("speechgru.cli", "speechgru.__main__"),
]


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """``module -> the speechgru modules it imports`` (at module level or in a function)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("speechgru")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("speechgru"):
                    continue
                for alias in node.names:  # `from .pkg import module` imports the module
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in mods else target)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def room(module: str) -> int:
    best = None
    for i, prefixes in enumerate(ROOMS):
        for p in prefixes:
            if module == p or (p != "speechgru" and module.startswith(p + ".")):
                if best is None or len(p) > best[1]:
                    best = (i, len(p))
    assert best is not None, f"{module} is in no room: add it to ROOMS"
    return best[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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


def test_the_graph_sees_real_imports():
    graph = import_graph()
    assert "speechgru.config" in graph["speechgru.features.maths"]
    assert "speechgru.runtime.tflite" in graph["speechgru.runtime.listener"]
    assert "speechgru.run_dir" in graph["speechgru.stream_eval"]  # a lazy import counts


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_import_points_down_the_rooms():
    upward = [f"{m} -> {d}" for m, deps in import_graph().items() for d in sorted(deps)
              if room(d) > room(m)]
    assert upward == []


def test_the_runtime_needs_no_tensorflow_and_no_librosa():
    for name, path in _modules().items():
        if name.startswith("speechgru.runtime"):
            text = path.read_text()
            assert "import tensorflow" not in text and "import librosa" not in text, name
