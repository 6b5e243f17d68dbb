"""Optimizers torch lacks, the one registry of how torch realises each engine optimizer, and
building the torch optimizer an engine optimizer name stands for.

The engine's update models (``abcparam.engine.optimizers``) hold the math; :data:`TORCH_OPTIMIZERS`
holds, per engine name, the torch class, its fixed arguments, whether it takes Adam's betas and
its default epsilon: adding an optimizer is one engine module plus one entry here.  Every param
group names its layer kinds under ``"kinds"`` (as :func:`abcparam.torch.param_groups` makes them);
per-kind plans (Muon for hidden matrices, AdamW for the rest) give one torch optimizer per distinct
optimizer, stepped together by :class:`OptimizerList`.

- :class:`AdamAtan2`: Everett et al. 2024, App. "Adam-atan2" (Table C4):
  ``theta <- theta - lr * a * atan2(m_hat, b * sqrt(v_hat))``, defaults a = 4/pi ~ 1.27, b = 1.
  Bounded, invariant to rescaling the gradient, no epsilon.
- Adafactor: ``torch.optim.Adafactor`` already implements parameter-scaled updates
  (step = max(eps2, RMS(theta)) * min(lr, 1/sqrt(t)) * normalised gradient), which is the engine's
  update model (k = a + b + c) as long as eps2 (1e-3) stays below the parameter's RMS and
  lr < 1/sqrt(t); it is reused rather than rewritten.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import torch

from ..engine.optimizers import OPTIMIZERS, PerKind, UpdateModel, canonical_name, get_optimizer
from ..engine.optimizers.muon import Muon as MuonModel


class AdamAtan2(torch.optim.Optimizer):
    """Adam with ``atan2(m_hat, b sqrt(v_hat))`` in place of ``m_hat / (sqrt(v_hat) + eps)``."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        a: float = 4 / math.pi,
        b: float = 1.0,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or not 0 <= betas[0] < 1 or not 0 <= betas[1] < 1:
            raise ValueError(f"invalid lr {lr} or betas {betas}: need lr >= 0, 0 <= beta < 1")
        super().__init__(params, dict(lr=lr, betas=betas, a=a, b=b, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["m"], state["v"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(
                    torch.atan2(m_hat, group["b"] * v_hat.sqrt()), alpha=-group["lr"] * group["a"]
                )
        return loss


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023, arXiv 2302.06675, Alg. 2): ``p -= lr * sign(b1 m + (1 - b1) g)``,
    then ``m = b2 m + (1 - b2) g``; decoupled weight decay ``p *= 1 - lr * wd``.  With both betas
    0 it is sign descent."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or not 0 <= betas[0] < 1 or not 0 <= betas[1] < 1 or weight_decay < 0:
            raise ValueError(
                f"invalid lr {lr}, betas {betas} or weight_decay {weight_decay}: need lr >= 0, "
                f"0 <= beta < 1, weight_decay >= 0"
            )
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["m"] = torch.zeros_like(p)
                m = state["m"]
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(torch.sign(m * beta1 + p.grad * (1 - beta1)), alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss


def _orthogonalise(g: torch.Tensor, coefficients, steps: int, eps: float) -> torch.Tensor:
    """torch.optim.Muon's quintic Newton-Schulz iteration, in the dtype of ``g``."""
    a, b, c = coefficients
    x = g.T if g.size(0) > g.size(1) else g
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if g.size(0) > g.size(1) else x


def as_matrix(shape) -> tuple[int, int]:
    """The matrix a parameter is orthogonalised as: (out, in x kernel) for a convolution filter
    (out, in, *kernel), as Keller Jordan's reference Muon flattens it; (A, B) for a matrix."""
    return int(shape[0]), math.prod(int(d) for d in shape[1:])


def muon_lr_factor(shape, adjust_lr_fn: str | None) -> float:
    """torch.optim.Muon's shape factor: "original" sqrt(max(1, A/B)) (Keller Jordan),
    "match_rms_adamw" 0.2 sqrt(max(A, B)) (Liu et al. 2025), of the flattened matrix."""
    a, b = as_matrix(shape)
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(a, b))
    return math.sqrt(max(1.0, a / b))


class Muon(torch.optim.Muon):
    """torch.optim.Muon with the Newton-Schulz iteration in float32 on the CPU.

    torch runs the iteration in bfloat16, which the CPU emulates slowly (one 100-step MLP run at
    width 256 took over 6 minutes here); the algorithm, its defaults and both ``adjust_lr_fn``
    conventions are torch's.  Off the CPU, or with ``ns_dtype=torch.bfloat16``, torch's own step
    runs unchanged."""

    def __init__(self, params, *args, ns_dtype: torch.dtype | None = None, **kwargs) -> None:
        # torch's Muon refuses anything but matrices; a convolution filter is orthogonalised as
        # the (out, in x kernel) matrix it acts as, so its settings are checked by torch on a
        # stand-in matrix and the groups built by torch's Optimizer directly
        torch.optim.Muon([torch.zeros(2, 2, requires_grad=True)], *args, **kwargs)
        bound = inspect.signature(torch.optim.Muon.__init__).bind(None, None, *args, **kwargs)
        bound.apply_defaults()
        defaults = {k: v for k, v in bound.arguments.items() if k not in ("self", "params")}
        torch.optim.Optimizer.__init__(self, params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim < 2:
                    raise ValueError(
                        f"Muon orthogonalises matrices; a parameter of shape {tuple(p.shape)} "
                        f"has none: give its kind another optimizer in the plan"
                    )
        self.ns_dtype = ns_dtype

    @torch.no_grad()
    def step(self, closure=None):
        params = [p for g in self.param_groups for p in g["params"]]
        on_cpu = all(p.device.type == "cpu" for p in params)
        dtype = self.ns_dtype or (torch.float32 if on_cpu else torch.bfloat16)
        if dtype == torch.bfloat16 and all(p.ndim == 2 for p in params):
            return super().step(closure)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - group["momentum"])
                update = p.grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf
                update = _orthogonalise(
                    update.reshape(as_matrix(p.shape)).to(dtype),
                    group["ns_coefficients"],
                    group["ns_steps"],
                    group["eps"],
                ).reshape(p.shape)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                factor = muon_lr_factor(p.shape, group["adjust_lr_fn"])
                p.add_(update.to(p.dtype), alpha=-group["lr"] * factor)
        return loss


class OptimizerList:
    """Several torch optimizers stepped as one (a per-kind plan): ``step``, ``zero_grad``,
    ``param_groups`` (the groups themselves, so LR schedules reach them), ``state_dict``."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self.optimizers = list(optimizers)

    @property
    def param_groups(self) -> list[dict]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for opt in self.optimizers:
            opt.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for opt, sub in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(sub)

    def __repr__(self) -> str:
        return "OptimizerList(" + ", ".join(type(o).__name__ for o in self.optimizers) + ")"


@dataclass(frozen=True)
class TorchOptimizer:
    """How torch realises one engine optimizer: the class, its fixed keyword arguments, whether
    it takes Adam's ``betas``, the epsilon torch uses when none is given (the one the width
    factor n^-eps scales; None: no epsilon) and Adafactor's second epsilon, which pairs with it
    as ``eps=(eps1, eps2)``."""

    cls: Callable[..., torch.optim.Optimizer]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    takes_betas: bool = False
    default_eps: float | None = None
    eps2: float | None = None

    def group_eps(self, eps: float) -> float | tuple[float, float]:
        """A group's ``eps`` entry for epsilon ``eps`` (Adafactor's is the pair (eps1, eps2))."""
        return eps if self.eps2 is None else (eps, self.eps2)


#: The one place torch meets the engine's optimizers: engine name -> how torch realises it.
#: Defaults are torch's (Adam's and AdamW's eps 1e-8; Adafactor's eps1 None is the float32
#: machine epsilon, eps2 1e-3); Muon's ``adjust_lr_fn`` is the engine model's scaling ("none" has
#: no torch spelling: its groups are rescaled per tensor, see ``_single``).
TORCH_OPTIMIZERS: dict[str, TorchOptimizer] = {
    "sgd": TorchOptimizer(torch.optim.SGD),
    "adam": TorchOptimizer(torch.optim.Adam, takes_betas=True, default_eps=1e-8),
    "adamw": TorchOptimizer(torch.optim.AdamW, takes_betas=True, default_eps=1e-8),
    "adafactor": TorchOptimizer(
        torch.optim.Adafactor, default_eps=float(torch.finfo(torch.float32).eps), eps2=1e-3
    ),
    "adam-atan2": TorchOptimizer(AdamAtan2, takes_betas=True),
    "lion": TorchOptimizer(Lion, {"betas": (0.9, 0.99)}),
    "sign": TorchOptimizer(Lion, {"betas": (0.0, 0.0)}),
    "muon": TorchOptimizer(Muon, {"adjust_lr_fn": "original"}),
    "muon-rms": TorchOptimizer(Muon, {"adjust_lr_fn": "match_rms_adamw"}),
    "muon-none": TorchOptimizer(Muon, {"adjust_lr_fn": "original"}),
}

#: The engine's optimizer names (the one list; the torch side builds every one of them).
OPTIMIZER_NAMES = tuple(OPTIMIZERS)


def torch_optimizer(name: str) -> TorchOptimizer | None:
    """The registry entry of one engine optimizer name or alias; None for a per-kind plan or a
    name the engine does not know (e.g. a torch class it has no model for)."""
    try:
        return TORCH_OPTIMIZERS.get(canonical_name(name))
    except ValueError:
        return None


def default_eps(name: str) -> float:
    """The epsilon an optimizer uses when the user gives none (torch's default), scaled by the
    rules' width factor; Adam's for a plan or a name without an entry of its own."""
    entry = torch_optimizer(name)
    if entry is None or entry.default_eps is None:
        entry = TORCH_OPTIMIZERS["adam"]
    assert entry.default_eps is not None
    return entry.default_eps


def group_eps(name: str, eps: float) -> float | tuple[float, float]:
    """A group's ``eps`` entry for optimizer ``name`` (a pair for Adafactor)."""
    entry = torch_optimizer(name)
    return eps if entry is None else entry.group_eps(eps)


def torch_weight_decay(model: UpdateModel, lam: float, lr: float, convention: str) -> float:
    """The torch ``weight_decay`` argument that realises decay ``lam`` (already scaled by
    n^-wd) for a group with learning rate ``lr``, under ``convention`` ("coupled" or
    "independent"; torch's decoupled decay is ``p (1 - lr wd)``, so independent divides by lr)."""
    if model.decay != "decoupled":
        return 0.0 if lam == 0 else lam
    if convention == "independent":
        return lam / lr if lr else 0.0
    return lam


def kind_optimizer(plan: UpdateModel, kind: str) -> str:
    """The optimizer name ``plan`` gives layer kind ``kind``: a per-kind plan's own choice, its
    default for a kind no rule covers (a fixed-size ``scalar``), else the one optimizer."""
    if not isinstance(plan, PerKind):
        return plan.name
    try:
        return plan.optimizer_for(kind).name
    except KeyError:
        return plan.default.name


def _muon_none_factor(p: torch.Tensor) -> float:
    """torch's Muon has no unscaled variant: undo its "original" factor sqrt(max(1, A/B))."""
    return 1.0 / muon_lr_factor(p.shape, "original")


def _single(model: UpdateModel, groups: list[dict], lr: float, betas) -> torch.optim.Optimizer:
    entry = TORCH_OPTIMIZERS[model.name]
    kwargs = dict(entry.kwargs)
    if entry.takes_betas:
        kwargs["betas"] = betas
    if model.decay is not None:
        kwargs.setdefault("weight_decay", 0.0)  # torch's Muon defaults to 0.1: never implicit
    if isinstance(model, MuonModel):
        for g in groups:
            names = g.get("param_names") or [g.get("name")] * len(g["params"])
            for p, pname in zip(g["params"], names):
                if p.ndim < 2:  # a filter (out, in, *kernel) is flattened to (out, in x kernel)
                    kinds = "/".join(g.get("kinds") or ["its kind"])
                    raise ValueError(
                        f"{model.name} orthogonalises matrices; parameter "
                        f"{pname or tuple(p.shape)!r} is a vector ({kinds}): give that kind "
                        f"another optimizer in the plan, e.g. '{kinds.split('/')[0]}=adamw'"
                    )
        if model.scaling == "none":  # one group per tensor: the factor depends on its shape
            split = []
            for g in groups:
                names = g.get("param_names") or [None] * len(g["params"])
                for p, pname in zip(g["params"], names):
                    one = {**g, "params": [p], "lr": g.get("lr", lr) * _muon_none_factor(p)}
                    if "param_names" in g:
                        one["param_names"] = [pname]
                    split.append(one)
            groups = split
    return entry.cls(groups, lr=lr, **kwargs)


def make_single(
    name: str, groups: list[dict], lr: float, betas=(0.9, 0.999)
) -> torch.optim.Optimizer:
    """The torch optimizer of one registry name as it is (a Muon name stays Muon, not a plan)."""
    return _single(OPTIMIZERS[get_optimizer(name).optimizer_for("hidden").name], groups, lr, betas)


def make_optimizer(
    name: str, groups: list[dict], lr: float, betas=(0.9, 0.999)
) -> torch.optim.Optimizer:
    """A torch optimizer for the engine's optimizer name (or per-kind plan) over prepared param
    groups; with a plan every group names its layer ``"kinds"`` (one optimizer per group)."""
    plan = get_optimizer(name)
    if not isinstance(plan, PerKind):
        return _single(plan, groups, lr, betas)
    parts: dict[str, list[dict]] = {}
    for g in groups:
        owners = {kind_optimizer(plan, kind) for kind in g.get("kinds") or ()}
        if len(owners) != 1:
            raise ValueError(
                f"optimizer {name!r} differs per layer kind: every param group needs its "
                f"'kinds', all of one optimizer; got {g.get('kinds')!r}"
            )
        parts.setdefault(owners.pop(), []).append(g)
    built = [_single(OPTIMIZERS[n], mine, lr, betas) for n, mine in parts.items()]
    # an OptimizerList steps like a torch optimizer; typed as one for the callers
    return built[0] if len(built) == 1 else cast(torch.optim.Optimizer, OptimizerList(built))
