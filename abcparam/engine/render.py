"""How a derived :class:`~abcparam.engine.rules_table.Rules` reads: title, regime sentence, JSON,
markdown and LaTeX tables (the methods of ``Rules`` call these; nothing here derives)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sympy

from .exponents import READOUT, fmt
from .minmax import sign_on_box
from .rules_types import LayerRule, RulesData

#: The exponents of a depth table, each cell "width, depth".
_DEPTH_COLUMNS = ("a", "b", "c", "eps", "wd", "r")


def regime(layers: Mapping[str, LayerRule], syms) -> str:
    """One sentence on which layers learn features, from the signs of their r on the box."""
    signs = {kind: sign_on_box(rule.r, syms) for kind, rule in layers.items()}
    if any(v == -1 for v in signs.values()):
        bad = ", ".join(f"{k} (r = {fmt(layers[k].r)})" for k, v in signs.items() if v == -1)
        return f"unstable: features blow up in {bad}"
    if all(v == 0 for v in signs.values()):
        return "feature learning in every layer (all r = 0)"
    if any(v is None for v in signs.values()):
        return "depends on the alignment: r = " + ", ".join(
            f"{k}: {fmt(layers[k].r)}" for k in layers
        )
    if signs[READOUT] == 1:
        bound = " > 0" if not layers[READOUT].r.free_symbols else ", positive unless it vanishes"
        return f"trivial logits (r_readout = {fmt(layers[READOUT].r)}{bound})"
    kernel = [f"{k} (r = {fmt(layers[k].r)})" for k, v in signs.items() if v == 1]
    return "kernel-like layers: " + ", ".join(kernel)


def title(rules: RulesData) -> str:
    """The table's heading: scheme, optimizer, alignment and what else it was derived under."""
    name = rules.scheme or "custom (a, b)"
    depth = ""
    if rules.depth_alpha is not None and rules.depth_alignment is not None:
        depth = (
            f" · depth: branch L^-{fmt(rules.depth_alpha)}, "
            f"{rules.depth_alignment.describe()} blocks"
        )
    return (
        f"{name} · {rules.optimizer} · alignment {rules.alignment.describe()}"
        + (f" · {rules.update_view} view" if rules.has_spectral_update else "")
        + ("" if rules.lr_mode == "per-layer" else f" · LR {rules.lr_mode}")
        + depth
    )


def _depth_dict(rules: RulesData) -> dict[str, Any]:
    """The depth part of :func:`to_dict` (empty without depth rules)."""
    if rules.depth_alpha is None or rules.depth_alignment is None:
        return {}
    depth = {
        "alpha": fmt(rules.depth_alpha),
        "branch_multiplier": str(rules.branch_multiplier),
        "alignment": rules.depth_alignment.name,
        "beta": fmt(rules.depth_alignment.beta),
        "regime": rules.depth_regime,
        "why_alpha": rules.depth_why,
        "outside_blocks": {
            k: None if v is None else fmt(v) for k, v in rules.outside_depth.items()
        },
        "constraints": [
            {"name": c.name, "condition": str(c.condition), "why": c.why}
            for c in rules.depth_constraints
        ],
    }
    return {"depth": depth}


def to_dict(rules: RulesData) -> dict[str, Any]:
    """JSON-ready: every exponent as a string such as "1/2"."""
    return {
        "scheme": rules.scheme,
        "optimizer": rules.optimizer,
        "alignment": rules.alignment.to_dict(),
        "lr_mode": rules.lr_mode,
        "weight_decay": rules.weight_decay,
        "update_view": rules.update_view,
        "hidden_layers": rules.hidden_layers,
        "regime": rules.regime,
        "attention_logit_exponent": fmt(rules.attention_logit_exponent),
        "conventions": list(rules.conventions),
        "notes": list(rules.notes),
        "layers": {kind: rule.to_dict() for kind, rule in rules.layers.items()},
        **_depth_dict(rules),
    }


def _per_kind(rules: RulesData) -> bool:
    return len(set(rules.optimizers.values())) > 1


def markdown(rules: RulesData, why: bool = False) -> str:
    """The width table (or :func:`depth_markdown` for depth rules), with the reasons for c and
    wd when ``why``."""
    if rules.has_depth:
        return depth_markdown(rules, why)
    per_kind = _per_kind(rules)
    head = (
        "| layer |"
        + (" optimizer |" if per_kind else "")
        + " a | b | c | eps | wd | r |"
        + (" why c | why wd |" if why else "")
    )
    rule_line = "|---|" + ("---|" if per_kind else "") + "---|" * 6 + ("---|---|" if why else "")
    rows = [f"**{title(rules)}**", "", head, rule_line]
    for kind, rule in rules.layers.items():
        row = (
            f"| {kind} |"
            + (f" {rule.optimizer} |" if per_kind else "")
            + f" {fmt(rule.a)} | {fmt(rule.b)} | {fmt(rule.c)} | {fmt(rule.eps)} "
            f"| {fmt(rule.wd)} | {fmt(rule.r)} |"
        )
        rows.append(row + (f" {rule.why['c']} | {rule.why['wd']} |" if why else ""))
    rows += [
        "",
        f"Attention logits: q·k · d_head^-({fmt(rules.attention_logit_exponent)}). "
        f"Regime: {rules.regime}. Weight decay lambda ~ n^-wd ({rules.weight_decay} convention).",
    ]
    rows += [f"Note: {note}" for note in rules.notes]
    return "\n".join(rows)


def depth_markdown(rules: RulesData, why: bool) -> str:
    """Both exponents per layer: each cell "width | depth" (factor n^-w L^-d)."""
    head = "| layer | " + " | ".join(f"{x} (n, L)" for x in _DEPTH_COLUMNS) + " |"
    head += " why c_L |" if why else ""
    rule_line = "|---|" + "---|" * len(_DEPTH_COLUMNS) + ("---|" if why else "")
    rows = [f"**{title(rules)}**", "", head, rule_line]
    for kind, rule in rules.layers.items():
        cells = []
        for x in _DEPTH_COLUMNS:
            width = getattr(rule, x, None)
            w = "·" if x == "wd" and width is None else fmt(width)
            cells.append(f"{w}, {fmt(rule.depth.get(x))}")
        row = f"| {kind} | " + " | ".join(cells) + " |"
        rows.append(row + (f" {rule.why['c_L']} |" if why else ""))
    outside = ", ".join(f"{k}_L = {fmt(v)}" for k, v in rules.outside_depth.items())
    rows += [
        "",
        f"Each cell: width exponent, depth exponent (factor n^-w · L^-d). Residual branch "
        f"multiplier {rules.branch_multiplier} (alpha: {rules.depth_why}). Parameters "
        f"outside the blocks (embedding, readout, final norm): {outside}.",
        f"Attention logits: q·k · d_head^-({fmt(rules.attention_logit_exponent)}). "
        f"Regime: {rules.regime}; {rules.depth_regime}.",
    ]
    return "\n".join(rows)


def latex(rules: RulesData) -> str:
    """A LaTeX tabular of the width exponents (an optimizer column when kinds differ)."""
    per_kind = _per_kind(rules)
    lines = [
        r"\begin{tabular}{l" + ("l" if per_kind else "") + "cccccc}",
        r"\hline",
        "layer & "
        + ("optimizer & " if per_kind else "")
        + r"$a$ & $b$ & $c$ & $\epsilon$ & $\lambda$ & $r$ \\",
        r"\hline",
    ]
    for kind, rule in rules.layers.items():
        cells = [
            f"${sympy.latex(v)}$" if v is not None else "--"
            for v in (rule.a, rule.b, rule.c, rule.eps, rule.wd, rule.r)
        ]
        if per_kind:
            cells.insert(0, rule.optimizer)
        lines.append(f"{kind} & " + " & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines)
