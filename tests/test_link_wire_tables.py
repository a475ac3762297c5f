"""Every number on the wire is pinned: the tables in hil.link.messages equal the tables in
docs/protocol.md (parsed from the page, not copied into this test), and cover every name hil
knows. Reordering an enum or a name list elsewhere in hil must not move a wire number. And
hil.link imports nothing from hil.emulator."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hil.board import Capability
from hil.chip.biasgen import PARAMETERS
from hil.chip.geometry import LATCHES, Dendrite
from hil.link import messages as m

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "protocol.md").read_text()


def doc_tables() -> dict[tuple[str, ...], list[list[str]]]:
    """Markdown tables of the page: lower-cased header -> rows of cells (several tables with the
    same header are concatenated)."""
    tables: dict[tuple[str, ...], list[list[str]]] = {}
    lines = DOC.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header = tuple(c.strip().lower() for c in lines[i].strip("|").split("|"))
            rows = tables.setdefault(header[:2], [])
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip().strip("`") for c in lines[i].strip("|").split("|")])
                i += 1
        else:
            i += 1
    return tables


TABLES = doc_tables()


def numbered(header: tuple[str, str], base: int = 10) -> dict[str, int]:
    return {row[1]: int(row[0], base) for row in TABLES[header]}


def test_message_types_match_the_doc() -> None:
    doc = numbered(("type", "name"), 16)
    assert doc == {t.name: int(t) for t in m.MsgType}


def test_error_codes_match_the_doc() -> None:
    assert numbered(("code", "name")) == {c.name: int(c) for c in m.ErrorCode}


def test_capability_bits_match_the_doc_and_cover_every_capability() -> None:
    assert numbered(("bit", "capability")) == m.CAPABILITY_BITS
    assert set(m.CAPABILITY_BITS) == {c.value for c in Capability}


def test_bias_ids_match_the_doc_and_cover_every_bias() -> None:
    assert numbered(("id", "parameter")) == m.PARAM_IDS
    assert set(m.PARAM_IDS) == set(PARAMETERS)
    assert sorted(m.PARAM_IDS.values()) == list(range(len(PARAMETERS)))


def test_latch_bits_match_the_doc_and_cover_every_latch() -> None:
    assert numbered(("bit", "latch")) == m.LATCH_BITS
    assert set(m.LATCH_BITS) == set(LATCHES)


def test_small_enums_match_the_doc() -> None:
    assert numbered(("code", "dendrite")) == {
        d.name.lower(): c for d, c in m.DENDRITE_CODES.items()
    }
    assert set(m.DENDRITE_CODES) == set(Dendrite)
    assert numbered(("state", "meaning")) == {
        "idle": m.BoardState.IDLE,
        "running": m.BoardState.RUNNING,
        "results of the last run held": m.BoardState.HELD,
    }
    assert numbered(("status", "meaning")) == {s.name.lower(): int(s) for s in m.RunStatus}
    assert numbered(("readout", "meaning")) == {r.name.lower(): int(r) for r in m.Readout}


def test_wire_numbers_do_not_follow_the_order_of_hil_enums() -> None:
    """The bits stay put although Capability lists `biases` third."""
    h = m.HelloInfo(1, 0, 1, frozenset({"biases", "gradients"}), 1024, 0, False, "b", "f", {})
    caps = int.from_bytes(h.pack()[6:8], "little")
    assert caps == (1 << 5) | (1 << 2)
    assert m.HelloInfo.unpack(h.pack()).capabilities == {"biases", "gradients"}


def test_hil_link_imports_nothing_from_hil_emulator() -> None:
    for path in (ROOT / "hil" / "link").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            bad = [n for n in names if re.match(r"hil\.emulator(\.|$)", n)]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
        assert "hil.emulator" not in re.sub(r'""".*?"""|#.*', "", path.read_text(), flags=re.S), (
            f"{path.relative_to(ROOT)} names hil.emulator in its code"
        )
