"""A coordinate check on any torch model: ``check(factory, rules, batch)``.

The user's ``factory(width)`` builds the model at each width; :func:`abcparam.torch.parametrize`
applies the rules (layer kinds from the shapes that change between the base width and the
width, as mup's base shapes do); the model's graph is discovered once from one forward pass
(:func:`abcparam.torch.discover_topology`), and that one topology is what the recorder measures
and what the engine's slope predictions (``predict_slopes``) read.  Everything else is the
built-in check's: the same training loop, records, fits, preset and measured-alignment
predictions, flags, results.json schema and plots (Everett et al. 2024; TP-V App. D for the
fixed-batch convention).  The built-in models are factories like any other (builtin.py): this
is the one training path of every width check.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

from .. import validate
from ..engine.rules import rules as derive_scheme
from ..engine.rules_table import Rules
from ..interrupt import interrupt_on_sigterm
from ..outfolder import config_hash
from ..torch import build_optimizer, discover_topology, parametrize
from ..torch.losses import with_z_loss
from ..torch.usage import raw_layouts
from .compare import compare
from .inputs import PartialRuns, claim_out
from .judge import require_decay
from .options import CheckOptions
from .raw import raw_use
from .record import Recorder, call_model, recordable
from .resources import FactoryError, check_resources
from .result import CoordCheckConfig, CoordCheckResult, save
from .train import train

Batch = tuple[Any, Any]


def default_loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits (the output, or its ``.logits`` as Hugging Face models return)
    against integer targets of the same leading shape."""
    logits = getattr(output, "logits", output)
    if not torch.is_tensor(logits) or not logits.is_floating_point():
        raise TypeError(
            f"the model returned {type(output).__name__}, not logits (a float tensor, or an object "
            f"with .logits): pass loss=fn(output, target) -> scalar tensor"
        )
    if not torch.is_tensor(target) or target.shape != logits.shape[:-1]:
        got = tuple(target.shape) if torch.is_tensor(target) else type(target).__name__
        raise ValueError(
            f"targets of shape {got} do not match logits {tuple(logits.shape)}: the default loss "
            f"needs integer class targets shaped like the logits without their last dimension; "
            f"or pass loss=fn(output, target)"
        )
    if target.is_floating_point():
        raise TypeError(
            f"your batch gives {str(target.dtype).removeprefix('torch.')} targets; the default "
            f"loss (cross-entropy) needs integer class indices (int64), or pass loss=fn(output, "
            f"target)"
        )
    classes = logits.shape[-1]
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= classes):
        raise ValueError(
            f"your batch gives targets in [{int(target.min())}, {int(target.max())}]; the model "
            f"has {classes} classes, so the default loss accepts targets in [0, {classes - 1}]"
        )
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


def _batch_fn(batch: Any) -> Callable[[int], Batch]:
    """``batch``: (inputs, targets), or a function seed -> (inputs, targets)."""
    if callable(batch):
        try:
            inspect.signature(batch).bind(0)
        except TypeError:
            raise TypeError(
                f"batch function {getattr(batch, '__name__', batch)!r} must take one argument "
                f"(the seed) and return (inputs, targets)"
            ) from None
        except ValueError:  # a builtin without a signature: try it
            pass
        fn = batch
    else:
        fn = lambda seed: batch  # noqa: E731

    def checked(seed: int) -> Batch:
        got = fn(seed)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise TypeError(
                f"the batch must be (inputs, targets); got {type(got).__name__}"
                + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
            )
        return got[0], got[1]

    return checked


def _base_model(factory: Callable[[int], nn.Module], width: int) -> nn.Module:
    """The model at the base width, shapes only when the factory builds on the meta device."""
    try:
        with torch.device("meta"):
            return factory(width)
    except Exception:  # a factory that needs real tensors (e.g. it initialises from data)
        return factory(width)


def check(
    factory: Callable[[int], nn.Module],
    rules: Rules | str,
    batch: Any,
    options: CheckOptions | None = None,
    *,
    loss: Callable[[Any, Any], torch.Tensor] | None = None,
    layer_map: dict[str, str] | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    name: str = "custom",
    distributed: bool = False,
    overwrite: bool = False,
    describe: Mapping[str, Any] | None = None,
    **option_fields: Any,
) -> CoordCheckResult:
    """Train ``factory(width)`` for ``steps`` steps at each width and seed on the fixed batch,
    record every layer of the discovered topology, fit width slopes and compare them with the
    engine's predictions from ``rules``; write results.json and plots to ``out`` if given.

    ``options``: a :class:`CheckOptions` (widths, steps, seeds, lr, ...); its fields may also be
    given as keywords (``check(make, rules, batch, widths=(128, 256, 512))``).  ``batch``:
    (inputs, targets) or ``fn(seed) -> (inputs, targets)``; inputs a tensor, a tuple of
    positional arguments or a dict of keyword arguments.  ``loss(output, targets)`` defaults to
    cross-entropy on the logits (or ``output.logits``).  The optimizer is the one the rules were
    derived for, with per-layer groups (:func:`abcparam.torch.build_optimizer`); the model is
    built and parametrized on the CPU, then moved to ``options.device``.  With
    ``options.fresh_batches`` step t trains on ``batch(seed * 100_003 + t)`` (a function is
    needed; one with a ``stream(seed)`` method, as the built-in models' batches, gives its
    stream's t-th batch instead) and every step is measured on the first batch.  ``rules`` may
    be a scheme's name (``"mup"``).  ``describe``: CoordCheckConfig fields saved in the results
    (the built-in models' name, depth, batch size).  With ``out``, each finished (width, seed)
    run is kept in ``partial.json`` and a rerun of the same configuration resumes from it;
    another configuration's results there are refused unless ``overwrite``; the factory's and
    the batch's failures are reported as theirs before training (exit 2 on the command line).
    ``distributed``: under ``torchrun`` the (width, seed) runs are shared among the ranks and
    their records gathered (:func:`_ranks`); rank 0 writes ``out``.

    ``options.vary == "depth"``: the depth check of a built-in residual model (depth_axis.py):
    ``factory(width, depth)``, ``name`` the model's (mlp or transformer); returns a
    :class:`~abcparam.coordcheck.depth.DepthCheckResult`."""
    started = time.time()
    options = CheckOptions.of(options, **option_fields)
    if options.vary == "depth":
        # import cycle: depth_axis builds on this module's _rules, _batch_fn, default_loss
        from .depth_axis import check_depth

        return check_depth(  # type: ignore[return-value]
            factory,
            rules,
            batch,
            options,
            loss=loss,
            out=out,
            progress=progress,
            name=name,
            describe=describe,
        )
    plan = _plan(factory, rules, batch, options, loss, layer_map, out, name, describe)
    return _check_width(plan, options, out, progress, name, distributed, overwrite, started)


def _check_width(plan, options, out, progress, name, distributed, overwrite, started):
    """The width check's runs (shared among ranks, resumable from ``out``), compared and saved."""
    rank, world = _ranks(distributed)
    all_runs = [(w, s) for w in options.widths for s in range(options.seeds)]
    if world > len(all_runs):
        raise ValueError(
            f"a distributed check shares its {len(all_runs)} (width, seed) runs among the ranks: "
            f"{world} ranks need at least {world} runs (more widths or seeds)"
        )
    device = options.device
    if world > 1 and device.startswith("cuda") and ":" not in device:
        device = f"cuda:{os.environ.get('LOCAL_RANK', rank)}"
    own_out = out if rank == 0 else None  # one writer: rank 0
    with claim_out(own_out, plan.key, overwrite):
        partial = PartialRuns(own_out, plan.config, plan.key, started)
        state = _Runs(device=device)
        mine = [run for i, run in enumerate(all_runs) if i % world == rank]
        todo = [run for run in mine if not partial.finished(*run)]
        with interrupt_on_sigterm():  # SIGTERM as Ctrl-C: finished runs stay in partial.json
            bar = tqdm(todo, desc=f"coord-check {name}", disable=not progress or rank != 0)
            for width, seed in bar:
                first = len(partial.records), len(partial.nonfinite)
                _train_run(plan, state, width, seed, partial)
                partial.add(width, seed)  # nothing lost: every finished run is on disk
                state.per_run[all_runs.index((width, seed))] = (
                    partial.records[first[0] :],
                    partial.nonfinite[first[1] :],
                )
        if not todo:  # all resumed: the first width again, for the graph only (no training)
            _setup_run(plan, state, options.base, 0)
        records, nonfinite = partial.records, partial.nonfinite
        if world > 1:
            records, nonfinite = _gather(state.per_run, world)
        try:
            result = _compare(plan, state, records, nonfinite)
        except Exception as err:
            partial.save(error=f"{type(err).__name__}: {err}")
            raise
        if own_out is not None:
            save(result, own_out, started=started, config_hash=plan.key)
            partial.finish()
    return result


@dataclass
class _Plan:
    """One check's validated inputs: what to build, train on and compare, and its identity."""

    factory: Callable[[int], nn.Module]
    rules: Rules
    get_batch: Callable[[int], Batch]
    stream: Callable[[int], Iterator[Batch]] | None
    loss_fn: Callable[[Any, Any], torch.Tensor]
    options: CheckOptions
    layer_map: dict[str, str] | None
    base: nn.Module
    delta: nn.Module
    config: CoordCheckConfig
    key: str


@dataclass
class _Runs:
    """What the runs of one check share: the graph (discovered once), the recorded layers, the
    model of the last run and each run's records (gathered across ranks)."""

    device: str
    topology: Any = None
    layouts: dict | None = None  # raw parameters' layouts: their modules become recordable
    layers: list[tuple[str, str]] = field(default_factory=list)
    unrecorded: list[dict] | None = None
    model: nn.Module | None = None
    per_run: dict[int, tuple[list, list]] = field(default_factory=dict)


def _plan(
    factory, rules: Rules | str, batch, options: CheckOptions, loss, layer_map, out, name, describe
):
    """Check every input before any training and fix the check's configuration and hash."""
    if not callable(factory):
        raise TypeError(f"factory must be a function width -> nn.Module; got {factory!r}")
    rules = _rules(rules)
    if out is not None:
        validate.writable_dir(out, "out")  # before any training, not at save time
    if options.fresh_batches and not callable(batch):
        raise TypeError("fresh_batches=True needs batch to be a function seed -> (inputs, targets)")
    require_decay(rules.optimizer, options.weight_decay)
    builtin = getattr(factory, "builtin", False)  # the built-in models' errors are not "yours"
    check_resources(factory, options.widths, options.steps, options.device, yours=not builtin)
    get_batch = _batch_fn(batch)
    # z_loss > 0 adds z_loss * log^2 Z of the logits (Wortsman et al. 2023): any model
    loss_fn = with_z_loss(loss or default_loss, options.z_loss)
    base_width = options.base
    base = _base_model(factory, base_width)
    other = next(w for w in sorted(options.widths) if w != base_width)
    delta = _base_model(factory, other)  # tells width-growing dims apart at the base width
    config = CoordCheckConfig(
        model=name,
        scheme=getattr(rules, "scheme", None) or "custom",
        optimizer=rules.optimizer,
        alignment=getattr(rules, "alignment", "custom"),
        widths=options.widths,
        steps=options.steps,
        seeds=options.seeds,
        lr=options.base_lr(rules.optimizer),
        base_width=base_width,
        tolerance=options.tolerance,
        alignment_measured=options.alignment_measured,
        device=options.device,
        fixed_batch=not options.fresh_batches,
        autocast=options.autocast,
    )
    config = _described(config, describe)
    key = config_hash(
        {
            **config.to_dict(),
            "rules": rules.to_dict(),
            "layer_map": layer_map,
            "weight_decay": options.weight_decay,
            "zero_readout": options.zero_readout,
            "z_loss": options.z_loss,
            "batch": getattr(batch, "__qualname__", None),
            "loss": getattr(loss, "__qualname__", None),
        }
    )
    stream = getattr(batch, "stream", None)
    return _Plan(
        factory, rules, get_batch, stream, loss_fn, options, layer_map, base, delta, config, key
    )


def _described(config: CoordCheckConfig, describe: Mapping[str, Any] | None) -> CoordCheckConfig:
    """``config`` with the fields ``describe`` names (the built-in models' name, depth, batch)."""
    names = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(describe or {}) - set(names))
    if unknown:
        raise TypeError(f"describe names {unknown[0]!r}; accepted: {', '.join(names)}")
    return dataclasses.replace(config, **dict(describe or {}))


def _setup_run(plan: _Plan, state: _Runs, width: int, seed: int):
    """Build, parametrize and move one run's model; the first run discovers the graph and
    which of its layers the recorder measures.  Returns (model, optimizer, probe batch)."""
    torch.manual_seed(seed)
    model = _call_factory(plan.factory, width)
    first = _first_batch(plan.get_batch, seed)
    _try_forward(model, first[0])  # the batch's and the forward's faults, named
    spec = parametrize(
        model,
        plan.rules,
        base=plan.base,
        layer_map=plan.layer_map,
        seed=seed,
        delta=plan.delta if width == plan.options.base else None,
        zero_readout=plan.options.zero_readout,
        example_batch=first[0],  # raw parameters' layouts, attention calls
    )
    model.to(state.device)
    lr = plan.options.base_lr(plan.rules.optimizer)
    opt = build_optimizer(model, spec, lr=lr, weight_decay=plan.options.weight_decay)
    inputs, targets = (_to_device(t, state.device) for t in first)
    if state.topology is None:
        state.topology = _first_forward(model, inputs, targets, plan.loss_fn, spec)
        state.layouts = raw_layouts(model, inputs)
    state.layers = [
        (n, k) for n, k in state.topology.chain() if recordable(_module(model, n), n, state.layouts)
    ]
    if state.unrecorded is None:
        names = {n for n, _ in state.layers}
        state.unrecorded = _unrecorded(model, state.topology, names, spec.kinds)
    state.model = model
    return model, opt, (inputs, targets)


def _train_run(plan: _Plan, state: _Runs, width: int, seed: int, partial: PartialRuns) -> None:
    """Train and record one (width, seed) run into ``partial``."""
    model, opt, probe = _setup_run(plan, state, width, seed)
    if not state.layers:
        raise ValueError(
            "no layer of this model can be recorded (nn.Linear, nn.Embedding, "
            "convolutions, Hugging Face Conv1D or nn.MultiheadAttention)"
        )
    options = plan.options
    recorder = Recorder(
        model,
        state.layers,
        options.alignment_measured,
        width=width,
        seed=seed,
        layouts=state.layouts,
    )
    loss_fn = plan.loss_fn
    if options.autocast:
        model.forward = _autocast(model.forward, state.device, getattr(torch, options.autocast))
        loss_fn = _float_loss(plan.loss_fn)
    batches: Iterable
    rest: Iterable[Batch]
    if not options.fresh_batches:
        batches = itertools.repeat(probe, options.steps)
    else:  # drawn one step at a time, never all at once
        if plan.stream is not None:  # the batch's own stream: step t trains on its t-th batch
            rest = itertools.islice(plan.stream(seed), 1, options.steps)
        else:
            rest = (plan.get_batch(seed * 100_003 + step) for step in range(1, options.steps))
        batches = itertools.chain([probe], (_to_device(b, state.device) for b in rest))
    fixed = not options.fresh_batches
    train(model, opt, loss_fn, batches, recorder, partial.records, partial.nonfinite, fixed)
    recorder.remove()


def _compare(plan: _Plan, state: _Runs, records, nonfinite) -> CoordCheckResult:
    """Fit and predict (compare.py), then note what the recorder could not measure and which
    raw parameters' modules it measured through their observed layouts (raw.py)."""
    result = compare(plan.config, plan.rules, records, nonfinite, topology=state.topology)
    result.config["unrecorded"] = state.unrecorded or []
    model = state.model
    result.config["raw_recorded"] = [
        {"name": n, "kind": k, "form": use.form}
        for n, k in state.layers
        if model is not None and (use := raw_use(_module(model, n), n, state.layouts)) is not None
    ]
    return result


def _autocast(forward, device: str, dtype):
    """``forward`` run under ``torch.autocast`` (mixed precision: matmuls in ``dtype``)."""

    def run(*args, **kwargs):
        with torch.autocast(torch.device(device).type, dtype=dtype):
            return forward(*args, **kwargs)

    return run


def _float_loss(loss_fn):
    """``loss_fn`` on float32 logits: the forward ran under autocast, the loss does not."""

    def loss(output, target):
        if torch.is_tensor(output) and output.is_floating_point():
            output = output.float()
        return loss_fn(output, target)

    return loss


def _rules(rules: Rules | str) -> Rules:
    """The rules to check: a Rules object, or a scheme's name (``"mup"``: its derived rules)."""
    if isinstance(rules, str):
        return derive_scheme(rules)
    if not isinstance(rules, Rules):
        raise TypeError(
            f"rules = {rules!r} ({type(rules).__name__}); accepted: abcparam Rules "
            f"(abcparam.rules(...) or abcparam.derive(...)) or a scheme name such as 'mup'"
        )
    return rules


def _call_factory(factory: Callable[[int], nn.Module], width: int) -> nn.Module:
    """``factory(width)``, its failures reported as the factory's (bad input, before training)."""
    try:
        model = factory(width)
    except Exception as err:  # noqa: BLE001 - the user's code: named as such
        raise FactoryError(
            f"your factory raised {type(err).__name__} at width {width}: {err}"
        ) from None
    if not isinstance(model, nn.Module):
        raise FactoryError(
            f"your factory returned {type(model).__name__} at width {width}, not an nn.Module"
        )
    return model


def _first_batch(get_batch: Callable[[int], Batch], seed: int) -> Batch:
    """The probe batch, its function's failures and non-finite inputs named before training (a
    NaN in the data is the data's fault, never the learning rate's)."""
    try:
        inputs, targets = get_batch(seed)
    except (TypeError, ValueError) as err:
        if "the batch must be" in str(err):
            raise
        raise FactoryError(f"your batch function raised {type(err).__name__}: {err}") from None
    except Exception as err:  # noqa: BLE001
        raise FactoryError(f"your batch function raised {type(err).__name__}: {err}") from None
    for what, value in (("inputs", inputs), ("targets", targets)):
        for t in _tensors(value):
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise FactoryError(
                    f"your batch gives non-finite {what} (nan or inf) for seed {seed}; fix the "
                    f"data (this is not a learning-rate problem)"
                )
    return inputs, targets


def _tensors(obj: Any) -> list[torch.Tensor]:
    if torch.is_tensor(obj):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _first_forward(model, inputs, targets, loss_fn, spec):
    """Discover the graph from one forward pass and check the loss on it, before training; the
    forward's failures are named with what the batch gives and the first layer expects."""
    try:
        topology = discover_topology(model, inputs, spec)
    except Exception as err:  # noqa: BLE001 - the user's model or data
        raise FactoryError(_forward_failure(model, inputs, err)) from None
    _check_output(model, inputs, targets, loss_fn)
    return topology


def _try_forward(model: nn.Module, inputs: Any) -> None:
    """One forward of the fresh model on the probe inputs, before parametrize observes it: a
    failure is the user's batch or model, reported as such (not as a parametrize error)."""
    try:
        with torch.no_grad():
            call_model(model, inputs)
    except Exception as err:  # noqa: BLE001 - the user's model or data
        raise FactoryError(_forward_failure(model, inputs, err)) from None


def _forward_failure(model: nn.Module, inputs: Any, err: BaseException) -> str:
    """Why the model's forward failed on the batch: a dtype the first layer cannot take, else
    the error itself."""
    first = next(
        (
            m
            for m in model.modules()
            if isinstance(m, (nn.Linear, nn.Embedding, nn.modules.conv._ConvNd))
        ),
        None,
    )
    given = _tensors(inputs)
    if first is not None and given:
        dtype = given[0].dtype
        if isinstance(first, nn.Embedding) and dtype.is_floating_point:
            return (
                f"your batch gives {str(dtype).removeprefix('torch.')} inputs; the model's first "
                f"layer (an embedding) expects integer token ids (int64)"
            )
        weight = getattr(first, "weight", None)
        if (
            not isinstance(first, nn.Embedding)
            and weight is not None
            and not dtype.is_floating_point
        ):
            return (
                f"your batch gives {str(dtype).removeprefix('torch.')} inputs; the model's first "
                f"layer expects {str(weight.dtype).removeprefix('torch.')}"
            )
    return f"the model's forward on your batch raised {type(err).__name__}: {err}"


def _unrecorded(
    model: nn.Module, topology: Any, recorded: set[str], kinds: dict[str, str]
) -> list[dict]:
    """Every layer of the topology the recorder cannot measure, and every layer with a matrix
    parameter that did not run in the forward: {name, kind, why, ran}."""
    out = []
    for name, kind in topology.chain():
        if name in recorded:
            continue
        module = _module(model, name)
        what = (
            "a raw parameter (no layer module the recorder hooks)"
            if module is model and name not in dict(model.named_modules())
            else f"a {type(module).__name__}, not a layer type the recorder measures"
        )
        out.append({"name": name, "kind": kind, "why": what, "ran": True})
    for name in topology.unused:
        kind = next((k for p, k in kinds.items() if p.startswith(name + ".")), "unknown")
        out.append({"name": name, "kind": kind, "why": "did not run in the forward", "ran": False})
    return out


def _ranks(distributed: bool) -> tuple[int, int]:
    """(rank, world size): (0, 1) unless ``distributed`` under an initialised process group.
    Each statistic still comes from one whole run, as in one process; rank 0 keeps the partial
    file of its own runs; on CUDA each rank trains on its ``LOCAL_RANK`` device."""
    if not distributed:
        return 0, 1
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "distributed=True needs an initialised torch.distributed process group (launch with "
            "torchrun and call torch.distributed.init_process_group first)"
        )
    return dist.get_rank(), dist.get_world_size()


def _gather(per_run: dict[int, tuple[list, list]], world: int) -> tuple[list, list]:
    """Every rank's records and non-finite rows, in the one-process order of the runs (each
    rank keeps the topology it discovered: names, kinds and edges do not depend on width)."""
    import torch.distributed as dist

    parts: list = [None] * world
    dist.all_gather_object(parts, per_run)  # records are small frozen dataclasses
    merged = {i: run for part in parts for i, run in part.items()}
    records = [r for i in sorted(merged) for r in merged[i][0]]
    nonfinite = [r for i in sorted(merged) for r in merged[i][1]]
    return records, nonfinite


def _to_device(obj: Any, device: str) -> Any:
    """Tensors in ``obj`` (a tensor, tuple, list or dict of them) moved to ``device``."""
    if torch.is_tensor(obj):
        return obj.to(device)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def _module(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        return model  # a raw-parameter node: not recordable


def _check_output(model, inputs, targets, loss_fn) -> None:
    """One forward before training: the loss must be a scalar tensor (clear error otherwise)."""
    with torch.no_grad():
        value = loss_fn(call_model(model, inputs), targets)
    if not (torch.is_tensor(value) and value.dim() == 0 and value.is_floating_point()):
        raise TypeError(
            f"loss returned {type(value).__name__}"
            + (f" of shape {tuple(value.shape)}" if torch.is_tensor(value) else "")
            + ": it must return a scalar float tensor"
        )
