"""The layers of the package (docs/architecture.md): arrows only downward, no import cycles, a headless engine.

    cli  ->  ui | console  ->  runs  ->  engine  ->  config

Imports are read from the source (every ``import`` and ``from ... import``, also those inside functions),
so a deferred import cannot hide an arrow that points the wrong way.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mnist_tui

PACKAGE = Path(mnist_tui.__file__).parent

# The layer of each top-level part; a module may import its own part and the parts of lower layers.
LAYERS = {"config": 0, "engine": 1, "runs": 2, "console": 3, "ui": 3, "cli": 4, "__main__": 5}
UI_LIBRARIES = ("textual", "textual_plotext", "plotext", "rich")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(importer: str, node: ast.ImportFrom) -> list[str]:
    """The mnist_tui modules a ``from ... import`` names (a name that is a submodule counts as that module)."""
    if node.level:
        package = importer.split(".") if MODULES[importer].name == "__init__.py" else importer.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    names = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    return names or [base]


def imports_of(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(resolve(name, node))
    return {m for m in found if m == "mnist_tui" or m.startswith("mnist_tui.")}


GRAPH = {name: {m for m in imports_of(name) if m in MODULES} for name in MODULES}


def part(name: str) -> str:
    """``mnist_tui.engine.data.idx`` -> ``engine``; the package itself and config.py are ``config``."""
    parts = name.split(".")
    return "config" if len(parts) == 1 or parts[1] == "config" else parts[1]


def test_every_module_belongs_to_a_layer():
    assert {part(name) for name in MODULES} <= set(LAYERS), sorted({part(n) for n in MODULES} - set(LAYERS))


def test_imports_point_only_downward():
    wrong = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if part(target) != part(name) and LAYERS[part(target)] >= LAYERS[part(name)]
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    """Tarjan's strongly connected components over every import between mnist_tui modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in GRAPH[v]:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_reader_sees_deferred_and_relative_imports():
    """The checks above see every arrow: top-level, deferred inside a function, and ``from . import name``."""
    assert "mnist_tui.runs.rundir" in GRAPH["mnist_tui.runs.start"]  # a top-level import
    assert "mnist_tui.engine.trainer" in GRAPH["mnist_tui.runs.start"]  # one inside a function
    assert "mnist_tui.engine.data" in GRAPH["mnist_tui.engine.analysis"]  # ``from . import data``


def test_the_engine_loads_no_ui_and_no_upper_layer():
    """Every engine module, imported in a fresh interpreter, loads no UI library and nothing above the engine."""
    engine = sorted(name for name in MODULES if part(name) == "engine")
    code = (
        "import importlib, sys\n"
        f"for name in {engine!r}: importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {UI_LIBRARIES!r} or "
        "m.split('.')[:2] in (['mnist_tui', 'ui'], ['mnist_tui', 'console'], ['mnist_tui', 'runs'], "
        "['mnist_tui', 'cli']))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(engine) > 15


def test_the_runs_layer_and_the_command_line_load_without_torch():
    """Listing runs, attaching and parsing arguments start at once: torch loads only once training starts."""
    code = (
        "import sys\n"
        "import mnist_tui.cli, mnist_tui.cli.train, mnist_tui.cli.runs, mnist_tui.cli.attach\n"
        "import mnist_tui.runs.catalogue, mnist_tui.runs.client, mnist_tui.runs.start, mnist_tui.console.tables\n"
        "sys.exit(1 if 'torch' in sys.modules else 0)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
