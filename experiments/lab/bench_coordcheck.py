"""Benchmark: what a coordinate check costs next to the training steps it observes, and next to
mup's ``get_coord_data`` (Yang et al. 2021, TP-V App. D) on the same model, widths and seeds.

Four variants run interleaved in one process, ``repeats`` times: for each (seed, width) the four
run back to back, in an order that rotates so that no variant always follows another.  A bare
training steps (``steps`` optimizer steps, plus the one forward that evaluates the final weights),
B the same steps with abcparam's recorder, C recorder + alignment terms, D mup's coordinate-data
loop (its ``_get_coord_data`` with the same model builder and the same per-layer optimizer; it
records the states after 0..steps-1 updates, one fewer than B and C).  Each repeat gives the ratios B/A, C/A, D/A; the median and
interquartile range over repeats are reported (drift in machine load cancels within a repeat),
from the process's CPU time (one thread; steadier than wall time on a shared machine) and from
wall time, with the 1-minute load average after each repeat.  The fitting and engine predictions
of a full check (``compare``) are timed once and reported alongside.

Run: ``python experiments/bench_coordcheck_overhead.py [--quick]``; results under
``experiments/results/bench_coordcheck/``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

OUT = Path("experiments/results/bench_coordcheck")
VARIANTS = ("bare", "record", "align", "mup")


@dataclass
class Case:
    """One benchmarked model: ``make(width)`` -> parametrized model with ``.abc_spec``."""

    name: str
    widths: tuple[int, ...]
    seeds: int
    steps: int
    make: Callable
    layers: Callable  # model -> [(module name, kind)]
    batch: Callable  # seed -> (inputs, targets)
    lr: float = 1e-2
    mup_filter: Callable | None = None  # modules mup records (default: every module)


def _loss(out, target):
    logits = getattr(out, "logits", out)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


def _builtin(name: str, widths, seeds, steps) -> Case:
    import abcparam
    from abcparam.torch import GPT, MLP, discover_topology, parametrize

    rules = abcparam.rules("mup", optimizer="adam")
    base = min(widths)

    def make(width):
        model = MLP(width) if name == "mlp" else GPT(width, n_layers=2, n_heads=4, context=32)
        model.abc_spec = parametrize(model, rules, base_width=base)
        return model

    def batch(seed):
        g = torch.Generator().manual_seed(10_000 + seed)
        if name == "mlp":
            return torch.randn(64, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
        tokens = torch.randint(0, 65, (8, 33), generator=g)
        return tokens[:, :-1], tokens[:, 1:]

    # the recorded layers: the graph discovered once, outside the timed runs (as a check does)
    probe = make(base)
    chain = discover_topology(probe, batch(0)[0], probe.abc_spec).chain()
    return Case(name, tuple(widths), seeds, steps, make, lambda m: chain, batch)


def _hf_llama(widths, seeds, steps) -> Case:
    """A 2-block Llama built from config (no download), Adam with one LR for every tensor; the
    recorded layers are every linear and embedding module (cost does not depend on the rules)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from abcparam.coordcheck.record import recordable

    def make(width):
        config = LlamaConfig(
            hidden_size=width,
            intermediate_size=4 * width,
            num_hidden_layers=2,
            num_attention_heads=max(width // 64, 1),
            num_key_value_heads=max(width // 64, 1),
            vocab_size=512,
            max_position_embeddings=64,
            tie_word_embeddings=False,
        )
        model = _LogitsOnly(LlamaForCausalLM(config))
        model.abc_spec = None
        return model

    def layers(model):
        names = [n for n, m in model.named_modules() if recordable(m)]
        return [
            (n, "embedding" if "embed" in n else "readout" if n.endswith("lm_head") else "hidden")
            for n in names
        ]

    def batch(seed):
        g = torch.Generator().manual_seed(10_000 + seed)
        tokens = torch.randint(0, 512, (4, 17), generator=g)
        return tokens[:, :-1], tokens[:, 1:]

    # mup's hooks read tensor outputs: record every leaf module but the rotary table (a tuple)
    with torch.device("meta"):
        leaves = {
            n
            for n, m in make(min(widths)).named_modules()
            if n and not any(m.children()) and "rotary" not in n
        }
    return Case(
        "hf-llama",
        tuple(widths),
        seeds,
        steps,
        make,
        layers,
        batch,
        lr=1e-3,
        mup_filter=leaves.__contains__,
    )


class _LogitsOnly(torch.nn.Module):
    """A Hugging Face causal LM returning plain logits (what mup's loop expects)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).logits


def _optimizer(model, lr):
    from abcparam.torch import build_optimizer

    if model.abc_spec is None:
        return torch.optim.Adam(model.parameters(), lr=lr)
    return build_optimizer(model, model.abc_spec, lr=lr)


def _forward(model, inputs):
    out = model(inputs)
    return getattr(out, "logits", out)


def _clock() -> np.ndarray:
    """(wall seconds, this process's CPU seconds): on a shared machine the CPU time is the
    steadier measure of the work done (one thread, so it is the compute itself)."""
    return np.array([time.perf_counter(), time.process_time()])


def _timed(case: Case, seed: int, width: int, one_run) -> np.ndarray:
    """(wall, CPU) seconds of one (seed, width) run of ``case``: the clock runs from the model's
    build through ``one_run(model, optimizer, x, y, width, seed)``."""
    torch.manual_seed(seed)
    x, y = case.batch(seed)
    t0 = _clock()
    model = case.make(width)
    one_run(model, _optimizer(model, case.lr), x, y, width, seed)
    return _clock() - t0


def _bare(case: Case, seed: int, width: int) -> np.ndarray:
    def steps(model, opt, x, y, width, seed) -> None:
        for _ in range(case.steps):
            loss = _loss(_forward(model, x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():  # the final weights are observed once, as the check does
            _loss(_forward(model, x), y).item()

    return _timed(case, seed, width, steps)


def _recorded(case: Case, seed: int, width: int, alignment: bool) -> np.ndarray:
    from abcparam.coordcheck.record import Recorder
    from abcparam.coordcheck.train import train

    def steps(model, opt, x, y, width, seed) -> None:
        recorder = Recorder(model, case.layers(model), alignment, width=width, seed=seed)
        train(model, opt, _loss, [(x, y)] * case.steps, recorder, [], [])

    return _timed(case, seed, width, steps)


def _mup(case: Case, seed: int, width: int) -> np.ndarray:
    from mup.coord_check import _get_coord_data

    torch.manual_seed(seed)
    x, y = case.batch(seed)
    t0 = _clock()
    _get_coord_data(
        {width: lambda: case.make(width)},
        [(x, y.reshape(-1))],
        lambda model: _optimizer(model, case.lr),
        nsteps=case.steps,
        flatten_output=True,
        cuda=False,
        nseeds=1,
        show_progress=False,
        filter_module_by_name=case.mup_filter,
    )
    return _clock() - t0


def _compare_time(case: Case) -> float | None:
    """Seconds to fit and predict a full check's results (built-in models only)."""
    if case.name not in ("mlp", "gpt"):
        return None
    from abcparam.coordcheck import run_coord_check

    t0 = time.perf_counter()
    run_coord_check(
        model="mlp" if case.name == "mlp" else "transformer",
        widths=case.widths,
        steps=1,
        seeds=1,
        progress=False,
    )
    return time.perf_counter() - t0


def _quantiles(values: Sequence[float]) -> dict:
    q = (
        statistics.quantiles(values, n=4, method="inclusive")
        if len(values) > 1
        else [values[0]] * 3
    )
    return {"median": q[1], "q1": q[0], "q3": q[2], "iqr": q[2] - q[0]}


def bench(case: Case, repeats: int, progress: bool = True) -> dict:
    """Interleaved timings of the four variants; ratios to bare per repeat, then quantiles."""
    run = {
        "bare": lambda seed, width: _bare(case, seed, width),
        "record": lambda seed, width: _recorded(case, seed, width, False),
        "align": lambda seed, width: _recorded(case, seed, width, True),
        "mup": lambda seed, width: _mup(case, seed, width),
    }
    units = [(seed, width) for seed in range(case.seeds) for width in case.widths]
    for variant in VARIANTS:  # warm-up (allocator, kernels, imports)
        run[variant](*units[0])
    wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    load: list[float] = []  # the 1-minute load average after each repeat
    for r in range(repeats):
        total = {v: np.zeros(2) for v in VARIANTS}
        # the four variants of one (seed, width) run back to back, their order rotating: load
        # that drifts over seconds reaches all four alike
        for u, unit in enumerate(units):
            shift = (r + u) % 4
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                total[variant] += run[variant](*unit)
        for variant in VARIANTS:
            wall[variant].append(float(total[variant][0]))
            cpu[variant].append(float(total[variant][1]))
        load.append(os.getloadavg()[0])
        if progress:
            print(
                f"  {case.name} repeat {r + 1}/{repeats} (CPU s): "
                + ", ".join(f"{v} {cpu[v][-1]:.3f}" for v in VARIANTS),
                flush=True,
            )

    def ratios(times: dict[str, list[float]]) -> dict[str, list[float]]:
        out = {v: [t / b for t, b in zip(times[v], times["bare"])] for v in VARIANTS if v != "bare"}
        out["align_vs_mup"] = [a / m for a, m in zip(times["align"], times["mup"])]
        return out

    cpu_ratios, wall_ratios = ratios(cpu), ratios(wall)
    return {
        "model": case.name,
        "widths": list(case.widths),
        "seeds": case.seeds,
        "steps": case.steps,
        "repeats": repeats,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "load_average": load,
        "ratios": {k: _quantiles(v) for k, v in cpu_ratios.items()},
        "ratio_samples": cpu_ratios,
        "wall_ratios": {k: _quantiles(v) for k, v in wall_ratios.items()},
        "compare_s": _compare_time(case),
    }


def cases(quick: bool) -> list[Case]:
    if quick:
        return [_builtin("mlp", (32, 64), 1, 2), _builtin("gpt", (32, 64), 1, 2)]
    return [
        _builtin("mlp", (256, 512, 1024), 1, 5),
        _builtin("gpt", (128, 256, 512), 1, 5),
        _hf_llama((1024,), 1, 3),
    ]


def plot(results: list[dict], path: Path) -> Path:
    """Box plot of the per-repeat ratios to bare steps, one panel per model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3), squeeze=False)
    for ax, res in zip(axes[0], results):
        keys = ("record", "align", "mup")
        ax.boxplot([res["ratio_samples"][k] for k in keys], showfliers=True)
        ax.set_xticks(range(1, 4), ["record", "record\n+align", "mup\nget_coord_data"], fontsize=7)
        ax.axhline(1.0, color="k", lw=0.6)
        ax.axhline(1.05, color="g", ls=":", lw=0.8)
        ax.axhline(1.10, color="r", ls=":", lw=0.8)
        ax.set_title(f"{res['model']} widths {res['widths'][0]}..{res['widths'][-1]}", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("time / bare steps", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save(payload: dict, out: Path, command: str | None, started: float) -> Path:
    """results.json with provenance (abcparam.records when present, else the same fields)."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        from abcparam.records import save_json
    except ImportError:  # pragma: no cover - before the records module landed
        path = out / "results.json"
        path.write_text(json.dumps(payload, indent=1, allow_nan=False))
        return path
    return save_json(out / "results.json", payload, command=command, started=started)


def summary_lines(results: list[dict]) -> list[str]:
    lines = []
    for res in results:
        r = res["ratios"]
        parts = [
            f"{name} {r[key]['median']:.3f} (IQR {r[key]['q1']:.3f}-{r[key]['q3']:.3f})"
            for key, name in (("record", "record"), ("align", "+align"), ("mup", "mup"))
        ]
        load = res.get("load_average") or [float("nan")]
        lines.append(
            f"{res['model']}: x bare steps (CPU time): "
            + ", ".join(parts)
            + f"; load {min(load):.1f}-{max(load):.1f}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny widths (a test of the script)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default=None, help="comma list of mlp, gpt, hf-llama")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise ValueError(f"--repeats {args.repeats}: need at least 1")
    started = time.time()
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _main(args, started)
    finally:
        torch.set_num_threads(threads)


def _main(args: argparse.Namespace, started: float) -> int:
    chosen = cases(args.quick)
    if args.models:
        wanted = args.models.split(",")
        unknown = set(wanted) - {c.name for c in chosen}
        if unknown:
            raise ValueError(
                f"unknown models {sorted(unknown)}; accepted: {[c.name for c in chosen]}"
            )
        chosen = [c for c in chosen if c.name in wanted]
    out = Path(args.out)
    results: list[dict] = []
    for case in chosen:  # saved after each model, so a long run keeps what it measured
        results.append(bench(case, args.repeats))
        payload = {
            "config": {"repeats": args.repeats, "threads": args.threads, "quick": args.quick},
            "results": results,
        }
        path = save(payload, out, None, started)
    plot(results, out / "ratios.png")
    for line in summary_lines(results):
        print(line)
    print(f"wrote {path}")
    return 0 if all(math.isfinite(r["ratios"]["record"]["median"]) for r in results) else 1
