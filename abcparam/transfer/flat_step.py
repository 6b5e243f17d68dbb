"""One flat buffer for all stacked parameters of all models that share an elementwise optimizer
(Adam, AdamW, Lion), so that one batched step is a handful of large ops instead of a dozen small
ones per tensor: the speed of batched LR sweeps (issue 28, item 4).

The parameters are views into the flat buffer and their gradients views into a flat gradient
buffer (autograd accumulates into a preset ``.grad`` in place, as DDP's gradient-as-bucket-view
does); per-model, per-layer LR, epsilon and weight decay are expanded once into per-element
tensors.  The arithmetic is torch's single-tensor Adam / AdamW and abcparam's Lion, reordered only
in rounding (tests/transfer/test_batched_speed.py compares it with the torch optimizers).  Adam's
moments and direction run in torch's one-pass fused kernel, at LR 1 on a scratch buffer, one call
per epsilon; the per-element LR is applied after: three passes over memory instead of eight.
"""

from __future__ import annotations

import math

import torch

#: the torch optimizers the flat step reproduces (the rest step tensor by tensor)
FLAT_KINDS = ("Adam", "AdamW", "Lion")


def _per_element(values: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A per-model [M] tensor expanded to a stacked parameter's elements, flattened."""
    return values.view(-1, *([1] * (len(shape) - 1))).expand(shape).reshape(-1)


def _fused_groups(bundle: FlatBundle, kind: str) -> list[tuple[float, list[slice]]] | None:
    """For torch's one-pass fused Adam kernel (one scalar epsilon per call): the flat buffer's
    runs of equal epsilon, grouped by value; None where the kernel does not apply (Lion, or a
    torch without ``torch._fused_adam_``)."""
    if kind == "Lion" or not hasattr(torch, "_fused_adam_"):
        return None
    eps = bundle.eps
    cuts = (torch.nonzero(eps[1:] != eps[:-1]).flatten() + 1).tolist()
    bounds = [0, *cuts, eps.numel()]
    groups: dict[float, list[slice]] = {}
    for a, b in zip(bounds[:-1], bounds[1:]):
        groups.setdefault(float(eps[a]), []).append(slice(a, b))
    return list(groups.items())


class FlatBundle:
    """The stacked parameters of one elementwise optimizer kind as views of one flat buffer,
    with its state and per-element hyperparameters."""

    def __init__(
        self,
        kind: str,
        fixed: dict,
        stacked: dict[str, torch.Tensor],
        lr: dict[str, torch.Tensor],
        wd: dict[str, torch.Tensor],
        eps: dict[str, torch.Tensor],
        fused: bool = True,
    ) -> None:
        if kind not in FLAT_KINDS:
            raise ValueError(f"no flat step for {kind}; accepted: {', '.join(FLAT_KINDS)}")
        self.kind, self.fixed = kind, fixed
        names = list(stacked)
        self.flat = torch.cat([stacked[n].detach().reshape(-1) for n in names])
        self.grad = torch.zeros_like(self.flat)
        self.m = torch.zeros_like(self.flat)
        self.v = torch.zeros_like(self.flat) if kind != "Lion" else None
        self.buf = torch.empty_like(self.flat)
        self.buf2 = torch.empty_like(self.flat) if kind != "Lion" else None
        lr64 = torch.cat([_per_element(lr[n].double(), stacked[n].shape) for n in names])
        wd64 = torch.cat([_per_element(wd[n].double(), stacked[n].shape) for n in names])
        self.lr = lr64.float()
        #: the peak LR and decay per element, float64, which a schedule scales (set_factor)
        self.lr64, self.wd64, self.factor = lr64, wd64, 1.0
        self.eps = torch.cat([_per_element(eps[n].float(), stacked[n].shape) for n in names])
        self.any_wd = bool((wd64 != 0).any())
        # coupled L2 (torch's Adam: grad + wd p) or decoupled (p *= 1 - lr wd, in float64 first)
        self.wd = wd64.float() if self.any_wd and kind == "Adam" else None
        self.decay = (1 - lr64 * wd64).float() if self.any_wd and kind != "Adam" else None
        self.params: dict[str, torch.Tensor] = {}
        self._spans: dict[str, tuple[int, int, torch.Size]] = {}
        self._fused = _fused_groups(self, kind) if fused else None
        start = 0
        for n in names:
            shape, size = stacked[n].shape, stacked[n].numel()
            self._spans[n] = (start, start + size, shape)
            p = self.flat[start : start + size].view(shape).requires_grad_(True)
            p.grad = self.grad[start : start + size].view(shape)
            self.params[n] = p
            start += size

    def zero_grad(self) -> None:
        """Zero every gradient in one op (the parameters keep their views into it)."""
        self.grad.zero_()

    def set_factor(self, factor: float) -> None:
        """Every LR at ``factor`` times its peak (a schedule's multiplier), the decoupled decay
        ``1 - lr wd`` with it, as torch's AdamW computes it from the group's scheduled LR."""
        if factor == self.factor:
            return
        lr64 = self.lr64 * factor
        self.lr = lr64.float()
        if self.decay is not None:
            self.decay = (1 - lr64 * self.wd64).float()
        self.factor = factor

    def state(self) -> dict[str, torch.Tensor]:
        """The tensors a step changes (parameters, moments, the peak LR a death zeroes)."""
        out = {"flat": self.flat, "m": self.m, "lr64": self.lr64}
        if self.v is not None:
            out["v"] = self.v
        return out

    @torch.no_grad()
    def load_state(self, saved: dict[str, torch.Tensor]) -> None:
        """Back to a :meth:`state` copy, in place; the next :meth:`set_factor` then recomputes
        the LR and decay from the restored peak (a death may have zeroed it since)."""
        for k, t in self.state().items():
            t.copy_(saved[k])
        self.factor = math.nan

    @torch.no_grad()
    def kill(self, dead: torch.Tensor) -> None:
        """Zero the parameters, state and LR of the models in the [M] mask ``dead``."""
        tensors = [t for t in (self.flat, self.m, self.v, self.lr, self.lr64) if t is not None]
        for start, end, shape in self._spans.values():
            for t in tensors:
                t[start:end].view(shape)[dead] = 0.0

    @torch.no_grad()
    def step(self, t: int) -> None:
        """One update of every parameter of the bundle (``t`` counts from 1)."""
        p, g, m, buf = self.flat, self.grad, self.m, self.buf
        if self.kind == "Lion":
            beta1, beta2 = self.fixed["betas"]
            if self.decay is not None:
                p.mul_(self.decay)
            torch.mul(m, beta1, out=buf).add_(g, alpha=1 - beta1).sign_()
            p.addcmul_(buf, self.lr, value=-1)
            m.mul_(beta2).add_(g, alpha=1 - beta2)
            return
        beta1, beta2 = self.fixed["betas"]
        v, buf2 = self.v, self.buf2
        assert v is not None and buf2 is not None
        if self.wd is not None:  # Adam's coupled L2 decay
            g.addcmul_(p, self.wd)
        if self.decay is not None:  # AdamW's decoupled decay
            p.mul_(self.decay)
        if self._fused is not None:
            self._fused_adam(t, beta1, beta2)
            return
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = torch.sqrt(v, out=buf).div_(math.sqrt(1 - beta2**t)).add_(self.eps)
        torch.div(m, denom, out=buf2)
        p.addcmul_(buf2, self.lr, value=-1 / (1 - beta1**t))

    def _fused_adam(self, t: int, beta1: float, beta2: float) -> None:
        """Adam's moments and direction in torch's one-pass fused kernel (``torch.optim.Adam(
        fused=True)``'s op), run at LR 1 on a zeroed scratch buffer, then ``p += lr * direction``
        with the per-element LR: three passes over memory where the plain step takes eight."""
        assert self._fused is not None and self.v is not None
        buf = self.buf.zero_()
        step = torch.tensor(float(t))
        for eps, spans in self._fused:
            torch._fused_adam_(
                [buf[s] for s in spans],
                [self.grad[s] for s in spans],
                [self.m[s] for s in spans],
                [self.v[s] for s in spans],
                [],
                [step] * len(spans),
                lr=1.0,
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=eps,
                amsgrad=False,
                maximize=False,
            )
        self.flat.addcmul_(buf, self.lr)
