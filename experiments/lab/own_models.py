"""Coordinate checks on models written the way users write them (issue "Your model, not ours"):
Hugging Face GPT-2 and Llama built from config (embeddings tied and untied), a small CNN with a
batch norm, a pre-LN transformer on ``nn.MultiheadAttention``; SP / muP / u-muP with Adam and
AdamW; real data (CPython pydoc text, sklearn digits).  Each configuration is saved as a full
results.json under ``experiments/results/own_models/<model>_<scheme>_<optimizer>/`` and the grid's
pass counts in ``summary.json``; one Hugging Face model is cross-checked against mup's own
``get_coord_data`` (parametrized by mup, and by abcparam).

Run: ``python experiments/own_models.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

OUT = Path("experiments/results/own_models")
MODELS = ("hf:gpt2", "hf:gpt2-untied", "hf:llama", "hf:llama-tied", "cnn", "mha")
SCHEMES = ("sp", "mup", "u-mup")
OPTIMIZERS = ("adam", "adamw")


def _optimizers(weight_decay: float = 0.0) -> tuple[str, ...]:
    """Adam, and AdamW where the engine derives it and a decay is given: AdamW with lambda = 0
    is Adam bit for bit (the GPU grid's 14 AdamW rows repeated its Adam rows), so it is not run
    as separate evidence (abcparam.coordcheck.judge.require_decay)."""
    import abcparam

    return tuple(
        o for o in OPTIMIZERS if o in abcparam.OPTIMIZERS and (o != "adamw" or weight_decay)
    )


def totals(rows: Sequence[dict], weight_decay: float = 0.0) -> dict:
    """Judged fits and passes summed over the rows that ran, and over the independent ones: an
    AdamW row without decay repeats its Adam row and is counted once (issue 28)."""
    from abcparam.coordcheck.judge import count_text

    ran = [r for r in rows if "fits" in r]
    independent = [r for r in ran if not (r["optimizer"] == "adamw" and not weight_decay)]
    out: dict = {}
    for name, group in (("ran", ran), ("independent", independent)):
        out[name] = {
            "configurations": len(group),
            "fits": sum(r["fits"] for r in group),
            "passed": sum(r["passed"] for r in group),
            "preset_passed": sum(r["preset_passed"] for r in group),
        }
    i = out["independent"]
    out["text"] = count_text(i["passed"], i["fits"], i["configurations"])
    if len(independent) < len(ran):
        out["repeats"] = (
            f"{len(ran) - len(independent)} AdamW configurations ran with weight decay 0 and "
            f"repeat the Adam ones bit for bit; counted once"
        )
    return out


def run_grid(
    models: Sequence[str],
    widths: Sequence[int],
    steps: int,
    seeds: int,
    out: Path,
    progress: bool = True,
    device: str = "cpu",
    lr: float | None = None,
    optimizers: Sequence[str] | None = None,
    weight_decay: float = 0.0,
) -> dict:
    """One check per (model, scheme, optimizer); returns the summary table."""
    import abcparam
    from abcparam.coordcheck.batches import BATCHES
    from abcparam.coordcheck.check import check
    from abcparam.torch.tied import TiedWeightsError
    from abcparam.torch.zoo import MODELS as ZOO

    rows = []
    for model in models:
        factory, inputs = ZOO[model]
        for scheme in SCHEMES:
            for optimizer in optimizers or _optimizers(weight_decay):
                t0 = time.time()
                rules = abcparam.rules(scheme, optimizer=optimizer)
                name = f"{model.replace('hf:', 'hf_')}_{scheme}_{optimizer}"
                try:
                    result = check(
                        factory,
                        rules,
                        BATCHES[inputs],
                        widths=widths,
                        steps=steps,
                        seeds=seeds,
                        out=out / name,
                        progress=False,
                        name=model,
                        device=device,
                        lr=lr,
                        weight_decay=weight_decay if optimizer == "adamw" else 0.0,
                        # a run called AdamW has a decay: check() refuses lambda = 0
                    )
                except TiedWeightsError as err:  # the documented refusal, kept as a result
                    rows.append(
                        {
                            "model": model,
                            "scheme": scheme,
                            "optimizer": optimizer,
                            "refused": str(err),
                        }
                    )
                    _save_row(out / name, rows[-1])
                    if progress:
                        print(f"{name}: refused (tied weights): {err}", flush=True)
                    continue
                s = result.summary()
                rows.append(
                    {
                        "model": model,
                        "scheme": scheme,
                        "optimizer": optimizer,
                        **s,
                        "flags": len(result.flags),
                        "seconds": round(time.time() - t0, 1),
                    }
                )
                _save_row(out / name, rows[-1])
                if progress:
                    print(
                        f"{name}: {s['passed']}/{s['fits']} measured-alignment, "
                        f"{s['preset_passed']}/{s['fits']} preset, {s['nonfinite']} non-finite "
                        f"({rows[-1]['seconds']} s)",
                        flush=True,
                    )
    used = optimizers or _optimizers(weight_decay)
    return _summary(widths, steps, seeds, used, device, rows, lr, weight_decay)


def _summary(
    widths: Sequence[int],
    steps: int,
    seeds: int,
    optimizers: Sequence[str],
    device: str,
    rows: list[dict],
    lr: float | None = None,
    weight_decay: float = 0.0,
) -> dict:
    """summary.json's payload: one grid's settings and its rows (also for merged parallel runs)."""
    return {
        "widths": list(widths),
        "steps": steps,
        "seeds": seeds,
        "optimizers": list(optimizers),
        "device": device,
        "lr": lr,
        "weight_decay_adamw": weight_decay,
        "rows": rows,
        "totals": totals(rows, weight_decay),
    }


def _save_row(folder: Path, row: dict) -> None:
    """Each configuration's summary row beside its results (``--merge-only`` gathers them, so
    several processes can share one output folder)."""
    from abcparam.records import save_json

    save_json(folder / "row.json", row)


def merged_rows(out: Path) -> list[dict]:
    """Every saved row under ``out``, in the grid's order (model, scheme, optimizer)."""
    rows = [json.loads(p.read_text()) for p in out.glob("*/row.json")]
    for row in rows:
        row.pop("provenance", None)

    def order(row: dict) -> tuple:
        return tuple(
            seq.index(row[key]) if row[key] in seq else len(seq)
            for key, seq in (("model", MODELS), ("scheme", SCHEMES), ("optimizer", OPTIMIZERS))
        )

    return sorted(rows, key=order)


def _tied_nodes(model: str, names: Sequence[str]) -> list[str]:
    """The graph nodes of a zoo model that read a tensor another node also reads."""
    from abcparam.torch.zoo import MODELS as ZOO

    built = ZOO[model][0](64)
    owners: dict[int, list[str]] = {}
    for module_name, module in built.named_modules():
        for p in module.parameters(recurse=False):
            owners.setdefault(id(p), []).append(module_name)
    shared = {m for ms in owners.values() if len(ms) > 1 for m in ms}
    return [n for n in names if n in shared]


def rejudge(out: Path) -> int:
    """Re-fit and re-judge every saved configuration under ``out`` from its own records (the
    measurements unchanged; the judgement as the current code makes it), rewriting its
    results.json and row.json.  Returns how many were rejudged."""
    import abcparam
    from abcparam.coordcheck import CoordCheckConfig, compare, save

    done = 0
    for path in sorted(out.glob("*/results.json")):
        data = json.loads(path.read_text())
        if not data.get("records"):
            print(f"{path.parent.name}: no records saved, left as it is")
            continue
        cfg = data["config"]
        config = CoordCheckConfig.from_dict(cfg)
        topology = dict(cfg["topology"])
        if "tied" not in topology:  # saved before the topology named its tied nodes
            topology["tied"] = _tied_nodes(cfg["model"], topology["names"])
        rules = abcparam.rules(cfg["scheme"], optimizer=cfg["optimizer"])
        result = compare(config, rules, data["records"], data["nonfinite"], topology=topology)
        save(result, path.parent, command=data.get("provenance", {}).get("command"))
        row = json.loads((path.parent / "row.json").read_text())
        row.pop("provenance", None)
        row.update(result.summary(), flags=len(result.flags))
        _save_row(path.parent, row)
        print(f"{path.parent.name}: {result.summary()}")
        done += 1
    return done


def _with_mu_readout(model):
    """mup's readout layer in place of lm_head (set_base_shapes insists on it)."""
    import torch
    from mup import MuReadout

    head = model.lm_head
    with torch.device(head.weight.device):
        model.lm_head = MuReadout(head.in_features, head.out_features, bias=False)
    return model


def _last_step_slopes(df) -> dict[str, float]:
    """Per module of mup's coordinate data: the width slope of the mean l1 at the last step."""
    import numpy as np

    out = {}
    last = df[df.t == df.t.max()]
    for module, rows in last.groupby("module"):
        rows = rows.groupby("width").l1.mean()
        if len(rows) >= 2 and (rows > 0).all():
            out[module.removeprefix("model.")] = float(
                np.polyfit(np.log(rows.index.values), np.log(rows.values), 1)[0]
            )
    return out


def _is_hidden(name: str) -> bool:
    """The Llama modules whose outputs the muP cross-check compares."""
    return name.endswith(("mlp.down_proj", "mlp.up_proj", "self_attn.o_proj"))


def mup_crosscheck(widths: Sequence[int], steps: int) -> dict:
    """Hugging Face Llama (untied) under muP two ways, both recorded by mup's own
    ``get_coord_data`` loop (the l1 of each hidden module's output at the last step): mup's
    ``set_base_shapes`` + ``mup.init`` + ``MuAdam`` (attention scale set to sqrt(d0)/d by hand,
    as mup asks; no MuReadout: the readout keeps SP, which does not move hidden layers early),
    and abcparam's ``parametrize`` + per-layer Adam.  Returns the width slope of each."""
    import math

    from mup import MuAdam, set_base_shapes
    from mup import init as mup_init
    from mup.coord_check import _get_coord_data

    import abcparam
    from abcparam.coordcheck.batches import tokens
    from abcparam.torch import build_optimizer, parametrize
    from abcparam.torch.zoo import hf_llama

    x, y = tokens(0)
    data = [(x, y.reshape(-1))]
    base_w = min(widths)
    rules = abcparam.rules("mup", optimizer="adam")

    def ours(width):
        def make():
            model = hf_llama(width)
            model.abc_spec = parametrize(
                model,
                rules,
                base=hf_llama(base_w, device="meta"),
                delta=hf_llama(2 * base_w, device="meta") if width == base_w else None,
                seed=0,
            )
            return _Logits(model)

        return make

    def theirs(width):
        def make():
            model = _with_mu_readout(hf_llama(width))
            set_base_shapes(
                model,
                _with_mu_readout(hf_llama(base_w, device="meta")),
                delta=_with_mu_readout(hf_llama(2 * base_w, device="meta")),
            )
            for name, p in model.named_parameters():
                if p.dim() >= 2 and "embed" not in name and "lm_head" not in name:
                    mup_init.normal_(p, std=1 / math.sqrt(base_w))
            for module in model.modules():
                if hasattr(module, "scaling") and hasattr(module, "head_dim"):
                    d = module.head_dim
                    module.scaling = math.sqrt(d * base_w / width) / d
            return _Logits(model)

        return make

    common = dict(
        nsteps=steps,
        flatten_output=True,
        cuda=False,
        filter_module_by_name=_is_hidden,
        show_progress=False,
    )
    df_ours = _get_coord_data(
        {w: ours(w) for w in widths},
        data,
        lambda m: build_optimizer(m.model, m.model.abc_spec, lr=1e-2),
        **common,
    )
    df_theirs = _get_coord_data(
        {w: theirs(w) for w in widths}, data, lambda m: MuAdam(m.parameters(), lr=1e-2), **common
    )
    return {
        "model": "hf:llama (untied)",
        "widths": list(widths),
        "steps": steps,
        "abcparam": _last_step_slopes(df_ours),
        "mup": _last_step_slopes(df_theirs),
    }


class _Logits:
    """Wraps a Hugging Face causal LM so mup's loop gets plain logits."""

    def __new__(cls, model):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.model = inner

            def forward(self, x):
                return self.model(x).logits.reshape(-1, self.model.config.vocab_size)

        return Wrapped(model)


def _parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny widths (a test of the script)")
    parser.add_argument("--widths", default="128,256,512")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--device", default="cpu", help="where to train (cpu, cuda)")
    parser.add_argument(
        "--lr", type=float, default=None, help="base LR (default: the check's, 1e-2 for Adam)"
    )
    parser.add_argument(
        "--optimizers",
        default=None,
        help="adam,adamw (default: adam, and adamw when --weight-decay is nonzero)",
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="AdamW's base weight decay lambda (scaled per layer by the derived exponent)",
    )
    parser.add_argument("--no-mup", action="store_true", help="skip the mup cross-check")
    parser.add_argument(
        "--mup-only", action="store_true", help="add the mup cross-check to a saved summary"
    )
    parser.add_argument(
        "--rejudge",
        action="store_true",
        help="re-judge every saved configuration from its records, then merge",
    )
    parser.add_argument(
        "--merge-only",
        action="store_true",
        help="rebuild summary.json from the saved per-configuration rows (after parallel runs)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    from abcparam.records import merged_device, save_json

    started = time.time()
    from . import reproducible

    reproducible()
    widths = (32, 64) if args.quick else tuple(int(w) for w in args.widths.split(","))
    steps, seeds = (1, 1) if args.quick else (args.steps, args.seeds)
    models = args.models.split(",")
    if args.optimizers is None:
        optimizers = list(_optimizers(args.weight_decay))
    else:
        optimizers = [o for o in args.optimizers.split(",") if o in _optimizers(1.0)]
    if not (args.rejudge or args.merge_only or args.mup_only):
        from abcparam.coordcheck.judge import require_decay

        for optimizer in optimizers:
            require_decay(optimizer, args.weight_decay)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; accepted: {', '.join(MODELS)}")
    out = Path(args.out)
    if args.rejudge:
        rejudge(out)
    if args.merge_only or args.rejudge:
        summary = _summary(
            widths,
            steps,
            seeds,
            optimizers,
            args.device,
            merged_rows(out),
            args.lr,
            args.weight_decay,
        )
        parts = [json.loads(p.read_text()) for p in sorted(out.glob("*/row.json"))]
        path = save_json(
            out / "summary.json", summary, started=started, device=merged_device(parts)
        )
        print(f"wrote {path} ({len(summary['rows'])} rows)")
        return 0
    if args.mup_only:
        summary = json.loads((out / "summary.json").read_text())
        # the grid's rows keep the provenance of the run that produced them (audited too)
        summary["merged_from"] = [*summary.get("merged_from", []), summary.pop("provenance", None)]
    else:
        summary = run_grid(
            models,
            widths,
            steps,
            seeds,
            out,
            device=args.device,
            lr=args.lr,
            optimizers=optimizers,
            weight_decay=args.weight_decay,
        )
        path = save_json(out / "summary.json", summary, started=started)
    if not args.no_mup:
        summary["mup_crosscheck"] = mup_crosscheck(widths, 3)
    path = save_json(out / "summary.json", summary, started=started)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
