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
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

from ..torch.losses import with_z_loss
from .record import Recorder, call_model, recordable
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
    ``zero_readout``: start the readout at zero (TP-V's suggestion; :func:`parametrize`)."""
    from ..torch import build_optimizer, discover_topology, parametrize

    started = time.time()
    if not callable(factory):
        raise TypeError(f"factory must be a function width -> nn.Module; got {factory!r}")
    widths = tuple(widths)
    if len(widths) < 2 or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths = {list(widths)}: need at least two positive int widths")
    for value, what in ((steps, "steps"), (seeds, "seeds")):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} = {value!r}: need a positive int")
    if fresh_batches and not callable(batch):
        raise TypeError("fresh_batches=True needs batch to be a function seed -> (inputs, targets)")
    get_batch = _batch_fn(batch)
    # z_loss > 0 adds z_loss * log^2 Z of the logits (Wortsman et al. 2023): any model
    loss_fn = with_z_loss(loss or default_loss, z_loss)
    base_width = base_width or min(widths)
    base = _base_model(factory, base_width)
    other = next(w for w in sorted(widths) if w != base_width)
    delta = _base_model(factory, other)  # tells width-growing dims apart at the base width
    config = CoordCheckConfig(
        model=name,
        scheme=getattr(rules, "scheme", None) or "custom",
        optimizer=rules.optimizer,
        alignment=getattr(rules, "alignment", "custom"),
        widths=widths,
        steps=steps,
        seeds=seeds,
        lr=lr if lr is not None else DEFAULT_LR.get(rules.optimizer, NORMALISED_LR),
        base_width=base_width,
        tolerance=tolerance,
        alignment_measured=alignment_measured,
        device=device,
        fixed_batch=not fresh_batches,
    )
    records: list = []
    nonfinite: list = []
    topology = None
    runs = [(w, s) for w in widths for s in range(seeds)]
    for width, seed in tqdm(runs, desc=f"coord-check {name}", disable=not progress):
        torch.manual_seed(seed)
        model = factory(width)
        if not isinstance(model, nn.Module):
            raise TypeError(f"factory({width}) returned {type(model).__name__}, not an nn.Module")
        spec = parametrize(
            model,
            rules,
            base=base,
            layer_map=layer_map,
            seed=seed,
            delta=delta if width == base_width else None,
            zero_readout=zero_readout,
        )
        model.to(device)
        opt = build_optimizer(model, spec, lr=config.lr, weight_decay=weight_decay)
        inputs, targets = (_to_device(t, device) for t in get_batch(seed))
        if topology is None:
            topology = discover_topology(model, inputs, spec)
            _check_output(model, inputs, targets, loss_fn)
        layers = [(n, k) for n, k in topology.chain() if recordable(_module(model, n))]
        if not layers:
            raise ValueError(
                "no layer of this model can be recorded (nn.Linear, nn.Embedding, convolutions, "
                "Hugging Face Conv1D or nn.MultiheadAttention)"
            )
        recorder = Recorder(model, layers, alignment_measured, width=width, seed=seed)
        if fresh_batches:
            batches = [(inputs, targets)] + [
                tuple(_to_device(t, device) for t in get_batch(seed * 100_003 + step))
                for step in range(1, steps)
            ]
        else:
            batches = [(inputs, targets)] * steps
        train(
            model,
            opt,
            loss_fn,
            batches,
            recorder,
            records,
            nonfinite,
            fixed_batch=not fresh_batches,
        )
        recorder.remove()
    result = compare(config, rules, records, nonfinite, topology=topology)
    if out is not None:
        save(result, out, started=started)
    return result


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
