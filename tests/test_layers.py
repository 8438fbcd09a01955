"""The layer map (docs/design.md) held by the code: every import of `app/` points down the
stack, packages form no cycle, and the target process loads only its own side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

APP = ROOT / "app"

# Bottom to top. A module imports only from a lower rank, or from its own component.
# The longest matching prefix names a module's component.
RANKS: dict[str, int] = {
    "app.errors": 0,
    "app.witness_protocol": 0,
    "app.fields": 0,
    "app.sandbox.engines": 0,
    "app.assets": 0,
    "app.weights": 0,
    "app.numbers": 0,
    "app.kernel": 1,
    "app.sandbox.settings": 1,
    "app.traffic.spec": 1,
    "app.timeline": 2,
    "app.sandbox.child": 2,
    "app.sandbox": 3,
    "app.traffic": 3,
    "app.limits": 3,
    "app.vocabulary": 3,
    "app.result": 4,
    "app.frames": 4,
    "app.experiment": 5,
    "app.scenarios": 5,
    "app.comparison": 5,
    "app.store": 6,
    "app.export": 6,
    "app.sweep": 6,
    "app.report": 7,
    "app.web": 8,
    "app.cli": 9,
}

CHILD = "app.sandbox.child"
# What runs inside the target and its helpers shares only the settings and the wire format
# with the control app: the target process must not load the timeline, the kernel witness
# or the control side of the sandbox.
CHILD_MAY_IMPORT = (
    "app.sandbox.child",
    "app.sandbox.settings",
    "app.sandbox.engines",
    "app.witness_protocol",
    "app.weights",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in APP.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """Every `app` module this module imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from app.x import y` may import the module app.x.y.
            found.update(f"{base}.{alias.name}" for alias in node.names)
            found.add(base)
    return {n for n in found if n == "app" or n.startswith("app.")}


def _component(name: str) -> str:
    matches = [prefix for prefix in RANKS if name == prefix or name.startswith(prefix + ".")]
    assert matches, f"{name} has no place in the layer map: add it to RANKS here and to docs/design.md"
    return max(matches, key=len)


def _graph() -> dict[str, set[str]]:
    """Module → the `app` modules it imports. An empty package `__init__` imports nothing
    and is passed through on the way to a module: not an edge."""
    modules = {name: path for name, path in _modules().items() if path.read_text().strip()}
    return {
        name: {imported for imported in _imports(name, path) if imported in modules and imported != name}
        for name, path in modules.items()
    }


def _upward(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for name, imported in graph.items():
        here = _component(name)
        for other in imported:
            there = _component(other)
            if there != here and RANKS[there] >= RANKS[here]:
                found.append(f"{name} ({here}, rank {RANKS[here]}) imports {other} ({there}, rank {RANKS[there]})")
    return sorted(found)


def _outside_child(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{name} imports {other}"
        for name, imported in graph.items()
        if name.startswith(CHILD)
        for other in imported
        if not other.startswith(CHILD_MAY_IMPORT)
    )


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_every_import_points_down_the_stack() -> None:
    upward = _upward(_graph())
    assert not upward, "imports up or across the stack:\n" + "\n".join(upward)


def test_the_child_side_of_the_sandbox_imports_only_settings_and_protocol() -> None:
    outside = _outside_child(_graph())
    assert not outside, "\n".join(outside)


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def _top(name: str) -> str:
    return ".".join(name.split(".")[:2])


def _packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between top-level packages and modules (app.sandbox, app.kernel, app.cli…)."""
    top = _top
    packages: dict[str, set[str]] = {}
    for name, imported in graph.items():
        packages.setdefault(top(name), set()).update(top(other) for other in imported if top(other) != top(name))
    return packages


def test_no_cycles_between_packages() -> None:
    cycles = _cycles(_packages(_graph()))
    assert not cycles, "package cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_the_checks_find_what_issue_9_found() -> None:
    """The imports this layout removed, put back in a copy of the graph, are caught."""
    graph = _graph()
    assert "app.kernel.sock_diag" in graph["app.kernel.sampler"], "the graph reads real imports"
    graph["app.kernel.sampler"].add("app.sandbox.netns")
    graph["app.sandbox.netns"].add("app.kernel.sampler")
    graph["app.sandbox.child.channel"].add("app.timeline.timeline")
    assert _upward(graph) == [
        "app.kernel.sampler (app.kernel, rank 1) imports app.sandbox.netns (app.sandbox, rank 3)",
        "app.sandbox.child.channel (app.sandbox.child, rank 2) imports app.timeline.timeline (app.timeline, rank 2)",
    ]
    assert _outside_child(graph) == ["app.sandbox.child.channel imports app.timeline.timeline"]
    # A cycle is found from whichever of its modules the walk meets first.
    assert {"app.kernel.sampler", "app.sandbox.netns"} in [set(c) for c in _cycles(graph)]
    assert {"app.kernel", "app.sandbox"} in [set(c) for c in _cycles(_packages(graph))]


def test_a_target_process_loads_only_its_own_side() -> None:
    """What the runner, the launcher and the netns holder bring into the target's processes,
    read from a real interpreter's sys.modules."""
    code = (
        "import sys\n"
        "import app.sandbox.child.launcher, app.sandbox.child.runner, app.sandbox.child.netns_holder\n"
        "import app.sandbox.child.workload, app.sandbox.child.witness\n"
        "import app.sandbox.child.engines.gunicorn, app.sandbox.child.engines.granian\n"
        "import app.sandbox.child.engines.hypercorn, app.sandbox.child.engines.uvicorn\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m == 'app' or m.startswith('app.'))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "app.sandbox.child.workload" in loaded
    outside = [m for m in loaded if m not in ("app", "app.sandbox") and not m.startswith(CHILD_MAY_IMPORT)]
    assert not outside, f"the target process loads {outside}"
