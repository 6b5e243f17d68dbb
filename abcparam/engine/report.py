"""Cell-by-cell comparison of derived exponents with a published table (for the book)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sympy

from .exponents import fmt


def comparison_markdown(
    rows: Iterable[tuple[str, Sequence, Sequence]],
    columns: Sequence[str] = ("embedding", "hidden", "readout"),
) -> str:
    """Markdown table: one row per (label, published, derived); a cell shows "✓" when equal and
    "published → derived" when not."""
    head = "| case | " + " | ".join(columns) + " | agrees |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    for label, published, derived in rows:
        cells, agree = [], True
        for pub, der in zip(published, derived):
            same = sympy.simplify(sympy.sympify(pub) - sympy.sympify(der)) == 0
            agree &= same
            cells.append(f"{fmt(der)} ✓" if same else f"**{fmt(sympy.sympify(pub))} → {fmt(der)}**")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {'yes' if agree else 'NO'} |")
    return "\n".join(lines)
