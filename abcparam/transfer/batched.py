"""K learning rates x S seeds of one sweep run trained as ONE batched model (cheap LR sweeps).

Every run of a cohort (sweep runs that differ only in ``log2_lr`` and ``seed``) is first built
exactly as :func:`abcparam.transfer.sweep.train` builds it (:func:`~.sweep.build_run`: the
engine's init stds, forward multipliers, attention scale, branch multipliers, and the torch
optimizer with its per-layer LR, epsilon and decay from :func:`abcparam.torch.param_groups`).
Its tensors are then stacked along a leading model dimension, the forward pass runs as batched
matrix products (``torch.bmm`` / ``torch.baddbmm``; attention with the models folded into the
batch), and one hand-written optimizer steps all models at once with per-model, per-layer
hyperparameter tensors read off the torch optimizer each run would have used (Adam, AdamW,
Adam-atan2, Lion / sign descent, Muon with a batched Newton-Schulz iteration).  Each model sees
its seed's batches, so its loss equals the separate run's (tests/transfer/test_batched.py, to 1e-5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from ..records import dumps_strict
from ..torch.models import ACTIVATIONS, GPT, MLP, Block, ResidualBlock, ResidualMLP
from ..torch.optim import AdamAtan2, Lion, Muon, OptimizerList, muon_lr_factor
from . import data
from .denormals import flush_denormals
from .flat_step import FLAT_KINDS, FlatBundle
from .sweep import RunConfig, build_run, divergence, finished

#: the RunConfig fields that may differ inside one batched cohort
VARYING = ("log2_lr", "seed")
#: the torch optimizers the batched step reproduces
SUPPORTED = ("Adam", "AdamW", "AdamAtan2", "Lion", "Muon")


def cohort_key(cfg: RunConfig) -> tuple:
    """What runs of one batched model share: every RunConfig field but the LR and the seed."""
    return tuple((k, v) for k, v in asdict(cfg).items() if k not in VARYING)


_C = TypeVar("_C")


def cohorts(
    configs: Iterable[_C], max_models: int | None = None, key: Callable[[_C], Any] | None = None
) -> list[list[_C]]:
    """``configs`` grouped into cohorts by ``key`` (default :func:`cohort_key`; in first-seen
    order), each cut into chunks of at most ``max_models`` runs (a memory bound; None: none)."""
    key_of: Callable[[Any], Any] = key or cohort_key
    groups: dict[Any, list[_C]] = {}
    for c in configs:
        groups.setdefault(key_of(c), []).append(c)
    if max_models is not None and max_models < 1:
        raise ValueError(f"max_models = {max_models}; accepted: a positive int or None")
    size = max_models or max(1, max((len(g) for g in groups.values()), default=1))
    return [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]


# -- the optimizer ------------------------------------------------------------------------------


@dataclass
class Slot:
    """One stacked parameter's optimizer: its torch class name, hyperparameters equal across
    models (``fixed``) and per-model ones (``lr``, ``wd``, ``eps`` as [M] tensors)."""

    kind: str
    fixed: dict
    lr: torch.Tensor
    wd: torch.Tensor
    eps: torch.Tensor
    state: dict = field(default_factory=dict)
    #: the parameter is stored as [M, in, out] (a linear weight laid out for ``torch.bmm``)
    transposed: bool = False
    #: the peak LR per model, which a schedule scales into ``lr`` (None: ``lr`` as given)
    base_lr: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.base_lr is None:
            self.base_lr = self.lr.clone()

    def set_factor(self, factor: float) -> None:
        """The LR at ``factor`` times its peak (a schedule's multiplier)."""
        assert self.base_lr is not None
        self.lr = self.base_lr * factor


def _torch_optimizers(opt) -> list[torch.optim.Optimizer]:
    return list(opt.optimizers) if isinstance(opt, OptimizerList) else [opt]


def _settings(opt) -> dict[int, tuple[str, dict]]:
    """{id(param): (torch class name, its group's settings)} of one run's optimizer."""
    out: dict[int, tuple[str, dict]] = {}
    for o in _torch_optimizers(opt):
        name = type(o).__name__
        if isinstance(o, Muon):
            name = "Muon"
        elif isinstance(o, AdamAtan2):
            name = "AdamAtan2"
        elif isinstance(o, Lion):
            name = "Lion"
        if name not in SUPPORTED:
            raise ValueError(
                f"the batched trainer has no step for {type(o).__name__}; accepted: "
                f"{', '.join(SUPPORTED)} (use the unbatched sweep for it)"
            )
        for g in o.param_groups:
            if g.get("amsgrad") or g.get("maximize"):
                raise ValueError(
                    "the batched Adam has no amsgrad / maximize; use the unbatched sweep"
                )
            for p in g["params"]:
                out[id(p)] = (name, g)
    return out


#: group settings the batched step reads per model (the rest must agree across models)
_PER_MODEL = ("lr", "weight_decay", "eps")
_FIXED = ("betas", "momentum", "nesterov", "ns_coefficients", "ns_steps", "adjust_lr_fn", "a", "b")


def _view(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-model [M] tensor shaped to broadcast against a stacked [M, ...] parameter."""
    return t.view(-1, *([1] * (like.dim() - 1)))


def _orthogonalise(g: torch.Tensor, coefficients, steps: int, eps: float) -> torch.Tensor:
    """torch.optim.Muon's quintic Newton-Schulz iteration for a stack of matrices [M, A, B]
    (each normalised by its own Frobenius norm), with ``torch.baddbmm``."""
    a, b, c = coefficients
    tall = g.size(1) > g.size(2)
    x = g.transpose(1, 2) if tall else g
    x = x / x.flatten(1).norm(dim=1).clamp(min=eps).view(-1, 1, 1)
    for _ in range(steps):
        gram = torch.bmm(x, x.transpose(1, 2))
        x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.transpose(1, 2) if tall else x


@torch.no_grad()
def update(p: torch.Tensor, slot: Slot, t: int) -> None:
    """One update of stacked parameter ``p`` (its .grad set), as the torch class does it."""
    grad, st, f = p.grad, slot.state, slot.fixed
    if grad is None:
        raise RuntimeError("a batched update needs the stacked parameter's gradient (backward)")
    lr, wd = _view(slot.lr.float(), p), _view(slot.wd, p)
    if slot.kind in ("Adam", "AdamW", "AdamAtan2"):
        beta1, beta2 = f["betas"]
        if not st:
            st["m"], st["v"] = torch.zeros_like(p), torch.zeros_like(p)
        if slot.kind == "Adam":  # L2 decay, coupled to the gradient (torch's Adam)
            if bool((slot.wd != 0).any()):
                grad = grad + wd * p
        else:
            p.mul_(1 - lr * wd)
        m, v = st["m"], st["v"]
        if slot.kind == "AdamAtan2":
            m.mul_(beta1).add_(grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
            p.sub_(lr * f["a"] * torch.atan2(m_hat, f["b"] * v_hat.sqrt()))
            return
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (v.sqrt() / math.sqrt(1 - beta2**t)).add_(_view(slot.eps, p))
        # as torch's addcdiv: value * (m / denom), value = lr / bias_correction1 (float64, then
        # float32), so each model's update rounds as its separate run's does
        step = _view((slot.lr / (1 - beta1**t)).float(), p)
        p.sub_(step * (m / denom))
    elif slot.kind == "Lion":
        beta1, beta2 = f["betas"]
        if not st:
            st["m"] = torch.zeros_like(p)
        m = st["m"]
        p.mul_(1 - lr * wd)
        p.sub_(lr * torch.sign(m * beta1 + grad * (1 - beta1)))
        m.mul_(beta2).add_(grad, alpha=1 - beta2)
    else:  # Muon (torch's, Newton-Schulz in float32 as abcparam.torch.Muon on the CPU)
        if not st:
            st["buf"] = torch.zeros_like(p)
        buf = st["buf"]
        buf.lerp_(grad, 1 - f["momentum"])
        update = grad.lerp(buf, f["momentum"]) if f["nesterov"] else buf
        if slot.transposed:  # NS(X^T) = NS(X)^T: orthogonalise the [out, in] matrices
            update = update.transpose(1, 2)
        update = _orthogonalise(update, f["ns_coefficients"], f["ns_steps"], float(slot.eps[0]))
        factor = muon_lr_factor(update.shape[1:], f["adjust_lr_fn"])
        if slot.transposed:
            update = update.transpose(1, 2)
        p.mul_(1 - lr * wd)
        p.sub_(lr * factor * update)


# -- the batched model ---------------------------------------------------------------------------


def _scaled(t: torch.Tensor, multiplier: float) -> torch.Tensor:
    """``t * multiplier``, skipped where the multiplier is 1 (exact: the product is ``t``; at
    the base width every muP multiplier is 1, and each skip saves an op forward and backward)."""
    return t if multiplier == 1.0 else t * multiplier


_B = TypeVar("_B", ResidualBlock, Block)


def _blocks(model: ResidualMLP | GPT, kind: type[_B]) -> list[_B]:
    """A built-in model's residual blocks, each checked to be ``kind`` (the forward reads its
    constants: activation, branch multiplier, attention heads and scale)."""
    blocks = list(model.blocks)
    for i, block in enumerate(blocks):
        if not isinstance(block, kind):
            raise TypeError(f"blocks.{i} is a {type(block).__name__}; expected a {kind.__name__}")
    return [b for b in blocks if isinstance(b, kind)]


class BatchedModel:
    """M runs of one built-in model as stacked tensors [M, ...] with the template run's forward
    constants (multipliers, attention scale, branch multiplier), which every run shares.  Linear
    weights are stored transposed, [M, in, out], so that forward and backward are contiguous
    ``torch.bmm`` / ``torch.baddbmm`` calls."""

    def __init__(self, template: torch.nn.Module, params: dict[str, torch.Tensor]) -> None:
        self.template = template
        self.params = params
        self.modules = dict(template.named_modules())

    def _linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """ScaledLinear: ``multiplier * x W^T (+ bias_multiplier b)`` per model; x [M, N, in],
        the weight stored as W^T [M, in, out]."""
        mod = self.modules[name]
        w_t = self.params[f"{name}.weight"]
        bias = self.params.get(f"{name}.bias")
        if bias is not None:
            return torch.baddbmm(
                bias.unsqueeze(1), x, w_t, beta=mod.bias_multiplier, alpha=mod.multiplier
            )
        return _scaled(torch.bmm(x, w_t), mod.multiplier)

    def _norm(self, name: str, x: torch.Tensor) -> torch.Tensor:
        mod = self.modules[name]
        w, b = self.params[f"{name}.weight"], self.params[f"{name}.bias"]
        shape = (w.shape[0],) + (1,) * (x.dim() - 2) + (w.shape[1],)
        y = F.layer_norm(x, x.shape[-1:], eps=mod.eps)
        b, w = _scaled(b.view(shape), mod.bias_multiplier), _scaled(w.view(shape), mod.multiplier)
        return torch.addcmul(b, y, w)

    def subset(self, models: list[int]) -> BatchedModel:
        """The models at ``models`` as a batched model of their own (copies: for evaluation)."""
        return BatchedModel(self.template, {n: p[models] for n, p in self.params.items()})

    def distinct(self) -> tuple[list[int], torch.Tensor]:
        """(one model per distinct set of parameters, each model's index into that list):
        runs of one seed that differ only in their LR start from the same weights."""
        params = list(self.params.values())
        first: list[int] = []
        index: list[int] = []
        for i in range(params[0].shape[0]):
            same = (j for j, r in enumerate(first) if all(torch.equal(p[i], p[r]) for p in params))
            j = next(same, None)
            if j is None:
                j = len(first)
                first.append(i)
            index.append(j)
        return first, torch.tensor(index)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        model = self.template  # the exact built-in class: a subclass may change the forward
        if type(model) is MLP:
            return self._mlp(model, x)
        if type(model) is ResidualMLP:
            return self._residual_mlp(model, x)
        if type(model) is GPT:
            return self._gpt(model, x)
        kind = type(model).__name__
        raise ValueError(f"no batched forward for {kind}; accepted: MLP, ResidualMLP, GPT")

    def _mlp(self, model: MLP, x: torch.Tensor) -> torch.Tensor:
        act = ACTIVATIONS[model.activation]
        h = self._linear("embedding", x)
        for i in range(len(model.hidden)):
            h = self._linear(f"hidden.{i}", act(h))
        return self._linear("readout", act(h))

    def _residual_mlp(self, model: ResidualMLP, x: torch.Tensor) -> torch.Tensor:
        h = self._linear("embedding", x)
        for i, block in enumerate(_blocks(model, ResidualBlock)):
            act = ACTIVATIONS[block.activation]
            branch = self._linear(
                f"blocks.{i}.fc2",
                act(self._linear(f"blocks.{i}.fc1", self._norm(f"blocks.{i}.ln", h))),
            )
            h = h + _scaled(branch, block.branch_multiplier)
        return self._linear("readout", self._norm("ln_f", h))

    def _gpt(self, gpt: GPT, idx: torch.Tensor) -> torch.Tensor:
        """idx [M, B, T] -> logits [M, B*T, vocab]."""
        M, B, T = idx.shape
        emb, pos = self.params["embedding.weight"], self.params["pos_embedding.weight"]
        # each model's rows of one [M * vocab, C] table: a plain embedding lookup (and backward)
        offsets = torch.arange(M).view(M, 1, 1) * emb.shape[1]
        x = _scaled(
            F.embedding(idx + offsets, emb.view(-1, emb.shape[2])), gpt.embedding.multiplier
        )
        x = x + _scaled(pos[:, :T], gpt.pos_embedding.multiplier).unsqueeze(1)
        x = x.reshape(M, B * T, -1)
        for i, block in enumerate(_blocks(gpt, Block)):
            pre = f"blocks.{i}"
            attn = block.attn
            h = self._norm(f"{pre}.ln1", x)
            H, d = attn.n_heads, attn.d_head
            # [M, B*T, C] -> [M*B, H, T, d]: the models fold into attention's batch
            q, k, v = (
                self._linear(f"{pre}.attn.{n}", h).view(M * B, T, H, d).transpose(1, 2)
                for n in ("q", "k", "v")
            )
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=attn.scale)
            y = self._linear(f"{pre}.attn.o", y.transpose(1, 2).reshape(M, B * T, H * d))
            m = block.branch_multiplier
            x = x + _scaled(y, m)
            h = F.gelu(self._linear(f"{pre}.mlp.fc1", self._norm(f"{pre}.ln2", x)))
            x = x + _scaled(self._linear(f"{pre}.mlp.fc2", h), m)
        return self._linear("readout", self._norm("ln_f", x))


def _constants(model: torch.nn.Module) -> list:
    """The forward constants a run's modules carry (must agree across a cohort)."""
    out = []
    for name, mod in model.named_modules():
        for attr in ("multiplier", "bias_multiplier", "scale", "branch_multiplier", "eps"):
            if hasattr(mod, attr) and isinstance(getattr(mod, attr), int | float):
                out.append((name, attr, float(getattr(mod, attr))))
    return out


@dataclass
class Batched:
    """A cohort built: the stacked model, its optimizer (flat bundles for the elementwise
    optimizers, a slot per tensor for the rest), and the runs' configs."""

    configs: list[RunConfig]
    model: BatchedModel
    slots: dict[str, Slot]
    bundles: list[FlatBundle] = field(default_factory=list)

    def zero_grad(self) -> None:
        for b in self.bundles:
            b.zero_grad()
        for name in self.slots:
            self.model.params[name].grad = None

    def step(self, t: int) -> None:
        """One optimizer step of every model (``t`` counts from 1)."""
        for b in self.bundles:
            b.step(t)
        for name, slot in self.slots.items():
            update(self.model.params[name], slot, t)

    def set_factor(self, factor: float) -> None:
        """Every model's every LR at ``factor`` times its peak: a schedule shared by the cohort
        (torch: each group's ``lr`` set to its peak times the factor before the step)."""
        for b in self.bundles:
            b.set_factor(factor)
        for slot in self.slots.values():
            slot.set_factor(factor)

    @torch.no_grad()
    def snapshot(self) -> dict[str, torch.Tensor]:
        """Copies of everything training changes (parameters, optimizer state, peak LRs)."""
        out: dict[str, torch.Tensor] = {}
        for i, b in enumerate(self.bundles):
            out.update({f"bundle{i}.{k}": t.clone() for k, t in b.state().items()})
        for name, slot in self.slots.items():
            out[f"param.{name}"] = self.model.params[name].detach().clone()
            assert slot.base_lr is not None
            out[f"lr.{name}"] = slot.base_lr.clone()
            out.update({f"state.{name}.{k}": t.clone() for k, t in slot.state.items()})
        return out

    @torch.no_grad()
    def restore(self, saved: dict[str, torch.Tensor]) -> None:
        """Back to a :meth:`snapshot` (in place: parameters keep their views and gradients)."""
        for i, b in enumerate(self.bundles):
            b.load_state({k: saved[f"bundle{i}.{k}"] for k in b.state()})
        for name, slot in self.slots.items():
            self.model.params[name].copy_(saved[f"param.{name}"])
            assert slot.base_lr is not None
            slot.base_lr.copy_(saved[f"lr.{name}"])
            slot.state = {
                k[len(f"state.{name}.") :]: t.clone()
                for k, t in saved.items()
                if k.startswith(f"state.{name}.")
            }

    @torch.no_grad()
    def kill(self, dead: torch.Tensor) -> None:
        """Zero the parameters, state and LR of the models in the [M] mask ``dead``."""
        for b in self.bundles:
            b.kill(dead)
        for name, slot in self.slots.items():
            self.model.params[name][dead] = 0.0
            slot.lr[dead] = 0.0
            assert slot.base_lr is not None
            slot.base_lr[dead] = 0.0
            for s in slot.state.values():
                s[dead] = 0.0


def build(configs: list[RunConfig], fused: bool = True) -> Batched:
    """Build every run of one cohort as the unbatched sweep does and stack it (``fused``: Adam's
    flat step in torch's one-pass fused kernel, see :class:`~.flat_step.FlatBundle`)."""
    if not configs:
        raise ValueError("no run to batch: give one or more RunConfigs")
    keys = {cohort_key(c) for c in configs}
    if len(keys) > 1:
        raise ValueError(
            f"runs of one batched model may differ only in {', '.join(VARYING)}; got "
            f"{len(keys)} different settings (split them with cohorts())"
        )
    if configs[0].device != "cpu":
        raise ValueError(f"device = {configs[0].device!r}; the batched trainer runs on: cpu")
    built = []
    for cfg in configs:
        model, _spec, opt = build_run(cfg)
        built.append((model, opt))
    return stack(configs, built, fused=fused)


def stack(configs: list, built: list[tuple[torch.nn.Module, Any]], fused: bool = True) -> Batched:
    """Stack runs already built (each ``(model, torch optimizer)``, ``configs`` naming them) into
    one batched model and optimizer; their forward constants and fixed settings must agree."""
    template = None
    stacks: dict[str, list[torch.Tensor]] = {}
    per: dict[str, dict[str, list[float]]] = {}
    kinds: dict[str, tuple[str, dict]] = {}
    for cfg, (model, opt) in zip(configs, built, strict=True):
        settings = _settings(opt)
        if template is None:
            template, consts = model, _constants(model)
        elif _constants(model) != consts:
            raise ValueError(
                f"run {cfg} has other forward constants than the cohort's first run; "
                f"it cannot share a batched model"
            )
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            stacks.setdefault(name, []).append(p.detach().clone())
            cls, g = settings[id(p)]
            fixed = {k: g[k] for k in _FIXED if k in g}
            if name in kinds and kinds[name] != (cls, fixed):
                raise ValueError(f"{name}: optimizer settings differ across the cohort")
            kinds[name] = (cls, fixed)
            slot = per.setdefault(name, {k: [] for k in _PER_MODEL})
            for k in _PER_MODEL:
                value = g.get(k, 0.0)
                slot[k].append(float(value[0] if isinstance(value, tuple) else value or 0.0))
    assert template is not None
    linear = {f"{n}.weight" for n, m in template.named_modules() if isinstance(m, torch.nn.Linear)}
    stacked = {  # linear weights as [M, in, out], contiguous (see BatchedModel)
        n: torch.stack([t.t() for t in ts] if n in linear else ts).contiguous()
        for n, ts in stacks.items()
    }
    lr = {n: torch.tensor(per[n]["lr"], dtype=torch.float64) for n in stacked}
    wd = {n: torch.tensor(per[n]["weight_decay"]) for n in stacked}
    eps = {n: torch.tensor(per[n]["eps"]) for n in stacked}
    # one flat bundle per elementwise optimizer kind and settings; a slot per other tensor
    groups: dict[tuple, list[str]] = {}
    params: dict[str, torch.Tensor] = {}
    slots: dict[str, Slot] = {}
    for n in stacked:
        cls, fixed = kinds[n]
        if cls in FLAT_KINDS:
            groups.setdefault((cls, tuple(sorted(fixed.items()))), []).append(n)
        else:
            params[n] = stacked[n].requires_grad_(True)
            slots[n] = Slot(cls, fixed, lr[n], wd[n], eps[n], transposed=n in linear)
    bundles = []
    for (cls, fixed), names in groups.items():
        p_n, lr_n, wd_n, eps_n = ({n: d[n] for n in names} for d in (stacked, lr, wd, eps))
        bundle = FlatBundle(cls, dict(fixed), p_n, lr_n, wd_n, eps_n, fused=fused)
        params.update(bundle.params)
        bundles.append(bundle)
    return Batched(list(configs), BatchedModel(template, params), slots, bundles)


# -- training -----------------------------------------------------------------------------------


def _mean(losses: Iterable[torch.Tensor], n: int) -> torch.Tensor:
    """``sum(losses) / n``, summed left to right as ``sum`` does (a tensor, never the 0 start)."""
    it = iter(losses)
    total = next(it)
    for loss in it:
        total = total + loss
    return total / n


#: at most this many classes, the cross-entropy runs with the classes as a leading dimension
_FEW_CLASSES = 16


def _losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-model mean cross-entropy: logits [M, N, C], targets [M, N] -> [M].  With few classes
    (digits: 10) the logits are laid out [M, C, N] first: torch's CPU log-softmax over a short
    last dimension is ~2x slower than over a leading one, which it vectorises across rows."""
    M, C = logits.shape[0], logits.shape[-1]
    if C <= _FEW_CLASSES:
        ce = F.cross_entropy(logits.transpose(1, 2).contiguous(), y, reduction="none")
    else:
        ce = F.cross_entropy(logits.reshape(-1, C), y.reshape(-1), reduction="none")
    return ce.view(M, -1).mean(1)


def train_batched(
    configs: list[RunConfig], threads: int = 1, curves: bool = True, fused: bool = True
) -> list[dict]:
    """Train one cohort as one batched model; one result row per run, as
    :func:`~abcparam.transfer.sweep.train` returns it (same keys, losses and divergence rules),
    plus ``curve`` (the training loss at every step) when ``curves``; ``fused=False``: Adam's
    eight-op flat step instead of torch's fused kernel (other rounding, same arithmetic).
    Denormals are flushed to zero while it trains (:mod:`.denormals`: speed only)."""
    torch.set_num_threads(threads)
    with flush_denormals():
        batched = build(configs, fused=fused)
        task = _Cohort.load(configs)
        model = batched.model
        chance = math.log(task.n_classes)
        with torch.no_grad():  # one initial loss per distinct initial model
            first, index = model.distinct()
            initial = task.initial_losses(model.subset(first), first)[index]
        alive, history = _train_cohort(batched, task, configs[0].steps)
        with torch.no_grad():
            val = task.final_losses(model)
    return [
        _row(cfg, float(initial[i]), chance, bool(alive[i]), float(val[i]), history[:, i], curves)
        for i, cfg in enumerate(configs)
    ]


@dataclass
class _Cohort:
    """A cohort's data: each model's batches drawn from its seed's generator (the runs of one
    seed see the same batches, as :func:`~abcparam.transfer.sweep.train` would draw them)."""

    cfg0: RunConfig
    n_models: int
    seeds: list[int]
    which: torch.Tensor  # each model's seed slot
    gens: list[torch.Generator]
    split: Any = None
    train_ids: Any = None
    val_ids: Any = None
    vocab: Any = None

    @classmethod
    def load(cls, configs: list[RunConfig]) -> _Cohort:
        seeds = sorted({c.seed for c in configs})
        which = torch.tensor([seeds.index(c.seed) for c in configs])
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        cohort = cls(configs[0], len(configs), seeds, which, gens)
        if cohort.cfg0.model == "mlp":
            cohort.split = data.digits()
        else:
            cohort.train_ids, cohort.val_ids, cohort.vocab = data.pydoc_text()
        return cohort

    @property
    def n_classes(self) -> int:
        return 10 if self.cfg0.model == "mlp" else len(self.vocab)

    def lm(self, gs: list[torch.Generator], ids: torch.Tensor):
        got = [data.lm_batch(ids, self.cfg0.batch // 8, 32, g) for g in gs]
        which = self.which
        return torch.stack([a for a, _ in got])[which], torch.stack([b for _, b in got])[which]

    def draw(self, val: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg0.model != "mlp":
            return self.lm(self.gens, self.val_ids if val else self.train_ids)
        split, batch = self.split, self.cfg0.batch
        xs, ys = (split.x_val, split.y_val) if val else (split.x_train, split.y_train)
        idx = torch.stack([torch.randint(0, len(xs), (batch,), generator=g) for g in self.gens])
        return xs[idx][self.which], ys[idx][self.which]

    def _digits_val(self, model, M: int) -> torch.Tensor:
        x, y = self.split.x_val, self.split.y_val
        return _losses(model(x.expand(M, *x.shape)), y.expand(M, -1))

    def initial_losses(self, model, models: list[int]) -> torch.Tensor:
        """The loss before training of the cohort's ``models``, stacked as ``model`` (their own
        generators: training unchanged)."""
        if self.cfg0.model == "mlp":
            return self._digits_val(model, len(models))
        g_init = [torch.Generator().manual_seed(10_000 + s) for s in self.seeds]
        batches = (self.lm(g_init, self.val_ids) for _ in range(8))
        return _mean((_losses(model(x[models]), y[models]) for x, y in batches), 8)

    def final_losses(self, model) -> torch.Tensor:
        """Each model's validation loss after training."""
        if self.cfg0.model == "mlp":
            return self._digits_val(model, self.n_models)
        return _mean((_losses(model(x), y) for x, y in (self.draw(val=True) for _ in range(8))), 8)


def _train_cohort(batched: Batched, task: _Cohort, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(which models are alive, the training loss per step and model); a non-finite training
    loss ends that run there, as in :func:`~abcparam.transfer.sweep.train`."""
    M = task.n_models
    alive = torch.ones(M, dtype=torch.bool)
    history = torch.full((steps, M), float("nan"))
    for t in range(1, steps + 1):
        x, y = task.draw()
        losses = _losses(batched.model(x), y)
        history[t - 1] = torch.where(alive, losses.detach(), math.nan)
        dead = alive & ~torch.isfinite(losses.detach())
        alive &= ~dead  # as train(): a non-finite training loss ends that run here
        if bool(alive.any()):
            batched.zero_grad()
            (losses.sum() if bool(alive.all()) else losses[alive].sum()).backward()
            batched.step(t)
        if bool(dead.any()):
            # after the backward (zeroing its weights before it would invalidate the graph, as
            # the GPT's embedding lookup saves them) and the step (its gradient may be NaN)
            batched.kill(dead)
    return alive, history


def _row(cfg, initial: float, chance: float, alive: bool, v: float, history, curves: bool) -> dict:
    """One run's row, as :func:`~abcparam.transfer.sweep.train` gives it, marked batched."""
    row = {"key": cfg.key, **asdict(cfg), "initial_loss": initial, "chance_loss": chance}
    if not alive:
        row.update(val_loss=math.inf, diverged=True, diverged_reason="non-finite training loss")
    else:
        reason = divergence(v, row["initial_loss"], chance)
        row.update(
            val_loss=v if math.isfinite(v) else math.inf,
            diverged=reason is not None,
            diverged_reason=reason,
        )
    if curves:
        row["curve"] = [float(c) for c in history]
    row["trainer"] = "batched"
    return row


def run_batched_sweep(
    configs: list[RunConfig],
    results: str | Path,
    max_models: int | None = 64,
    threads: int = 1,
    progress: bool = True,
    on_cohort: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Run every config not yet in ``results`` (JSON lines, the unbatched sweep's format: the
    two resume each other), one batched model per cohort chunk, appending rows as each ends."""
    from tqdm.std import tqdm

    path = Path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = finished(path)
    todo = [c for c in configs if c.key not in done]
    chunks = cohorts(todo, max_models)
    with path.open("a") as sink:
        for chunk in tqdm(chunks, desc="batched sweep", disable=not progress):
            rows = train_batched(chunk, threads=threads)
            for row in rows:
                sink.write(dumps_strict(row, indent=None) + "\n")
                done[row["key"]] = row
            sink.flush()
            if on_cohort is not None:
                on_cohort(rows)
    return [done[c.key] for c in configs]
