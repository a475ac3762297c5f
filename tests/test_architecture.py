"""Data flows one way (docs/architecture.md): a package imports only packages of its own layer or
below. Read from the source with ast, not from what happens to be imported at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import hil

# docs/architecture.md, bottom to top. Modules of one layer may import each other.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "artifacts", "progress", "argtypes", "numba_target"}),
    frozenset({"chip", "events"}),
    frozenset({"board", "__init__"}),  # hil/__init__ re-exports the Board protocol
    frozenset({"link"}),
    frozenset({"sim", "emulator"}),
    frozenset({"measure", "plot"}),
    frozenset({"experiments"}),
    frozenset({"mismatch"}),
    frozenset({"calibrate", "tasks"}),
    frozenset({"train", "quantize"}),
    frozenset({"deploy"}),
    frozenset({"compare"}),
    frozenset({"report"}),
    frozenset({"store"}),
    frozenset({"campaign", "nightly", "farm"}),
    frozenset({"bench", "validation", "cli", "pytest_plugin", "__main__"}),
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
# Siblings that must stay independent: the two backends share hil.chip.netlist, not each other.
SIBLINGS = {("sim", "emulator"), ("emulator", "sim")}


def unit(path: Path, root: Path) -> str:
    """The top-level package or module of hil a file belongs to."""
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported(tree: ast.AST) -> set[str]:
    """hil top-level units a module imports (module level and inside functions)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + (
                [f"hil.{a.name}" for a in node.names] if node.module == "hil" else []
            )
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "hil" and len(parts) > 1:
                out.add(parts[1])
    return out


def violations() -> set[tuple[str, str]]:
    root = Path(hil.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        src = unit(path, root)
        if src not in LAYER:
            raise AssertionError(f"{path}: unit {src!r} has no layer in docs/architecture.md")
        for dst in imported(ast.parse(path.read_text())):
            if dst in LAYER and (LAYER[dst] > LAYER[src] or (src, dst) in SIBLINGS):
                found.add((src, dst))
    return found


def test_no_package_imports_a_higher_one() -> None:
    assert violations() == set()


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    tree = ast.parse("from hil.measure import record\nimport hil.sim.board\nfrom hil import events")
    assert imported(tree) == {"measure", "sim", "events"}
