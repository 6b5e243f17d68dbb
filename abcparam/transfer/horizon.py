"""Learning rate against training horizon and batch size: one warmup-stable-decay run serves
several horizons (MiniCPM, arXiv 2404.06395, Sec. 4: a short decay branched off the stable phase
gives that horizon's loss), so a grid over (width, batch, LR, seed) yields η*(T, B) per width.

Each run trains the character-level GPT (pydoc text) under a width rule (μP by default) with
AdamW: linear warmup, a constant stable phase, and for every horizon T a branch that decays the
LR linearly to zero over the last ``decay_fraction``·T steps (model, optimizer and data stream
are restored after each branch, so the stable run continues as if never branched).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import validate
from ..records import dumps_strict
from ..reproducible import reproducible
from .corpora import check_corpus
from .sweep import divergence


@dataclass(frozen=True)
class HorizonRun:
    """One warmup-stable-decay run with decay branches at ``horizons``; hashed as its identity."""

    width: int
    batch: int  # sequences per step (each ``context`` characters)
    log2_lr: float
    seed: int
    horizons: tuple[int, ...] = (125, 250, 500)
    decay_fraction: float = 0.1
    warmup: int = 25
    weight_decay: float = 0.1
    scheme: str = "mup"
    optimizer: str = "adamw"
    base_width: int = 64
    n_layers: int = 2
    context: int = 32
    val_windows: int = 128
    curve_every: int = 10
    device: str = "cpu"
    #: per-layer relative update ||ΔW||/||W|| every ``curve_every`` steps (late-training check)
    record_updates: bool = False
    #: the weight-decay convention the engine derives λ's width exponent for
    convention: str = "coupled"
    #: train on the text's first ``train_chars`` characters only (0: all of it), a data-limited
    #: run that sees them for many epochs, where decay can regularise (the validation text stays)
    train_chars: int = 0
    #: the character corpus (``corpora.CORPORA``): ``stdlib``, ten times the pydoc text, keeps
    #: long runs at large batches to about one pass, where D = T·B
    corpus: str = "pydoc"
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.horizons or any(int(t) <= 0 for t in self.horizons):
            raise ValueError(f"horizons = {self.horizons}; accepted: positive step counts")
        if not 0 < self.decay_fraction < 1:
            raise ValueError(f"decay_fraction = {self.decay_fraction}; accepted: in (0, 1)")
        starts = [decay_start(t, self.decay_fraction) for t in self.horizons]
        check_corpus(self.corpus)
        if self.train_chars < 0 or 0 < self.train_chars <= self.context:
            raise ValueError(
                f"train_chars = {self.train_chars}; accepted: 0 (all the text) or more than "
                f"context = {self.context} characters"
            )
        if self.warmup > min(starts):
            raise ValueError(
                f"warmup = {self.warmup} runs into the first decay at step {min(starts)}; "
                "accepted: a warmup that ends before every decay starts"
            )

    @property
    def key(self) -> str:
        fields_ = {k: v for k, v in asdict(self).items() if k != "extra"}
        for name, default in (("convention", "coupled"), ("train_chars", 0), ("corpus", "pydoc")):
            if fields_[name] == default:  # defaults stay out (earlier runs' keys)
                del fields_[name]
        fields_["horizons"] = list(self.horizons)
        return hashlib.sha1(json.dumps(fields_, sort_keys=True).encode()).hexdigest()[:16]


def equilibrium_update(per_step_decay: float) -> float:
    """The relative update ||ΔW||/||W|| per step at rotational equilibrium, √(2d) for a per-step
    decay d (Kosson et al. 2023, arXiv 2305.17212: the decay's shrinkage d·||W||² balances the
    update's growth ||ΔW||²/2 when updates are orthogonal to W)."""
    return math.sqrt(2 * per_step_decay)


def decay_start(horizon: int, fraction: float) -> int:
    """The step at which horizon T's decay branch leaves the stable phase."""
    return int(horizon) - max(1, round(fraction * int(horizon)))


def lr_factor(step: int, warmup: int, horizon: int | None = None, fraction: float = 0.1) -> float:
    """The schedule's multiplier at ``step`` (0-based): linear warmup over ``warmup`` steps, 1 in
    the stable phase, and on horizon T's branch a linear decay reaching 0 after step T − 1."""
    factor = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    if horizon is not None:
        start = decay_start(horizon, fraction)
        if step >= start:
            factor *= (horizon - step) / (horizon - start + 1)
    return factor


def _build(cfg: HorizonRun):
    import abcparam

    # torch boundary: `import abcparam.transfer.horizon` stays light; torch loads when a run trains
    from ..torch import build_model, build_optimizer, parametrize
    from . import data

    train_ids, val_ids, vocab = data.corpus_ids(cfg.corpus)
    if cfg.train_chars:
        if cfg.train_chars > len(train_ids):
            raise ValueError(
                f"train_chars = {cfg.train_chars}; accepted: at most the training text's "
                f"{len(train_ids)} characters"
            )
        train_ids = train_ids[: cfg.train_chars]
    model = build_model(
        "transformer", cfg.width, n_layers=cfg.n_layers, vocab=len(vocab), context=cfg.context
    )
    rules = abcparam.rules(cfg.scheme, optimizer=cfg.optimizer, weight_decay=cfg.convention)
    spec = parametrize(model, rules, base_width=cfg.base_width, seed=cfg.seed)
    model.to(cfg.device)
    opt = build_optimizer(model, spec, lr=2.0**cfg.log2_lr, weight_decay=cfg.weight_decay)
    return model, opt, spec, train_ids, val_ids, vocab


def train_wsd(cfg: HorizonRun) -> dict:
    """Train one stable run with a decay branch per horizon; the validation loss at each."""
    run = _WSDRun.start(cfg)
    peak_decay = run.peak_decay()
    initial = run.validate()
    chance = math.log(len(run.vocab))
    horizons = sorted(int(t) for t in cfg.horizons)
    results: dict[str, dict] = {}
    stable_curve: list = []
    updates: list = []
    step, alive = 0, True
    for horizon in horizons:
        start = decay_start(horizon, cfg.decay_fraction)
        if alive:
            alive = run.steps(step, start, None, stable_curve, updates)
            step = start
        last = horizon == horizons[-1]
        results[str(horizon)] = run.branch(start, horizon, alive, last, updates, initial, chance)
    hidden = [name for name, _ in run.hidden]
    row = wsd_row(cfg, horizons, initial, chance, results, stable_curve, hidden)
    if cfg.record_updates:
        row["relative_updates"] = updates
        row["per_step_decay"] = peak_decay
    return row


@dataclass
class _WSDRun:
    """One warmup-stable-decay run in training: the model, its optimizer with each group's peak
    LR, the training stream, the held-out windows and the hidden layers watched."""

    cfg: HorizonRun
    model: Any
    opt: Any
    spec: Any
    train_ids: Any
    vocab: Any
    base_lrs: list[float]
    stream: Any
    val: tuple[Any, Any]
    hidden: list[tuple[str, Any]]

    @classmethod
    def start(cls, cfg: HorizonRun) -> _WSDRun:
        """Seeded: the model built and parametrized, the data stream and validation windows."""
        import torch

        # torch boundary: `import abcparam.transfer.horizon` stays light; torch loads when a run trains
        from . import data

        reproducible()
        torch.manual_seed(cfg.seed)
        model, opt, spec, train_ids, val_ids, vocab = _build(cfg)
        base_lrs = [group["lr"] for group in opt.param_groups]
        stream = torch.Generator().manual_seed(cfg.seed)
        held_out = torch.Generator().manual_seed(12_345)  # the same validation windows every run
        val = data.lm_batch(val_ids, cfg.val_windows, cfg.context, held_out)
        hidden = [(n, p) for n, p in model.named_parameters() if spec.kinds.get(n) == "hidden"]
        return cls(cfg, model, opt, spec, train_ids, vocab, base_lrs, stream, val, hidden)

    def peak_decay(self) -> dict[str, float]:
        """Each hidden layer's per-step decay at the peak LR: torch decays p by lr·weight_decay
        (coupled: λ's group value; independent: the group holds λ/lr, so the product is λ)."""
        return {
            name: group["lr"] * group["weight_decay"]
            for group in self.opt.param_groups
            for name in group.get("param_names", [])
            if self.spec.kinds.get(name) == "hidden"
        }

    def loss_of(self, x, y):
        import torch.nn.functional as F

        out = self.model(x.to(self.cfg.device))
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.to(self.cfg.device).reshape(-1))

    def validate(self) -> float:
        """The mean loss on the held-out windows (in chunks of 64)."""
        import torch

        val_x, val_y = self.val
        with torch.no_grad():
            parts = [
                self.loss_of(val_x[i : i + 64], val_y[i : i + 64]).item() * len(val_x[i : i + 64])
                for i in range(0, len(val_x), 64)
            ]
        return sum(parts) / len(val_x)

    def steps(self, first: int, last: int, horizon: int | None, curve: list, updates: list) -> bool:
        """Train steps first..last-1; False if the training loss became non-finite."""
        import torch

        # torch boundary: `import abcparam.transfer.horizon` stays light; torch loads when a run trains
        from . import data

        cfg, opt, hidden = self.cfg, self.opt, self.hidden
        window: list[float] = []
        for step in range(first, last):
            factor = lr_factor(step, cfg.warmup, horizon, cfg.decay_fraction)
            for group, lr in zip(opt.param_groups, self.base_lrs, strict=True):
                group["lr"] = lr * factor
            loss = self.loss_of(*data.lm_batch(self.train_ids, cfg.batch, cfg.context, self.stream))
            if not torch.isfinite(loss):
                return False
            opt.zero_grad(set_to_none=True)
            loss.backward()
            record = cfg.record_updates and (step + 1) % cfg.curve_every == 0
            before = [p.detach().clone() for _, p in hidden] if record else None
            opt.step()
            window.append(loss.item())
            if (step + 1) % cfg.curve_every == 0:
                curve.append([step + 1, sum(window) / len(window)])
                window = []
            if record and before is not None:
                updates.append(
                    [step + 1]
                    + [
                        ((p.detach() - b).norm() / b.norm()).item()
                        for (_, p), b in zip(hidden, before, strict=True)
                    ]
                )
        return True

    def branch(self, start, horizon, alive, last, updates, initial, chance) -> dict:
        """The decay branch from ``start`` to ``horizon`` and its result; unless it is the
        ``last`` horizon, model, optimizer and stream are restored for the stable run."""
        curve: list = []
        saved = None
        if alive and not last:
            saved = (
                copy.deepcopy(self.model.state_dict()),
                copy.deepcopy(self.opt.state_dict()),
                self.stream.get_state(),
            )
        ok = alive and self.steps(start, horizon, horizon, curve, updates if last else [])
        val = self.validate() if ok else math.inf
        if saved is not None:
            self.model.load_state_dict(saved[0])
            self.opt.load_state_dict(saved[1])
            self.stream.set_state(saved[2])
        return branch_result(ok, val, initial, chance, curve)


def branch_result(ok: bool, val: float, initial: float, chance: float, curve: list) -> dict:
    """One decay branch's result: its validation loss and divergence (``ok`` False: the training
    loss turned non-finite on the way), and its training-loss curve."""
    reason = _divergence(val, initial, chance) if ok else "non-finite training loss"
    return {
        "val_loss": val if ok and math.isfinite(val) else math.inf,
        "diverged": reason is not None,
        "diverged_reason": reason,
        "curve": curve,
    }


def wsd_row(
    cfg: HorizonRun,
    horizons: list[int],
    initial: float,
    chance: float,
    results: dict[str, dict],
    stable_curve: list,
    hidden_layers: list[str],
) -> dict:
    """One horizon run's saved row (the separate and the batched trainer write the same)."""
    from . import data

    return {
        "key": cfg.key,
        **{k: v for k, v in asdict(cfg).items() if k != "extra"},
        "horizons": horizons,
        "initial_loss": initial,
        "chance_loss": chance,
        "results": results,
        "stable_curve": stable_curve,
        "hidden_layers": hidden_layers,
        "text": data.text_fingerprint(cfg.corpus),
    }


def _divergence(val: float, initial: float, chance: float) -> str | None:
    return divergence(val, initial, chance)


def grid(
    widths: Iterable[int],
    batches: Iterable[int],
    log2_lrs: Iterable[float],
    seeds: int,
    **fixed,
) -> list[HorizonRun]:
    """The product widths × batches × log2 LRs × seeds (0..seeds−1); ``fixed`` sets the rest."""
    widths = [validate.positive_int(w, "width") for w in widths]
    batches = [validate.positive_int(b, "batch") for b in batches]
    seeds = validate.positive_int(seeds, "seeds")
    if "horizons" in fixed:
        fixed["horizons"] = tuple(validate.positive_int(t, "horizon") for t in fixed["horizons"])
    return [
        HorizonRun(w, b, float(lr), s, **fixed)
        for w in widths
        for b in batches
        for lr in log2_lrs
        for s in range(seeds)
    ]


def finished(path: Path) -> dict[str, dict]:
    """Runs already in the JSON-lines file, by key (a torn or foreign line is skipped)."""
    done: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "key" in row and "results" in row:
                done[row["key"]] = row
    return done


def run_grid(
    configs: list[HorizonRun],
    results: str | Path,
    workers: int = 1,
    progress: bool = True,
    train: Callable[[HorizonRun], dict] = train_wsd,
) -> list[dict]:
    """Run every config not yet in ``results`` (JSON lines), appending each as it finishes."""
    from tqdm.std import tqdm

    path = Path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = finished(path)
    todo = [c for c in configs if c.key not in done]
    bar = tqdm(total=len(todo), desc="horizon grid", disable=not progress)
    with path.open("a") as sink:

        def record(row: dict) -> None:
            sink.write(dumps_strict(row, indent=None) + "\n")
            sink.flush()
            done[row["key"]] = row
            bar.update()

        if workers <= 1:
            for cfg in todo:
                record(train(cfg))
        elif todo:
            import multiprocessing

            cuda = any(c.device.startswith("cuda") for c in todo)
            context = multiprocessing.get_context("spawn") if cuda else None
            count = workers if cuda else min(workers, os.cpu_count() or 1)
            with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
                for fut in as_completed([pool.submit(train, c) for c in todo]):
                    record(fut.result())
    bar.close()
    return [done[c.key] for c in configs]
