"""LoRA on real text: the coordinate check in width and rank, and LR transfer across rank and width.

The character-level GPT is pre-trained on the pydoc text (muP, Adam), then fine-tuned with
adapters on every hidden matrix (attention q/k/v/o, MLP) on a different text: the docstrings of
a fixed list of standard-library modules, mapped onto the pydoc vocabulary.  Two parts:

* ``check``: adapters on a pre-trained model, 50 fresh-batch Adam steps, widths 64-256 at rank 4
  and ranks 1-16 at width 128 (3 seeds): the adapter's output against width and rank, and the
  measured rank alignment (engine/lora.py's prediction at that alignment);
* ``sweep``: the final validation loss over an LR grid for each method (LoRA alpha/r, rsLoRA,
  the derived rule with eta_A ~ 1/n, LoRA-Muon) at ranks 1-32 (width 128) and widths 64-256
  (rank 8), and dense fine-tuning (Adam and Muon) as the reference; the optimum per size, its
  drift per doubling and the transfer regret come from the saved runs.

Run: ``python experiments/lora_transfer.py [--part check|sweep|all] [--quick]``; results in
experiments/results/lora_transfer/ (check.json, runs.jsonl, config.json, summary.json, figure).
"""

from __future__ import annotations

import argparse
import copy
import importlib
import inspect
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from abcparam.coordcheck.lora import lora_check
from abcparam.engine.lora import lora_rules
from abcparam.records import provenance, save_json
from abcparam.torch import build_model, build_optimizer, parametrize
from abcparam.torch.lora import add_lora, lora_param_groups
from abcparam.torch.optim import make_single
from abcparam.transfer.data import lm_batch, pydoc_text

from . import reproducible

RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results"
TARGET = r"blocks\.\d+\.(attn\.[qkvo]|mlp\.fc[12])"
#: standard-library modules whose docstrings form the fine-tuning text (fixed order)
MODULES = (
    "argparse",
    "collections",
    "csv",
    "dataclasses",
    "decimal",
    "email.message",
    "fractions",
    "functools",
    "heapq",
    "itertools",
    "json",
    "logging",
    "pathlib",
    "re",
    "shutil",
    "statistics",
    "string",
    "textwrap",
    "typing",
    "unittest",
)
#: the fine-tuning methods: engine rules, optimizer, whether A's LR follows the width rule
METHODS: dict[str, dict[str, Any]] = {
    "lora": {"optimizer": "adam", "rank_alignment": 1, "width_rule": False},
    "rslora": {"optimizer": "adam", "rank_alignment": "1/2", "width_rule": False},
    "derived": {"optimizer": "adam", "rank_alignment": 1, "width_rule": True},
    "lora-muon": {"optimizer": "muon", "rank_alignment": 1, "width_rule": True},
}
#: Muon's steps are orthogonalised (RMS well below Adam's sign-like steps): its LR grid sits
#: this many log2 units higher
GRID_OFFSET = {"lora-muon": 3, "dense-muon": 3}
FULL = dict(
    context=64,
    batch=16,
    pretrain_steps=400,
    pretrain_lr=3e-3,
    steps=60,
    seeds=2,
    widths=(32, 64, 128, 256),
    ranks=(1, 2, 4, 8, 16, 32),
    rank_width=64,
    width_rank=4,
    log2_lrs=(-14, -12, -10, -8, -6, -4),
    alpha=8.0,
    check_steps=50,
    check_seeds=3,
    check_widths=(64, 128, 256),
    check_ranks=(1, 2, 4, 8, 16),
)
QUICK = dict(
    FULL,
    pretrain_steps=5,
    steps=3,
    seeds=1,
    widths=(32, 64, 128),
    ranks=(1, 2, 4),
    rank_width=32,
    width_rank=2,
    log2_lrs=(-9, -7, -5),
    check_steps=2,
    check_seeds=1,
    check_widths=(32, 64, 128),
    check_ranks=(1, 2, 4),
)


def finetune_text() -> str:
    """The docstrings of MODULES and of their public classes and functions, in a fixed order."""
    parts = []
    for name in MODULES:
        module = importlib.import_module(name)
        parts.append(inspect.getdoc(module) or "")
        for attr in sorted(getattr(module, "__all__", None) or dir(module)):
            obj = getattr(module, attr, None)
            if not attr.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj)):
                parts.append(inspect.getdoc(obj) or "")
    return "\n\n".join(p for p in parts if p)


def finetune_ids(vocab: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) ids of the fine-tuning text in the pre-training vocabulary (unknown
    characters dropped); the last 10 % held out."""
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = torch.tensor([index[ch] for ch in finetune_text() if ch in index], dtype=torch.long)
    cut = int(0.9 * len(ids))
    return ids[:cut], ids[cut:]


def pretrain(width: int, sizes: dict, vocab: int, ids: torch.Tensor) -> torch.nn.Module:
    """The GPT at ``width`` pre-trained under muP (base width 64) with Adam, seed 0."""
    torch.manual_seed(0)
    import abcparam

    model = build_model("transformer", width, vocab=vocab, context=sizes["context"])
    spec = parametrize(model, abcparam.rules("mup", optimizer="adam"), base=64, seed=0)
    opt = build_optimizer(model, spec, lr=sizes["pretrain_lr"])
    gen = torch.Generator().manual_seed(0)
    for _ in range(sizes["pretrain_steps"]):
        x, y = lm_batch(ids, sizes["batch"] * 2, sizes["context"], gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def _val_loss(model: torch.nn.Module, val: torch.Tensor, sizes: dict) -> float:
    gen = torch.Generator().manual_seed(12345)
    total = 0.0
    with torch.no_grad():
        for _ in range(4):
            x, y = lm_batch(val, 32, sizes["context"], gen)
            total += F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    return total / 4


def finetune(
    base: torch.nn.Module,
    method: str,
    width: int,
    rank: int | None,
    log2_lr: float,
    seed: int,
    data: tuple[torch.Tensor, torch.Tensor],
    sizes: dict,
) -> float:
    """Final validation loss of one fine-tuning run (``rank=None``: dense fine-tuning)."""
    torch.manual_seed(seed)
    model = copy.deepcopy(base)
    lr = 2.0**log2_lr
    if rank is None:
        for p in model.parameters():
            p.requires_grad_(True)
        params = [p for p in model.parameters()]
        if method == "dense-muon":
            matrices = [p for n, p in model.named_parameters() if p.ndim == 2 and "blocks" in n]
            others = [p for n, p in model.named_parameters() if not (p.ndim == 2 and "blocks" in n)]
            from abcparam.torch.optim import OptimizerList

            opt: Any = OptimizerList(
                [
                    make_single("muon", [{"params": matrices}], lr),
                    torch.optim.AdamW([{"params": others}], lr=lr, weight_decay=0.0),
                ]
            )
        else:
            opt = torch.optim.Adam(params, lr=lr)
    else:
        m = METHODS[method]
        rules = lora_rules(m["optimizer"], rank_alignment=m["rank_alignment"])
        spec = add_lora(
            model,
            rules,
            rank=rank,
            target=TARGET,
            base_width=min(sizes["widths"]) if m["width_rule"] else None,
            base_rank=1,
            alpha=sizes["alpha"],
            backend="builtin",
            seed=seed,
        )
        if not m["width_rule"]:  # plain practice: one LR for both factors at every width
            spec = _without_width_rule(spec)
        opt = make_single(m["optimizer"], lora_param_groups(spec, lr), lr)
    train, val = data
    gen = torch.Generator().manual_seed(1000 + seed)
    for _ in range(sizes["steps"]):
        x, y = lm_batch(train, sizes["batch"], sizes["context"], gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        if not math.isfinite(loss.item()):
            return float("inf")
        opt.zero_grad()
        loss.backward()
        opt.step()
    result = _val_loss(model, val, sizes)
    return result if math.isfinite(result) else float("inf")


def _without_width_rule(spec):
    """The spec with every LR scale set to 1: LoRA as commonly run, one LR for A and B."""
    from dataclasses import replace

    adapters = tuple(replace(a, lr_scale={"A": 1.0, "B": 1.0}) for a in spec.adapters)
    return replace(spec, adapters=adapters)


def run_check(sizes: dict, out: Path, started: float) -> dict:
    """The coordinate check of adapters on the pre-trained GPT, in width and rank."""
    train, val, vocab = pydoc_text()
    ft_train, _ = finetune_ids(vocab)
    bases = {w: pretrain(w, sizes, len(vocab), train) for w in sizes["check_widths"]}

    def make(width: int) -> torch.nn.Module:
        return copy.deepcopy(bases[width])

    def batch(seed: int):
        return lm_batch(
            ft_train, sizes["batch"], sizes["context"], torch.Generator().manual_seed(seed)
        )

    results = {}
    for name, assumed in (("adam_alpha_over_r", 1), ("adam_rslora", "1/2")):
        results[name] = lora_check(
            make,
            batch,
            lora_rules("adam", rank_alignment=assumed),
            widths=sizes["check_widths"],
            ranks=sizes["check_ranks"],
            width_rank=4 if 4 in sizes["check_ranks"] else sizes["check_ranks"][-1],
            rank_width=sizes["check_widths"][1],
            target=TARGET,
            steps=sizes["check_steps"],
            seeds=sizes["check_seeds"],
            lr=1e-3,
            fresh_batches=True,
        )
    save_json(out / "check.json", {"sizes": _jsonable(sizes), "checks": results}, started=started)
    return results


def _jsonable(sizes: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()}


def run_sweep(sizes: dict, out: Path) -> None:
    """Every (method, width, rank, lr, seed) fine-tune, appended to runs.jsonl (resumable)."""
    from tqdm.std import tqdm

    train, _, vocab = pydoc_text()
    data = finetune_ids(vocab)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.jsonl"
    done = set()
    if runs_path.exists():
        for line in runs_path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done.add((row["method"], row["width"], row["rank"], row["log2_lr"], row["seed"]))
    jobs = []
    for width in sizes["widths"]:
        ranks = sizes["ranks"] if width == sizes["rank_width"] else (sizes["width_rank"],)
        for method in METHODS:
            for rank in ranks:
                jobs.append((method, width, rank))
        if width == sizes["rank_width"]:
            jobs += [("dense-adam", width, None), ("dense-muon", width, None)]
    commit = provenance().get("git_commit")
    bases: dict[int, torch.nn.Module] = {}
    rows = (
        [json.loads(line) for line in runs_path.read_text().splitlines() if line.strip()]
        if runs_path.exists()
        else []
    )
    with runs_path.open("a") as f, tqdm(total=len(jobs), desc="LoRA sweep (configurations)") as bar:
        for method, width, rank in jobs:
            coarse = [x + GRID_OFFSET.get(method, 0) for x in sizes["log2_lrs"]]
            for stage in ("coarse", "refine"):
                lrs = coarse if stage == "coarse" else _refine(rows, method, width, rank, coarse)
                for log2_lr in lrs:
                    for seed in range(sizes["seeds"]):
                        if (method, width, rank, log2_lr, seed) in done:
                            continue
                        if width not in bases:
                            bases[width] = pretrain(width, sizes, len(vocab), train)
                        t = time.time()
                        loss = finetune(
                            bases[width], method, width, rank, log2_lr, seed, data, sizes
                        )
                        row = dict(
                            method=method,
                            width=width,
                            rank=rank,
                            log2_lr=log2_lr,
                            seed=seed,
                            val_loss=loss if math.isfinite(loss) else None,
                            seconds=round(time.time() - t, 2),
                            git_commit=commit,
                        )
                        rows.append(row)
                        done.add((method, width, rank, log2_lr, seed))
                        f.write(json.dumps(row) + "\n")
                        f.flush()
            bar.update()


def _refine(rows: list[dict], method: str, width: int, rank, coarse: list[float]) -> list[float]:
    """The two points halfway between the coarse grid's best LR and its neighbours (an adaptive
    grid: the step around the optimum halves)."""
    mine = [r for r in rows if (r["method"], r["width"], r["rank"]) == (method, width, rank)]
    means = {}
    for lr in coarse:
        losses = [
            r["val_loss"] if r["val_loss"] is not None else math.inf
            for r in mine
            if r["log2_lr"] == lr
        ]
        means[lr] = float(np.mean(losses)) if losses else math.inf
    best = min(coarse, key=lambda lr: means[lr])
    step = (coarse[1] - coarse[0]) / 2
    return [best - step, best + step]


def optimum(rows: list[dict]) -> float | None:
    """log2 LR of the lowest seed-mean validation loss (a parabola through it and its two
    neighbours on the grid; the grid point itself at an edge)."""
    by_lr: dict[float, list[float]] = {}
    for r in rows:
        by_lr.setdefault(r["log2_lr"], []).append(
            r["val_loss"] if r["val_loss"] is not None else math.inf
        )
    lrs = sorted(by_lr)
    means = np.array([np.mean(by_lr[x]) for x in lrs])
    if not np.isfinite(means).any():
        return None
    i = int(np.nanargmin(means))
    if 0 < i < len(lrs) - 1 and np.isfinite(means[i - 1 : i + 2]).all():
        a, b, _ = np.polyfit(lrs[i - 1 : i + 2], means[i - 1 : i + 2], 2)
        if a > 0:
            return float(-b / (2 * a))
    return float(lrs[i])


def summarise(runs: list[dict], sizes: dict) -> dict:
    """Optima per (method, size), drift per doubling of rank and of width (least squares over
    sizes; spread from fitting each seed alone), and the regret of transferring from the
    smallest size."""
    out: dict[str, Any] = {}
    for method in (*METHODS, "dense-adam", "dense-muon"):
        rows = [r for r in runs if r["method"] == method]
        if not rows:
            continue
        entry: dict[str, Any] = {}
        for axis, held, values in (
            ("rank", ("width", sizes["rank_width"]), sizes["ranks"]),
            ("width", ("rank", sizes["width_rank"]), sizes["widths"]),
        ):
            sub = [r for r in rows if r[held[0]] == held[1]]
            if method.startswith("dense"):
                sub = rows if axis == "rank" else []
                values = [None] if axis == "rank" else []
            opt = {v: optimum([r for r in sub if r[axis] == v]) for v in values}
            entry[f"optimum_by_{axis}"] = {str(k): v for k, v in opt.items()}
            pts = [(math.log2(v), o) for v, o in opt.items() if v and o is not None]
            if len(pts) >= 3:
                slope = float(np.polyfit([x for x, _ in pts], [y for _, y in pts], 1)[0])
                per_seed = []
                for seed in range(sizes["seeds"]):
                    o = {
                        v: optimum([r for r in sub if r[axis] == v and r["seed"] == seed])
                        for v in values
                    }
                    p = [(math.log2(v), x) for v, x in o.items() if x is not None]
                    if len(p) >= 3:
                        per_seed.append(
                            float(np.polyfit([x for x, _ in p], [y for _, y in p], 1)[0])
                        )
                entry[f"drift_per_{axis}_doubling"] = slope
                entry[f"drift_per_{axis}_doubling_seed_range"] = (
                    [min(per_seed), max(per_seed)] if per_seed else None
                )
                entry[f"regret_by_{axis}"] = _regret(sub, axis, values)
        out[method] = entry
    return out


def _regret(rows: list[dict], axis: str, values) -> dict[str, float | None]:
    """Loss at each size with the LR best at the smallest size, minus the best loss there."""

    def mean_loss(v, lr):
        xs = [r["val_loss"] for r in rows if r[axis] == v and r["log2_lr"] == lr]
        return float(np.mean([x if x is not None else math.inf for x in xs])) if xs else math.inf

    lrs = sorted({r["log2_lr"] for r in rows})
    base = min(values)
    best_base = min(lrs, key=lambda lr: mean_loss(base, lr))
    regret = {}
    for v in values:
        best = min(mean_loss(v, lr) for lr in lrs)
        got = mean_loss(v, best_base)
        regret[str(v)] = got - best if math.isfinite(got) and math.isfinite(best) else None
    return regret


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("check", "sweep", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke version")
    parser.add_argument("--out", default=None, help="default: experiments/results/lora_transfer")
    args = parser.parse_args(argv)
    reproducible()
    sizes = QUICK if args.quick else FULL
    out = Path(args.out or RESULTS / ("lora_transfer_quick" if args.quick else "lora_transfer"))
    started = time.time()
    save_json(
        out / "config.json",
        {"sizes": _jsonable(sizes), "methods": METHODS, "target": TARGET, "modules": MODULES},
        started=started,
    )
    if args.part in ("check", "all"):
        checks = run_check(sizes, out, started)
        for name, result in checks.items():
            passed = sum(v["pass"] for v in result["verdicts"])
            print(
                f"{name}: {passed}/{len(result['verdicts'])} output slopes within 0.15; "
                f"rank alignment by step {_short(result['rank_alignment'])}"
            )
    if args.part in ("sweep", "all"):
        run_sweep(sizes, out)
        runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line]
        summary = summarise(runs, sizes)
        save_json(out / "summary.json", {"summary": summary}, started=started)
        for method, entry in summary.items():
            print(method, {k: v for k, v in entry.items() if k.startswith("drift")})
    return 0


def _short(alignment: dict) -> str:
    steps = sorted(alignment)
    pick = steps[:: max(1, len(steps) // 5)] + steps[-1:]
    return ", ".join(f"{s}: {alignment[s]:.2f}" for s in dict.fromkeys(pick))


if __name__ == "__main__":
    raise SystemExit(main())
