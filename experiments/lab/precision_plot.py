"""Figures for the low-precision results (read from the saved JSON; no training here)."""

from __future__ import annotations

from pathlib import Path

FLOOR = 1e-5  # fractions below this are drawn at the floor (log axes)
MAIN_ROLES = ("weight", "input", "output", "grad_output", "grad_input", "grad_weight")


def _clip(x):
    return max(x, FLOOR)


def predicted_vs_measured(rows: list[dict], path: str | Path | None = None):
    """Scatter of measured against predicted underflow fractions (every width and layer): left the
    Gaussian prediction from the base width's RMS, right the base width's measured shape."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
    colors = dict(zip(MAIN_ROLES, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    markers = {"mlp": "o", "transformer": "^"}
    keys = (
        ("underflow_predicted", "Gaussian, base-width RMS x n^e"),
        ("underflow_predicted_base_shape", "base-width shape x n^e"),
    )
    for ax, (key, title) in zip(axes, keys):
        for role in MAIN_ROLES:
            for model, marker in markers.items():
                pts = [
                    (_clip(r[key]), _clip(r["underflow_measured"]))
                    for r in rows
                    if r["role"] == role
                    and r["model"] == model
                    and r["underflow_measured"] is not None
                    and r.get(key) is not None
                ]
                if pts:
                    xs, ys = zip(*pts)
                    ax.scatter(
                        xs,
                        ys,
                        s=9,
                        alpha=0.5,
                        color=colors[role],
                        marker=marker,
                        label=f"{role} ({model})",
                    )
        ax.plot([FLOOR, 1], [FLOOR, 1], color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"predicted fraction rounded to 0 ({title})")
        ax.set_title(title)
    axes[0].set_ylabel("measured fraction rounded to 0")
    axes[1].legend(fontsize=6, ncol=2, loc="lower right")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def fraction_vs_width(
    rows: list[dict], model: str, phase: str = "init", path: str | Path | None = None
):
    """Per scheme: underflow of the hidden layers' tensors against width, measured (markers,
    mean over hidden layers) and predicted (lines)."""
    import matplotlib.pyplot as plt

    order = ("sp", "mup", "u-mup", "munit")
    found = {r["scheme"] for r in rows if r["model"] == model}
    schemes = [s for s in order if s in found] + sorted(found - set(order))
    fig, axes = plt.subplots(
        1, len(schemes), figsize=(3.4 * len(schemes), 3.4), sharey=True, squeeze=False
    )
    colors = dict(zip(MAIN_ROLES, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, scheme in zip(axes[0], schemes):
        for role in MAIN_ROLES:
            sel = [
                r
                for r in rows
                if r["model"] == model
                and r["scheme"] == scheme
                and r["phase"] == phase
                and r["kind"] == "hidden"
                and r["role"] == role
                and r["underflow_measured"] is not None
            ]
            widths = sorted({r["width"] for r in sel})
            if not widths:
                continue
            meas = [
                _clip(
                    sum(r["underflow_measured"] for r in sel if r["width"] == w)
                    / sum(1 for r in sel if r["width"] == w)
                )
                for w in widths
            ]
            pred = [
                _clip(
                    sum(r["underflow_predicted"] for r in sel if r["width"] == w)
                    / sum(1 for r in sel if r["width"] == w)
                )
                for w in widths
            ]
            ax.plot(widths, pred, color=colors[role], lw=1)
            ax.scatter(widths, meas, color=colors[role], s=14, label=f"{role} ({sel[0]['format']})")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{scheme}")
        ax.set_xlabel("width")
    axes[0][0].set_ylabel("fraction rounded to 0 (hidden layers)")
    axes[0][-1].legend(fontsize=6)
    fig.suptitle(f"{model}, {phase}: measured (dots) vs predicted (lines)", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def training_gap(runs: list[dict], path: str | Path | None = None):
    """Validation-loss gap to fp32 against width, one line per scheme, per variant."""
    import matplotlib.pyplot as plt

    variants = [v for v in ("fp8", "fp8-scaled", "bf16") if any(r["variant"] == v for r in runs)]
    fig, axes = plt.subplots(1, len(variants), figsize=(4.5 * len(variants), 3.4), squeeze=False)
    ref = {
        (r["scheme"], r["width"], r["seed"]): r["val_loss"] for r in runs if r["variant"] == "fp32"
    }
    for ax, variant in zip(axes[0], variants):
        for scheme in sorted({r["scheme"] for r in runs}):
            pts: dict = {}
            for r in runs:
                base = ref.get((r["scheme"], r["width"], r["seed"]))
                if (
                    r["variant"] == variant
                    and r["scheme"] == scheme
                    and r["val_loss"] is not None
                    and base is not None
                ):
                    pts.setdefault(r["width"], []).append(r["val_loss"] - base)
            if pts:
                ws = sorted(pts)
                ax.plot(ws, [sum(pts[w]) / len(pts[w]) for w in ws], marker="o", label=scheme)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width")
        ax.set_ylabel(f"val loss({variant}) - val loss(fp32)")
        ax.set_title(variant)
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
