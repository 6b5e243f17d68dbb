"""Alignment on real data: do alpha, omega, u relax to 1/2 when the targets mean something?

Everett et al. 2024 derive SP's per-layer learning rates under omega = 1/2 at the readout (the
initial readout weights independent of the change of the features they read).  This experiment
measures alpha, omega and u per layer over training (log-spaced steps) on tasks with real targets
- the MLP on sklearn's digits and the character-level GPT on CPython's pydoc text - with two
controls: the same inputs with shuffled targets, and Gaussian (MLP) / uniformly random (GPT)
inputs with random targets.  Training draws a fresh minibatch every step; the alignment ratios
are measured on a fixed probe batch (held-out data) by :class:`abcparam.coordcheck.record.Recorder`,
and each exponent is the slope of log(ratio) against log(fan-in) over widths, one fit per seed.

Run: ``python -m experiments.lab.alignment_real --out experiments/results/alignment_real``
(``--quick`` for a seconds-long smoke version).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

#: the controls beside real targets
CONDITIONS = ("true", "shuffled", "gaussian")
TASKS = ("mlp", "gpt")
ALIGN_KEYS = {"alpha": "align_alpha", "omega": "align_omega", "u": "align_u"}


@dataclass(frozen=True)
class RunSpec:
    """One alignment-over-training configuration (every width and seed of it)."""

    task: str  # "mlp" (digits) or "gpt" (pydoc text)
    scheme: str
    optimizer: str
    condition: str
    widths: tuple[int, ...]
    seeds: int
    steps: int
    log2_lr: float
    batch: int = 64
    measure_at: tuple[int, ...] = field(default=())

    def label(self) -> str:
        return f"{self.task}/{self.scheme}/{self.optimizer}/{self.condition}"


def log_steps(last: int) -> tuple[int, ...]:
    """1, 2, 3, 5, 10, 20, 50, ... up to ``last`` (inclusive), roughly log-spaced."""
    out, decade = [], 1
    while decade <= last:
        out += [m * decade for m in (1, 2, 3, 5) if m * decade <= last]
        decade *= 10
    if out[-1] != last:
        out.append(last)
    return tuple(sorted(set(out)))


class _Stream:
    """Training minibatches and a fixed probe batch for one task and condition (seeded)."""

    def __init__(self, task: str, condition: str, batch: int, seed: int) -> None:
        import torch

        from abcparam.transfer import data

        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}; accepted: {', '.join(CONDITIONS)}")
        self.task, self.condition, self.batch = task, condition, batch
        self.g = torch.Generator().manual_seed(20_000 + seed)
        if task == "mlp":
            split = data.digits()
            self.x, self.y = split.x_train, split.y_train
            if condition == "shuffled":  # one fixed permutation: inputs keep, targets lose, meaning
                self.y = self.y[torch.randperm(len(self.y), generator=self.g)]
            self.probe = split.x_val[:batch]
            if condition == "gaussian":
                self.probe = torch.randn(batch, self.x.shape[1], generator=self.g)
            self.classes = 10
        else:
            train_ids, val_ids, vocab = data.pydoc_text()
            self.ids, self.vocab = train_ids, len(vocab)
            self.context = 32
            self.probe = data.lm_batch(val_ids, max(batch // 8, 1), self.context, self.g)[0]
            if condition == "gaussian":
                self.probe = torch.randint(0, self.vocab, self.probe.shape, generator=self.g)

    def next(self):
        import torch

        from abcparam.transfer import data

        if self.task == "mlp":
            if self.condition == "gaussian":
                x = torch.randn(self.batch, self.x.shape[1], generator=self.g)
                return x, torch.randint(0, self.classes, (self.batch,), generator=self.g)
            idx = torch.randint(0, len(self.x), (self.batch,), generator=self.g)
            return self.x[idx], self.y[idx]
        rows = max(self.batch // 8, 1)
        if self.condition == "gaussian":
            x = torch.randint(0, self.vocab, (rows, self.context), generator=self.g)
            return x, torch.randint(0, self.vocab, (rows, self.context), generator=self.g)
        x, y = data.lm_batch(self.ids, rows, self.context, self.g)
        if self.condition == "shuffled":  # targets permuted across the batch: marginal kept
            flat = y.reshape(-1)
            y = flat[torch.randperm(flat.numel(), generator=self.g)].reshape(y.shape)
        return x, y


def _model(task: str, width: int, vocab: int | None):
    from abcparam.torch import GPT, MLP

    if task == "mlp":
        return MLP(width, depth=2, in_dim=64, out_dim=10)
    return GPT(width, n_layers=2, n_heads=4, vocab=vocab, context=32)


def train_and_record(spec: RunSpec, width: int, seed: int) -> list[dict]:
    """Train one model on a fresh minibatch per step; records at ``spec.measure_at``."""
    import torch
    import torch.nn.functional as F

    import abcparam
    from abcparam.coordcheck.record import Recorder
    from abcparam.torch import build_optimizer, discover_topology, parametrize

    torch.manual_seed(seed)
    stream = _Stream(spec.task, spec.condition, spec.batch, seed)
    model = _model(spec.task, width, getattr(stream, "vocab", None))
    rules = abcparam.rules(spec.scheme, optimizer=spec.optimizer)
    param_spec = parametrize(model, rules, base_width=min(spec.widths), seed=seed)
    opt = build_optimizer(model, param_spec, lr=2.0**spec.log2_lr)
    graph = discover_topology(model, stream.probe, param_spec)  # the layers, from one pass
    recorder = Recorder(model, graph.chain(), alignment=True, width=width, seed=seed)
    recorder.start(stream.probe)
    measure_at = set(spec.measure_at)
    out: list[dict] = []
    for step in range(1, spec.steps + 1):
        x, y = stream.next()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        if not torch.isfinite(loss):
            out.append(
                {"width": width, "seed": seed, "step": step, "layer": "loss", "nonfinite": True}
            )
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step in measure_at:
            for rec in recorder.measure(stream.probe, step=step):
                out.append({"width": width, "seed": seed, "step": step, "loss": loss.item(), **rec})
    return out


def alignment_exponents(records: Sequence[dict]) -> list[dict]:
    """Per (layer, variable, step): the exponent per seed (slope of log ratio on log fan-in over
    widths, scipy linregress) and its mean and sample standard deviation across seeds."""
    from scipy import stats

    grouped: dict[tuple, dict[int, list[tuple[float, float]]]] = {}
    for rec in records:
        if "fan_in" not in rec:
            continue
        for var, key in ALIGN_KEYS.items():
            value = rec.get(key)
            if value is None or not math.isfinite(value) or value <= 0:
                continue
            cell = grouped.setdefault((rec["layer"], var, rec["step"]), {})
            cell.setdefault(rec["seed"], []).append((rec["fan_in"], value))
    out = []
    for (layer, var, step), by_seed in sorted(grouped.items()):
        per_seed = []
        for pts in by_seed.values():
            if len({x for x, _ in pts}) >= 2:
                fit = stats.linregress(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]))
                per_seed.append(float(fit.slope))
        if not per_seed:
            continue
        out.append(
            {
                "layer": layer,
                "variable": var,
                "step": step,
                "per_seed": per_seed,
                "mean": float(np.mean(per_seed)),
                "std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else None,
            }
        )
    return out


def run_spec(spec: RunSpec, progress: bool = True) -> dict:
    """Every width and seed of one configuration: records and alignment exponents."""
    from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

    records: list[dict] = []
    runs = [(w, s) for w in spec.widths for s in range(spec.seeds)]
    for width, seed in tqdm(runs, desc=spec.label(), disable=not progress, leave=False):
        records += train_and_record(spec, width, seed)
    losses = {}
    for rec in records:
        if rec.get("layer") != "loss" and "loss" in rec:
            losses.setdefault((rec["width"], rec["step"]), []).append(rec["loss"])
    return {
        "spec": asdict(spec),
        "alignment": alignment_exponents(records),
        "train_loss": [
            {"width": w, "step": s, "mean": float(np.mean(v))}
            for (w, s), v in sorted(losses.items())
        ],
        "nonfinite": [r for r in records if r.get("nonfinite")],
    }


def default_specs(quick: bool = False) -> list[RunSpec]:
    """The grid, sized for a 2-core CPU: MLP on digits (widths 128-512, 3 seeds, 1000 steps) with
    Adam for SP/muP/u-muP x 3 target conditions and SGD for SP/muP on true targets; GPT on the
    pydoc text (widths 64-256, 2 seeds, 300 steps) with Adam for SP/muP x 3 conditions and u-muP on
    true targets.  Ordered by priority and saved after each configuration."""
    if quick:
        mlp = dict(widths=(64, 128), seeds=2, steps=10, measure_at=(1, 10))
        gpt = dict(widths=(32, 64), seeds=2, steps=4, measure_at=(1, 4))
        return [
            RunSpec("mlp", "sp", "adam", c, log2_lr=-7.0, **mlp) for c in ("true", "gaussian")
        ] + [RunSpec("gpt", "sp", "adam", "true", log2_lr=-7.0, **gpt)]
    mlp = dict(widths=(128, 256, 512), seeds=3, steps=1000, measure_at=log_steps(1000))
    gpt = dict(widths=(64, 128, 256), seeds=2, steps=300, measure_at=log_steps(300))
    specs = [
        RunSpec("mlp", s, "adam", c, log2_lr=-7.0, **mlp)
        for c in CONDITIONS
        for s in ("sp", "mup", "u-mup")
    ]
    specs += [RunSpec("mlp", s, "sgd", "true", log2_lr=-3.0, **mlp) for s in ("sp", "mup")]
    specs += [
        RunSpec("gpt", s, "adam", c, log2_lr=-7.0, **gpt) for c in CONDITIONS for s in ("sp", "mup")
    ]
    specs.append(RunSpec("gpt", "u-mup", "adam", "true", log2_lr=-7.0, **gpt))
    return specs


def save(results: list[dict], out: Path, command: str, started: float) -> Path:
    """results.json (strict JSON with provenance) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        from abcparam.records import save_json
    except ImportError:  # pragma: no cover - before the records module exists
        path = out / "results.json"
        path.write_text(
            json.dumps({"runs": results, "command": command}, indent=1, allow_nan=False)
        )
        return path
    return save_json(out / "results.json", {"runs": results}, command=command, started=started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=None, help="default experiments/results/alignment_real/<task or all>"
    )
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke version")
    parser.add_argument("--task", choices=TASKS, default=None, help="only this task")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    started = time.time()
    specs = [s for s in default_specs(args.quick) if args.task in (None, s.task)]
    out = Path(args.out or f"experiments/results/alignment_real/{args.task or 'all'}")
    results: list[dict] = []
    from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

    for spec in tqdm(specs, desc="alignment on real data"):
        results.append(run_spec(spec, progress=False))
        save(
            results,
            out,
            "python -m experiments.lab.alignment_real "
            + " ".join(argv if argv is not None else []),
            started,
        )  # incremental: nothing lost
    return 0


def omega_table(
    results: Sequence[dict],
    layer: str = "readout",
    var: str = "omega",
    steps: Iterator[int] | Sequence[int] = (1, 10, 100, 1000),
) -> str:
    """Markdown: the measured exponent (mean ± sd over seeds) at a few steps, per configuration."""
    steps = list(steps)
    lines = [
        "| task | scheme | optimizer | targets | " + " | ".join(f"step {s}" for s in steps) + " |",
        "|" + "---|" * (4 + len(steps)),
    ]
    for run in results:
        spec = run["spec"]
        got = {
            a["step"]: a for a in run["alignment"] if a["layer"] == layer and a["variable"] == var
        }
        cells = []
        for s in steps:
            a = got.get(s)
            if a is None:
                cells.append("—")
            else:
                sd = f" ± {a['std']:.2f}" if a["std"] is not None else ""
                cells.append(f"{a['mean']:.2f}{sd}")
        lines.append(
            f"| {spec['task']} | {spec['scheme']} | {spec['optimizer']} | "
            f"{spec['condition']} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


def plot_alignment(
    results: Sequence[dict],
    path: Path | None = None,
    layer: str = "readout",
    variables: Sequence[str] = ("omega", "alpha"),
):
    """One panel per (scheme, optimizer) and variable: the exponent against step (log axis), one
    line per condition, error bars = sd over seeds; dashed lines at 1/2 and 1."""
    from matplotlib.figure import Figure

    panels = list(dict.fromkeys((r["spec"]["scheme"], r["spec"]["optimizer"]) for r in results))
    cols = min(len(panels), 3)
    rows = len(variables) * math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    colors = {"true": "tab:blue", "shuffled": "tab:orange", "gaussian": "tab:grey"}
    for v_i, var in enumerate(variables):
        for p_i, (scheme, optimizer) in enumerate(panels):
            ax = axes[v_i * math.ceil(len(panels) / cols) + p_i // cols][p_i % cols]
            for run in results:
                spec = run["spec"]
                if (spec["scheme"], spec["optimizer"]) != (scheme, optimizer):
                    continue
                pts = sorted(
                    (a["step"], a["mean"], a["std"] or 0.0)
                    for a in run["alignment"]
                    if a["layer"] == layer and a["variable"] == var
                )
                if pts:
                    s, m, e = zip(*pts)
                    ax.errorbar(
                        s,
                        m,
                        yerr=e,
                        marker="o",
                        ms=3,
                        lw=1,
                        capsize=2,
                        color=colors[spec["condition"]],
                        label=f"{spec['condition']} targets"
                        if spec["condition"] != "gaussian"
                        else "random inputs + targets",
                    )
            for level in (0.5, 1.0):
                ax.axhline(level, color="black", lw=0.5, ls="--")
            ax.set(
                xscale="log",
                ylim=(0.2, 1.3),
                xlabel="training step",
                ylabel=f"{layer} {var} (slope vs log fan-in)",
                title=f"{scheme}, {optimizer}: {layer} {var}",
            )
            ax.legend(fontsize=7)
    for ax in axes.flat:
        if not ax.has_data():  # a grid cell no (scheme, optimizer) panel fills
            ax.set_axis_off()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
    return fig


def phase_alignment(run: dict, steps: Sequence[int]) -> dict[str, dict[str, float]]:
    """Mean measured (alpha, omega, u) per layer kind over ``steps`` (hidden layers pooled)."""
    acc: dict[str, dict[str, list[float]]] = {}
    for a in run["alignment"]:
        if a["step"] not in steps:
            continue
        kind = "readout" if a["layer"] == "readout" else "hidden"
        acc.setdefault(kind, {}).setdefault(a["variable"], []).append(a["mean"])
    return {
        kind: {var: float(np.mean(v)) for var, v in by_var.items()} for kind, by_var in acc.items()
    }


def implied_rules(run: dict, steps: Sequence[int], grid: int = 20):
    """The engine's rules under the alignment measured over ``steps`` (each exponent clipped to
    [1/2, 1] and rounded to 1/``grid``, since the engine takes exact rationals in that range)."""
    import sympy

    import abcparam

    measured = phase_alignment(run, steps)
    mapping: dict[str, dict[str, sympy.Rational]] = {}
    for kind, by_var in measured.items():
        for var, value in by_var.items():
            clipped = min(max(value, 0.5), 1.0)
            mapping.setdefault(var, {})[kind] = sympy.Rational(round(clipped * grid), grid)
    spec = run["spec"]
    return abcparam.rules(spec["scheme"], optimizer=spec["optimizer"], alignment=mapping), measured


def consequences(results: Sequence[dict], phases: dict[str, Sequence[int]]) -> list[dict]:
    """Per run and phase: the preset c and the c implied by the measured alignment, per kind."""
    import abcparam
    from abcparam.engine.exponents import fmt

    rows = []
    for run in results:
        spec = run["spec"]
        preset = abcparam.rules(spec["scheme"], optimizer=spec["optimizer"])
        for phase, steps in phases.items():
            implied, measured = implied_rules(run, steps)
            rows.append(
                {
                    "task": spec["task"],
                    "scheme": spec["scheme"],
                    "optimizer": spec["optimizer"],
                    "condition": spec["condition"],
                    "phase": phase,
                    "measured": measured,
                    "c_preset": {k: fmt(preset[k].c) for k in ("embedding", "hidden", "readout")},
                    "c_implied": {k: fmt(implied[k].c) for k in ("embedding", "hidden", "readout")},
                    "change": {
                        k: float(implied[k].c - preset[k].c)
                        for k in ("embedding", "hidden", "readout")
                    },
                    "regime": implied.regime,
                }
            )
    return rows
