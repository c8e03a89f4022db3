"""The house rule of docs/ARCHITECTURE.md: imports point down the layers, and never in a circle.

Every ``import`` in src/phi1 counts, those inside functions too (a lazy import is still an
arrow). A module may import from its own layer or below; in the stages' layer a package
imports only itself (stages never import each other); and no modules import each other in
a circle, however long.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Bottom up, one layer a line; a name is a subpackage or a top-level module of phi1.
LAYERS = [
    ["errors", "io"],  # the one error type; atomic, file:line-naming I/O
    ["llm", "model", "sandbox", "text"],  # foundations
    ["data", "synth", "train", "eval"],  # the recipe's stages
    ["pipeline"],  # the stage table, manifests, recipes, the engine
    ["report"],  # the HTML report
    ["cli"],  # the one entry point
]
ISOLATED = {"data", "synth", "train", "eval"}  # a layer whose packages do not import each other


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "phi1").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The phi1 modules ``module`` imports (the submodule where ``from pkg import name``
    names one)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != module}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {m: _imports(m, p, known) for m, p in known.items()}


def _owner(module: str) -> str | None:
    """The layer entry a module belongs to (``phi1.llm.base`` -> ``llm``); None for phi1."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _layer(name: str) -> int:
    for i, names in enumerate(LAYERS):
        if name in names:
            return i
    raise AssertionError(f"phi1.{name} is in no layer of tests/test_layers.py: add it")


def test_every_package_has_a_layer():
    for module in _graph():
        owner = _owner(module)
        if owner is not None:
            _layer(owner)


def test_imports_point_down():
    wrong = []
    for module, targets in _graph().items():
        src = _owner(module)
        for target in targets:
            dst = _owner(target)
            if src is None or dst is None or src == dst:
                continue
            up = _layer(dst) > _layer(src)
            sideways = _layer(dst) == _layer(src) and src in ISOLATED
            if up or sideways:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other (Tarjan's strongly connected components
    of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "modules that import each other in a circle:\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_the_cycle_finder_finds_long_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The walker finds an import inside a function and resolves ``from pkg import mod``."""
    pkg = tmp_path / "phi1" / "data"
    pkg.mkdir(parents=True)
    (tmp_path / "phi1" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "readers.py").write_text("")
    code = "def f():\n    from phi1.synth import names\n\nfrom . import readers\n"
    (pkg / "mod.py").write_text(code)
    known = {
        "phi1.data.mod": pkg / "mod.py",
        "phi1.data.readers": pkg / "readers.py",
        "phi1.synth.names": tmp_path / "x.py",
    }
    found = _imports("phi1.data.mod", pkg / "mod.py", known)
    assert found == {"phi1.synth.names", "phi1.data.readers"}
