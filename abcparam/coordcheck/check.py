"""A coordinate check on any torch model: ``check(factory, rules, batch)``.

The user's ``factory(width)`` builds the model at each width; :func:`abcparam.torch.parametrize`
applies the rules (layer kinds from the shapes that change between the base width and the
width, as mup's base shapes do); the model's graph is discovered once from one forward pass
(:func:`abcparam.torch.discover_topology`), and that one topology is what the recorder measures
and what the engine's slope predictions (``predict_slopes``) read.  Everything else is the
built-in check's: the same training loop, records, fits, preset and measured-alignment
predictions, flags, results.json schema and plots (Everett et al. 2024; TP-V App. D for the
fixed-batch convention).
"""

from __future__ import annotations

import inspect
import itertools
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

from ..interrupt import interrupt_on_sigterm
from ..outfolder import config_hash
from ..torch.losses import with_z_loss
from ..torch.usage import raw_layouts
from .inputs import PartialRuns, claim_out
from .judge import require_decay
from .raw import raw_use
from .record import Recorder, call_model, recordable
from .resources import FactoryError, check_resources
from .run import DEFAULT_LR, NORMALISED_LR, CoordCheckConfig, CoordCheckResult, compare, save, train

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
    rules: Any,
    batch: Any,
    loss: Callable[[Any, Any], torch.Tensor] | None = None,
    widths: Sequence[int] = (128, 256, 512),
    steps: int = 3,
    seeds: int = 2,
    lr: float | None = None,
    base_width: int | None = None,
    tolerance: float = 0.15,
    alignment_measured: bool = True,
    layer_map: dict[str, str] | None = None,
    weight_decay: float = 0.0,
    out: str | Path | None = None,
    progress: bool = True,
    name: str = "custom",
    device: str = "cpu",
    fresh_batches: bool = False,
    zero_readout: bool = False,
    distributed: bool = False,
    overwrite: bool = False,
    z_loss: float = 0.0,
) -> CoordCheckResult:
    """Train ``factory(width)`` for ``steps`` steps at each width and seed on the fixed batch,
    record every layer of the discovered topology, fit width slopes and compare them with the
    engine's predictions from ``rules``; write results.json and plots to ``out`` if given.

    ``batch``: (inputs, targets) or ``fn(seed) -> (inputs, targets)``; inputs a tensor, a tuple
    of positional arguments or a dict of keyword arguments.  ``z_loss``: add ``z_loss * log^2 Z``
    of the logits to the loss (Wortsman et al. 2023).  ``loss(output, targets)`` defaults to
    cross-entropy on the logits (or ``output.logits``).  The optimizer is the one the rules were
    derived for, with per-layer groups (:func:`abcparam.torch.build_optimizer`).  ``device``:
    where to train (the model is built and parametrized on the CPU, then moved).
    ``fresh_batches``: step t trains on ``batch(seed * 100_003 + t)`` (a function is needed) and
    every step is measured on the first batch, as the built-in check's fresh-batch mode does.
    ``zero_readout``: start the readout at zero (TP-V's suggestion; :func:`parametrize`).
    ``rules`` may be a scheme's name (``"mup"``).  With ``out``, each finished (width, seed) run
    is kept in ``partial.json`` and a rerun of the same configuration resumes from it; another
    configuration's results there are refused unless ``overwrite``; the factory's and the batch's
    failures are reported as theirs before training (exit 2 on the command line).
    ``distributed``: under ``torchrun`` (an initialised ``torch.distributed``), the (width, seed)
    runs are shared among the ranks and every rank's records are gathered, so each statistic
    comes from one whole run, as in one process; rank 0 writes ``out`` (and keeps the partial
    file of its own runs).  On CUDA each rank trains on its ``LOCAL_RANK`` device."""
    from .. import validate
    from ..torch import build_optimizer, parametrize

    started = time.time()
    if not callable(factory):
        raise TypeError(f"factory must be a function width -> nn.Module; got {factory!r}")
    rules = _rules(rules)
    widths = validate.widths(widths)
    steps = validate.positive_int(steps, "steps")
    seeds = validate.positive_int(seeds, "seeds")
    tolerance = validate.positive_float(tolerance, "tolerance")
    weight_decay = validate.positive_float(weight_decay, "weight_decay", allow_zero=True)
    if lr is not None:
        lr = validate.positive_float(lr, "lr")
    if base_width is not None:
        base_width = validate.positive_int(base_width, "base_width")
    for flag, what in (
        (alignment_measured, "alignment_measured"),
        (fresh_batches, "fresh_batches"),
    ):
        validate.boolean(flag, what)
    validate.boolean(zero_readout, "zero_readout")
    if out is not None:
        validate.writable_dir(out, "out")  # before any training, not at save time
    if fresh_batches and not callable(batch):
        raise TypeError("fresh_batches=True needs batch to be a function seed -> (inputs, targets)")
    require_decay(rules.optimizer, weight_decay)
    check_resources(factory, widths, steps, device, yours=True)  # every width, before any trains
    get_batch = _batch_fn(batch)
    # z_loss > 0 adds z_loss * log^2 Z of the logits (Wortsman et al. 2023): any model
    loss_fn = with_z_loss(loss or default_loss, z_loss)
    base_width = base_width or min(widths)
    base = _base_model(factory, base_width)
    other = next(w for w in sorted(widths) if w != base_width)
    delta = _base_model(factory, other)  # tells width-growing dims apart at the base width
    base_lr = lr if lr is not None else DEFAULT_LR.get(rules.optimizer, NORMALISED_LR)
    config = CoordCheckConfig(
        model=name,
        scheme=getattr(rules, "scheme", None) or "custom",
        optimizer=rules.optimizer,
        alignment=getattr(rules, "alignment", "custom"),
        widths=widths,
        steps=steps,
        seeds=seeds,
        lr=base_lr,
        base_width=base_width,
        tolerance=tolerance,
        alignment_measured=alignment_measured,
        device=device,
        fixed_batch=not fresh_batches,
    )
    key = config_hash(
        {
            **config.to_dict(),
            "rules": rules.to_dict(),
            "layer_map": layer_map,
            "weight_decay": weight_decay,
            "zero_readout": zero_readout,
            "batch": getattr(batch, "__qualname__", None),
            "loss": getattr(loss, "__qualname__", None),
        }
    )
    rank, world = _ranks(distributed)
    all_runs = [(w, s) for w in widths for s in range(seeds)]
    if world > len(all_runs):
        raise ValueError(
            f"a distributed check shares its {len(all_runs)} (width, seed) runs among the ranks: "
            f"{world} ranks need at least {world} runs (more widths or seeds)"
        )
    if world > 1 and device.startswith("cuda") and ":" not in device:
        device = f"cuda:{os.environ.get('LOCAL_RANK', rank)}"
    own_out = out if rank == 0 else None  # one writer: rank 0
    with claim_out(own_out, key, overwrite):
        partial = PartialRuns(own_out, config, key, started)
        topology = None
        layouts: dict | None = None  # raw parameters' layouts: their modules become recordable
        layers: list[tuple[str, str]] = []
        unrecorded: list[dict] | None = None
        per_run: dict[int, tuple[list, list]] = {}
        runs = [
            run
            for i, run in enumerate(all_runs)
            if i % world == rank and not partial.finished(*run)
        ]
        if not runs:  # all resumed: the first width again, for the graph only (no training)
            runs_to_train: list = []
            runs = [(base_width, 0)]
        else:
            runs_to_train = runs
        with interrupt_on_sigterm():  # SIGTERM as Ctrl-C: finished runs stay in partial.json
            bar = tqdm(runs, desc=f"coord-check {name}", disable=not progress or rank != 0)
            for width, seed in bar:
                torch.manual_seed(seed)
                model = _call_factory(factory, width)
                first = _first_batch(get_batch, seed)
                _try_forward(model, first[0])  # the batch's and the forward's faults, named
                spec = parametrize(
                    model,
                    rules,
                    base=base,
                    layer_map=layer_map,
                    seed=seed,
                    delta=delta if width == base_width else None,
                    zero_readout=zero_readout,
                    example_batch=first[0],  # raw parameters' layouts, attention calls
                )
                model.to(device)
                opt = build_optimizer(model, spec, lr=base_lr, weight_decay=weight_decay)
                inputs, targets = (_to_device(t, device) for t in first)
                if topology is None:
                    topology = _first_forward(model, inputs, targets, loss_fn, spec)
                    layouts = raw_layouts(model, inputs)
                layers = [
                    (n, k) for n, k in topology.chain() if recordable(_module(model, n), n, layouts)
                ]
                if unrecorded is None:
                    unrecorded = _unrecorded(model, topology, {n for n, _ in layers}, spec.kinds)
                if (width, seed) not in runs_to_train:
                    break
                if not layers:
                    raise ValueError(
                        "no layer of this model can be recorded (nn.Linear, nn.Embedding, "
                        "convolutions, Hugging Face Conv1D or nn.MultiheadAttention)"
                    )
                recorder = Recorder(
                    model, layers, alignment_measured, width=width, seed=seed, layouts=layouts
                )
                first_record, first_nonfinite = len(partial.records), len(partial.nonfinite)
                if fresh_batches:  # drawn one step at a time, never all at once
                    batches: Iterable = itertools.chain(
                        [(inputs, targets)],
                        (
                            tuple(_to_device(t, device) for t in get_batch(seed * 100_003 + step))
                            for step in range(1, steps)
                        ),
                    )
                else:
                    batches = itertools.repeat((inputs, targets), steps)
                train(
                    model,
                    opt,
                    loss_fn,
                    batches,
                    recorder,
                    partial.records,
                    partial.nonfinite,
                    fixed_batch=not fresh_batches,
                )
                recorder.remove()
                partial.add(width, seed)  # nothing lost: every finished run is on disk
                per_run[all_runs.index((width, seed))] = (
                    partial.records[first_record:],
                    partial.nonfinite[first_nonfinite:],
                )
        records, nonfinite = partial.records, partial.nonfinite
        if world > 1:
            records, nonfinite = _gather(per_run, world)
        try:
            result = compare(config, rules, records, nonfinite, topology=topology)
            result.config["unrecorded"] = unrecorded or []
            # modules of raw parameters measured through their observed layouts (raw.py)
            result.config["raw_recorded"] = [
                {"name": n, "kind": k, "form": use.form}
                for n, k in (layers or [])
                if (use := raw_use(_module(model, n), n, layouts)) is not None
            ]
        except Exception as err:
            partial.save(error=f"{type(err).__name__}: {err}")
            raise
        if own_out is not None:
            save(result, own_out, started=started, config_hash=key)
            partial.finish()
    return result


def _rules(rules: Any) -> Any:
    """The rules to check: a Rules object, or a scheme's name (``"mup"``: its derived rules)."""
    import abcparam

    if isinstance(rules, str):
        return abcparam.rules(rules)
    if not hasattr(rules, "optimizer") or not hasattr(rules, "layers"):
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
    from ..torch import discover_topology

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
    """(rank, world size): (0, 1) unless ``distributed`` under an initialised process group."""
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
