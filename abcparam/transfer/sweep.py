"""Learning-rate sweeps across widths (muTransfer, TP-V): one training run per (scheme, width,
base LR, seed), run locally in a process pool or on a cluster with Ray, written incrementally.

Every finished run is one JSON line keyed by the hash of its configuration, so an interrupted
sweep resumes without redoing finished runs.  Schemes: ``sp-constant-lr`` (SP, one width-independent
LR), ``sp`` (SP with Everett et al.'s per-layer LR exponents), ``mup``, ``u-mup``.  Models: the built-in ``mlp`` (sklearn digits) and
``transformer`` (pydoc text), or the user's own ``package.module:factory`` (width -> nn.Module)
with ``batch_fn="package.module:fn"`` (index -> (inputs, targets)), any model the coordinate
check accepts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .. import validate
from ..atomic import append_line, read_lines
from ..engine.exponents import canonical_kind
from ..engine.optimizers import get_optimizer
from ..engine.optimizers.base import WEIGHT_DECAY_CONVENTIONS
from ..interrupt import die_with_parent, interrupt_on_sigterm
from ..loading import load_object
from ..outfolder import claim
from ..records import dumps_strict

SCHEMES = ("sp-constant-lr", "sp", "mup", "u-mup", "depth-mup", "completep")
#: old scheme names still accepted, with a DeprecationWarning
BACKENDS = ("local", "ray")
MODELS = ("mlp", "transformer")


@dataclass(frozen=True)
class RunConfig:
    """One training run; its hash is its identity in the results file."""

    model: str  # "mlp" (digits) or "transformer" (pydoc text)
    scheme: str
    optimizer: str
    width: int
    log2_lr: float
    seed: int
    steps: int = 300
    base_width: int = 64
    batch: int = 128
    device: str = "cpu"
    #: sweep one layer kind's LR only: ``log2_lr`` applies to this kind, every other kind trains
    #: at ``fixed_log2_lr`` (each still times its derived width factor)
    sweep_kind: str | None = None
    fixed_log2_lr: float | None = None
    depth: int | None = None  # residual blocks (None: the model's default, 2)
    base_depth: int | None = None  # the depth the base LR is tuned at (depth rules only)
    #: Muon only: which view derived the table (the engine's ``rules(update_view=...)``)
    update_view: str = "spectral"
    #: a user model (``model = "package.module:factory"``): its batches ``package.module:fn``
    #: (index -> (inputs, targets)) and loss ``package.module:fn(output, targets)``
    batch_fn: str | None = None
    loss_fn: str | None = None

    #: z-loss coefficient (Wortsman et al. 2023: 1e-4 * log^2 Z added to the loss; 0: none)
    z_loss: float = 0.0
    #: the GPT's queries and keys layer-normalised per head (Wortsman et al. 2023)
    qk_layernorm: bool = False
    #: every this many steps record the mean training loss since the last record, the largest
    #: attention logit and the mean log Z of the output (``trace`` in the row; 0: no trace)
    trace_every: int = 0
    #: Adam's epsilon, and whether each layer's is scaled by the rules' eps exponent (False: one
    #: constant eps, whose crossover width ``abcparam epsilon`` predicts; Everett et al. 2024)
    eps: float = 1e-8
    scale_eps: bool = True
    #: independent weight decay ``p <- p (1 - s(t) lambda)`` (Wortsman et al. 2023, Sec. 3.2.2;
    #: not multiplied by the LR; its width exponents derived with ``weight_decay="independent"``);
    #: needs optimizer ``adamw``
    weight_decay: float = 0.0
    #: linear warmup of the LR over this many steps (0: none; the schedule ``s(t)``)
    warmup: int = 0
    #: how ``weight_decay`` acts: "independent" (above) or "coupled", torch AdamW's
    #: ``p <- p (1 - s(t) lr lambda)`` with the per-layer LR (its width exponents derived with
    #: ``weight_decay="coupled"``)
    decay_convention: str = "independent"

    @property
    def key(self) -> str:
        # unset optional fields (and the default view) stay out of the hash, so earlier sweeps
        # keep their keys
        optional = ("sweep_kind", "fixed_log2_lr", "depth", "base_depth", "batch_fn", "loss_fn")
        fields = {
            k: v
            for k, v in asdict(self).items()
            if (v is not None or k not in optional) and _DEFAULTS.get(k, _UNSET) != v
        }
        return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


_UNSET = object()
#: settings left out of a run's key while at these values
_DEFAULTS = {
    "update_view": "spectral",
    "z_loss": 0.0,
    "qk_layernorm": False,
    "trace_every": 0,
    "eps": 1e-8,
    "scale_eps": True,
    "weight_decay": 0.0,
    "warmup": 0,
    "decay_convention": "independent",
}


def rules_for(
    scheme: str, optimizer: str, update_view: str = "spectral", weight_decay: str | None = None
):
    """The engine's rules for a sweep scheme; ``sp-constant-lr`` is SP with every LR exponent set
    to 0 (one width-independent LR, the baseline muTransfer improves on); ``update_view`` is the
    engine's view of a Muon update (spectral or entry); ``weight_decay`` the decay convention
    (None: the engine's default)."""
    import abcparam

    scheme = sweep_scheme(scheme)
    options: dict[str, Any] = {"optimizer": optimizer, "update_view": update_view}
    if weight_decay is not None:  # else the engine's default convention
        options["weight_decay"] = weight_decay
    if scheme == "sp-constant-lr":
        return abcparam.rules("sp", **options).with_c(0)
    return abcparam.rules(scheme, **options)


def sweep_scheme(name: str) -> str:
    """``name`` checked against SCHEMES (one meaning per name: no aliases)."""
    if name not in SCHEMES:
        raise ValueError(f"unknown sweep scheme {name!r}; accepted: {', '.join(SCHEMES)}")
    return name


def train(cfg: RunConfig) -> dict:
    """Train one model and return its final validation loss (inf if it diverged)."""
    import torch

    # torch boundary: `import abcparam.transfer` stays light; torch loads when a run trains
    from ..torch import with_z_loss
    from .trace import Trace

    torch.set_num_threads(1)
    if is_user_model(cfg.model):
        # import cycle: user.py builds on this module's rules_for, divergence, _kind_lrs
        from .user import train_user

        torch.manual_seed(cfg.seed)
        return train_user(cfg)
    task = _Task.load(cfg, torch.Generator().manual_seed(cfg.seed))
    model, spec, opt = build_run(cfg)
    # the training objective: cross-entropy plus the z-loss (evaluation reports cross-entropy)
    objective = with_z_loss(None, cfg.z_loss)
    trace = Trace(model, cfg.trace_every)
    chance = math.log(task.n_classes)  # cross-entropy of the uniform prediction
    initial = task.initial_loss(model)
    if not _train_steps(cfg, task, model, spec, opt, objective, trace):
        return _row(cfg, math.inf, initial, chance, "non-finite training loss", trace)
    val = task.final_loss(model)
    return _row(cfg, val, initial, chance, divergence(val, initial, chance), trace)


@dataclass
class _Task:
    """A built-in model's data (digits for the MLP, pydoc text for the transformer), its batches
    drawn from the run's generator ``g``, and its cross-entropy."""

    cfg: RunConfig
    g: Any
    split: Any = None
    train_ids: Any = None
    val_ids: Any = None
    vocab: Any = None

    @classmethod
    def load(cls, cfg: RunConfig, g) -> _Task:
        # torch boundary: `import abcparam.transfer` stays light; torch loads when a run trains
        from . import data

        if cfg.model == "mlp":
            return cls(cfg, g, split=data.digits())
        train_ids, val_ids, vocab = data.pydoc_text()
        return cls(cfg, g, train_ids=train_ids, val_ids=val_ids, vocab=vocab)

    @property
    def n_classes(self) -> int:
        return 10 if self.cfg.model == "mlp" else len(self.vocab)

    def batch(self, val: bool = False):
        import torch

        # torch boundary: `import abcparam.transfer` stays light; torch loads when a run trains
        from . import data

        cfg, split = self.cfg, self.split
        if cfg.model == "mlp":
            xs, ys = (split.x_val, split.y_val) if val else (split.x_train, split.y_train)
            idx = torch.randint(0, len(xs), (cfg.batch,), generator=self.g)
            return xs[idx], ys[idx]
        return data.lm_batch(self.val_ids if val else self.train_ids, cfg.batch // 8, 32, self.g)

    def loss_of(self, model, x, y):
        import torch.nn.functional as F

        out = model(x.to(self.cfg.device))
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.to(self.cfg.device).reshape(-1))

    def initial_loss(self, model) -> float:
        """The loss before training (its own generator: training unchanged)."""
        import torch

        # torch boundary: `import abcparam.transfer` stays light; torch loads when a run trains
        from . import data

        with torch.no_grad():
            if self.cfg.model == "mlp":
                return self.loss_of(model, self.split.x_val, self.split.y_val).item()
            g_init = torch.Generator().manual_seed(10_000 + self.cfg.seed)
            batch = self.cfg.batch // 8
            return (
                sum(
                    self.loss_of(model, *data.lm_batch(self.val_ids, batch, 32, g_init)).item()
                    for _ in range(8)
                )
                / 8
            )

    def final_loss(self, model) -> float:
        """The validation loss after training (all of the digits' split; 8 text batches)."""
        import torch

        with torch.no_grad():
            if self.cfg.model == "mlp":
                return self.loss_of(model, self.split.x_val, self.split.y_val).item()
            return sum(self.loss_of(model, *self.batch(val=True)).item() for _ in range(8)) / 8


def _train_steps(cfg: RunConfig, task: _Task, model, spec, opt, objective, trace) -> bool:
    """``cfg.steps`` optimizer steps (linear warmup of every group's LR); False as soon as the
    training loss is not finite."""
    import torch

    peak = [group["lr"] for group in opt.param_groups]
    for step in range(cfg.steps):
        if cfg.warmup:  # linear warmup: s(t) scales every group's LR (and so independent decay)
            factor = min(1.0, (step + 1) / cfg.warmup)
            for group, lr in zip(opt.param_groups, peak, strict=True):
                group["lr"] = lr * factor
        x, y = task.batch()
        with trace.watch(step):
            out = model(x.to(cfg.device))
        loss = objective(out, y.to(cfg.device))
        trace.record(step, out, loss)
        if not torch.isfinite(loss):
            return False
        opt.zero_grad(set_to_none=True)
        loss.backward()
        trace.record_gradients(step, spec)
        opt.step()
    return True


def _row(cfg: RunConfig, val: float, initial: float, chance: float, reason, trace) -> dict:
    """A run's result row: its settings, losses, divergence and trace."""
    return {
        "key": cfg.key,
        **asdict(cfg),
        "val_loss": val if math.isfinite(val) else math.inf,
        "initial_loss": initial,
        "chance_loss": chance,
        "diverged": reason is not None,
        "diverged_reason": reason,
        **trace.row(),
    }


def is_user_model(model: str) -> bool:
    """``package.module:factory`` (a user's model), not a built-in name."""
    return ":" in model


def build_run(cfg: RunConfig):
    """(model, spec, optimizer) of one run, seeded and parametrized by the engine's rules: the one
    place a sweep run's model is built (the batched trainer stacks these)."""
    import torch

    # torch boundary: `import abcparam.transfer` stays light; torch loads when a run trains
    from ..torch import ResidualMLP, build_model, build_optimizer, parametrize
    from . import data

    torch.manual_seed(cfg.seed)
    if cfg.weight_decay and cfg.optimizer != "adamw":
        raise ValueError(
            f"weight_decay = {cfg.weight_decay:g} with optimizer {cfg.optimizer!r}; accepted: "
            f"optimizer 'adamw' (independent decay), or weight_decay = 0"
        )
    convention = cfg.decay_convention if cfg.weight_decay else None
    rules = rules_for(cfg.scheme, cfg.optimizer, cfg.update_view, convention)
    if cfg.model == "mlp":
        if cfg.depth is None:
            model = build_model("mlp", cfg.width, depth=2, in_dim=64, out_dim=10)
        else:  # depth sweeps need residual blocks
            model = ResidualMLP(cfg.width, depth=cfg.depth, in_dim=64, out_dim=10)
    elif cfg.model == "transformer":
        vocab = data.pydoc_vocab_size()
        model = build_model(
            "transformer",
            cfg.width,
            n_layers=cfg.depth or 2,
            vocab=vocab,
            context=32,
            qk_layernorm=cfg.qk_layernorm,
        )
    else:
        raise ValueError(f"unknown model {cfg.model!r}; accepted: mlp, transformer")
    spec = parametrize(
        model, rules, base_width=cfg.base_width, seed=cfg.seed, base_depth=cfg.base_depth
    )
    model.to(cfg.device)
    opt = build_optimizer(
        model,
        spec,
        lr=_kind_lrs(cfg),
        eps=cfg.eps,
        scale_eps=cfg.scale_eps,
        weight_decay=cfg.weight_decay,
    )
    return model, spec, opt


def _kind_lrs(cfg: RunConfig) -> float | dict[str, float]:
    """The base learning rate, or for a per-layer sweep one per kind: the swept kind at
    ``log2_lr`` and every other kind at ``fixed_log2_lr`` (each times its own width factor in
    the optimizer groups), so that only the swept kind's learning rate varies."""
    if cfg.sweep_kind is None:
        return 2.0**cfg.log2_lr
    if cfg.fixed_log2_lr is None:
        raise ValueError(f"sweep_kind = {cfg.sweep_kind!r} needs fixed_log2_lr for the other kinds")
    return {canonical_kind(cfg.sweep_kind): 2.0**cfg.log2_lr, "default": 2.0**cfg.fixed_log2_lr}


#: a final loss within this fraction of chance (ln of the class count) learned nothing
AT_CHANCE = 0.02


def divergence(val: float, initial: float, chance: float) -> str | None:
    """Why a finished run counts as diverged (the analysis skips it), or None: a non-finite
    loss, a loss above the one before training, or a loss at chance (the model predicts the
    uniform distribution: a blown-up LR often lands there instead of at nan)."""
    if not math.isfinite(val):
        return "non-finite validation loss"
    if val > initial:
        return f"validation loss {val:.4g} above its initial {initial:.4g}"
    if abs(val - chance) <= AT_CHANCE * chance:
        return f"validation loss {val:.4g} at chance (ln {round(math.exp(chance))} = {chance:.4g})"
    return None


def grid(
    model: str,
    schemes: Iterable[str],
    optimizer: str,
    widths: Iterable[int],
    log2_lrs: Iterable[float],
    seeds: int,
    depths: Iterable[int] | None = None,
    **fixed,
) -> list[RunConfig]:
    """The full product schemes x widths (x depths) x log2 LRs x seeds (seeds 0..seeds-1);
    ``fixed`` sets the other RunConfig fields (steps, base_width, base_depth, batch, device)."""
    # every argument checked here, not inside a worker process halfway through the sweep
    schemes = [sweep_scheme(s) for s in schemes]
    if not schemes:
        raise ValueError(f"no sweep scheme given; accepted: {', '.join(SCHEMES)}")
    _check_model(model, fixed)
    get_optimizer(optimizer)
    widths = [validate.positive_int(w, "width") for w in widths]
    if not widths or len(set(widths)) != len(widths):
        raise ValueError(f"widths = {widths}; accepted: one or more distinct positive integers")
    log2_lrs = [float(x) for x in log2_lrs]
    limit = validate.LOG2_LR_LIMIT
    if not log2_lrs or not all(math.isfinite(x) and abs(x) <= limit for x in log2_lrs):
        raise ValueError(
            f"log2_lrs = {log2_lrs}; accepted: one or more finite log2 learning rates in "
            f"[-{limit}, {limit}]"
        )
    seeds = validate.positive_int(seeds, "seeds")
    _check_settings(fixed, model, optimizer)
    depth_list: list[int | None] = (
        [None] if depths is None else list(validate.widths(depths, "depths"))
    )
    deepest = [d for d in depth_list if d is not None]
    if deepest and max(deepest) > validate.MAX_DEPTH:
        raise ValueError(f"depths = {deepest}; accepted: at most {validate.MAX_DEPTH:,} blocks")
    count = len(schemes) * len(widths) * len(depth_list) * len(log2_lrs) * seeds
    if count > validate.MAX_RUNS:  # checked before a single RunConfig is built
        raise ValueError(
            f"the sweep grid has {count:,} runs ({len(schemes)} schemes x {len(widths)} widths x "
            f"{len(depth_list)} depths x {len(log2_lrs)} learning rates x {seeds} seeds); "
            f"accepted: at most {validate.MAX_RUNS:,}"
        )
    if depths is not None:
        fixed.setdefault("base_depth", min(d for d in depth_list if d is not None))
    _check_sizes(model, widths, max(deepest, default=None), fixed.get("device", "cpu"))
    return [
        RunConfig(model, s, optimizer, w, float(lr), seed, depth=d, **fixed)
        for s in schemes
        for w in widths
        for d in depth_list
        for lr in log2_lrs
        for seed in range(seeds)
    ]


def _check_model(model: str, fixed: dict) -> None:
    """A built-in model name, or a user model whose factory, batches and loss load."""
    if is_user_model(model):
        load_object(model, "model")
        if not fixed.get("batch_fn"):
            raise ValueError(f"model {model!r} needs batch_fn='package.module:fn' (index -> batch)")
        load_object(fixed["batch_fn"], "batch")
        if fixed.get("loss_fn"):
            load_object(fixed["loss_fn"], "loss")
    else:
        validate.choice(model, MODELS, "model")
        for name in ("batch_fn", "loss_fn"):
            if fixed.get(name):
                raise ValueError(
                    f"{name} is for a user model (package.module:factory), not {model!r}"
                )


def _check_settings(fixed: dict, model: str, optimizer: str) -> None:
    """The other RunConfig fields: known names, valid values (normalised in place), and the ones
    that need a given optimizer or model."""
    settable = [f.name for f in fields(RunConfig)][6:]  # after model .. seed
    unknown = set(fixed) - set(settable)
    if unknown:
        raise ValueError(
            f"unknown sweep settings {sorted(unknown)}; accepted: {', '.join(settable)}"
        )
    for name in ("steps", "base_width", "batch", "base_depth"):
        if fixed.get(name) is not None:
            fixed[name] = validate.positive_int(fixed[name], name)
    if "trace_every" in fixed:
        fixed["trace_every"] = validate.positive_int(fixed["trace_every"], "trace_every", minimum=0)
    if "z_loss" in fixed:
        fixed["z_loss"] = validate.positive_float(fixed["z_loss"], "z_loss", allow_zero=True)
    if "eps" in fixed:
        fixed["eps"] = validate.positive_float(fixed["eps"], "eps")
    if "warmup" in fixed:
        fixed["warmup"] = validate.positive_int(fixed["warmup"], "warmup", minimum=0)
    if fixed.get("weight_decay"):
        fixed["weight_decay"] = validate.positive_float(fixed["weight_decay"], "weight_decay")
        if optimizer != "adamw":
            raise ValueError(
                f"weight_decay = {fixed['weight_decay']:g} with optimizer {optimizer!r}; "
                f"accepted: optimizer 'adamw' (independent decay), or weight_decay = 0"
            )
    convention = fixed.get("decay_convention", "independent")
    if convention not in WEIGHT_DECAY_CONVENTIONS:
        raise ValueError(
            f"decay_convention = {convention!r}; accepted: {', '.join(WEIGHT_DECAY_CONVENTIONS)}"
        )
    if fixed.get("qk_layernorm") and model != "transformer":
        raise ValueError(
            f"qk_layernorm = True needs model 'transformer' (attention); got {model!r}"
        )


def _check_sizes(model: str, widths: list[int], depth: int | None, device: str) -> None:
    """Before any worker starts: the device exists here, and the largest model of the grid (built
    on the meta device: shapes only) fits in its free memory (abcparam.coordcheck.resources)."""
    # torch boundary: `import abcparam.transfer` stays light; torch loads when a run trains
    from ..coordcheck.resources import check_resources

    def build(width: int):
        # torch boundary: `import abcparam.transfer` stays light; torch loads when a run trains
        from ..torch import ResidualMLP, build_model

        if model == "mlp":
            if depth is None:
                return build_model("mlp", width, depth=2, in_dim=64, out_dim=10)
            return ResidualMLP(width, depth=depth, in_dim=64, out_dim=10)
        # the pydoc text's vocabulary has about a hundred characters
        return build_model("transformer", width, n_layers=depth or 2, vocab=128, context=32)

    check_resources(build, widths, 1, device)


#: what resuming needs of a line: its identity and its result
ROW_FIELDS = ("key", "val_loss")


def _bad_row(row) -> str | None:
    if not isinstance(row, dict):
        return f"a {type(row).__name__}, not a run (a JSON object)"
    missing = [k for k in ROW_FIELDS if k not in row]
    if missing:
        return f"missing {', '.join(missing)}"
    if not isinstance(row["key"], str):
        return f"key = {row['key']!r} is not a run key (a string)"
    loss = row["val_loss"]
    if loss is not None and (isinstance(loss, bool) or not isinstance(loss, int | float)):
        return f"val_loss = {loss!r} is not a number"
    return None


def finished(path: Path) -> dict[str, dict]:
    """Results already in the JSON-lines file, by key.  A line that is not a run (not UTF-8, not
    JSON, or missing fields, or a loss that is not a number) is reported with the file and its
    line number (a warning) and skipped, so that run is redone; a torn last line (an interrupted
    write) too."""
    done: dict[str, dict] = {}
    if not path.exists():
        return done

    def warn(message: str) -> None:
        warnings.warn(message, stacklevel=3)

    lines = list(read_lines(path, warn))
    last = max((n for n, line in lines if line.strip()), default=0)
    for number, line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            why = "torn last line (interrupted write)" if number == last else err.msg
            warn(f"{path}: line {number}: {why}; skipped")
            continue
        bad = _bad_row(row)
        if bad:
            warn(f"{path}: line {number}: {bad}; skipped")
            continue
        if row["val_loss"] is None:  # written as null: the run diverged
            row["val_loss"] = math.inf
        done[row["key"]] = row
    return done


def run_sweep(
    configs: list[RunConfig],
    results: str | Path,
    backend: str = "local",
    workers: int | None = None,
    progress: bool = True,
    gpus_per_run: float = 1.0,
    batched: bool = False,
) -> list[dict]:
    """Run every config not yet in ``results`` (JSON lines), appending each as it finishes;
    ``backend="ray"``: one Ray task per run, asking for ``gpus_per_run`` GPUs on CUDA.
    ``batched``: the runs that differ only in LR and seed train as one stacked model
    (:mod:`abcparam.transfer.batched`, losses equal to 1e-5; ``workers`` = its torch threads),
    refused before any training, naming what is unsupported, when a run cannot be batched."""
    from tqdm.std import tqdm  # no notebook-widget probe (it warns on book pages)

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    path = Path(results)
    if batched:
        # import cycle: batched*.py build on this module's RunConfig, build_run, divergence
        from .batched import run_batched_sweep
        from .batched_support import check_batched

        if backend != "local":
            raise ValueError(f"batched = True runs locally; backend {backend!r}; accepted: local")
        check_batched(configs)
        with claim(path.parent, name="results folder"), interrupt_on_sigterm():
            return run_batched_sweep(configs, path, threads=workers or 1, progress=progress)
    with claim(path.parent, name="results folder"):  # one sweep at a time writes this file
        done = finished(path)
        todo = [c for c in configs if c.key not in done]
        bar = tqdm(total=len(todo), desc="sweep", disable=not progress)

        def record(row):
            # strict JSON: a diverged run's inf loss is written as null ("diverged": true); each
            # line starts fresh and is fsynced, so a torn line never costs the next result
            append_line(path, dumps_strict(row, indent=None))
            done[row["key"]] = row
            bar.update()

        with interrupt_on_sigterm():
            if backend == "ray":
                _run_ray(todo, record, gpus_per_run)
            elif workers == 1:
                for cfg in todo:
                    record(train(cfg))
            elif todo:
                _run_pool(todo, record, workers or os.cpu_count() or 1)
    bar.close()
    return [done[c.key] for c in configs]


def _run_ray(todo: list[RunConfig], record, gpus_per_run: float = 1.0) -> None:
    """Submit every run as a Ray task (``ray.init()`` joins the cluster in RAY_ADDRESS, or
    starts a local one, unless the caller has already called it); a CUDA run asks for
    ``gpus_per_run`` GPUs, a CPU run for one CPU.  Workers get the driver's ``sys.path`` so they
    import the same abcparam and the user's factory.  Results are recorded as they arrive; on an
    interrupt or a failure the remaining tasks are cancelled (finished lines stay, so a rerun
    resumes)."""
    import sys

    try:
        import ray
    except ImportError:
        raise RuntimeError(
            "backend 'ray' needs Ray: pip install 'abcparam[cluster]' (or use backend='local')"
        ) from None
    if not todo:
        return
    ray.init(ignore_reinit_error=True)
    path = os.pathsep.join(p for p in sys.path if p and Path(p).exists())
    env = {"env_vars": {"PYTHONPATH": path}}
    tasks: dict[float, Any] = {}  # Ray remote functions (Ray ships no type hints)
    pending = []
    for c in todo:
        gpus = gpus_per_run if c.device.startswith("cuda") else 0
        if gpus not in tasks:
            tasks[gpus] = ray.remote(num_cpus=1, num_gpus=gpus)(train).options(runtime_env=env)
        pending.append(tasks[gpus].remote(c))
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            record(ray.get(ready[0]))
    except BaseException:  # interrupted (SIGINT/SIGTERM) or failed: stop the remaining tasks
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def _run_pool(todo: list[RunConfig], record, workers: int) -> None:
    """Run in a local process pool; if interrupted or failing, kill its workers (they hold
    nothing: every result is written by this process) instead of orphaning them.  CUDA runs use
    spawned workers (a forked child cannot use CUDA once its parent has)."""
    import multiprocessing

    cuda = any(c.device.startswith("cuda") for c in todo)
    pool = worker_pool(workers, multiprocessing.get_context("spawn") if cuda else None)
    try:
        for fut in as_completed([pool.submit(train, c) for c in todo]):
            record(fut.result())
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        for process in processes:
            process.join(timeout=10)
        raise
    pool.shutdown()


def worker_pool(workers: int, mp_context=None) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process, even on SIGKILL (a parent-death
    signal set in each worker, :func:`abcparam.interrupt.die_with_parent`)."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp_context,
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
