"""Different optimizers for different layer kinds, e.g. Muon for hidden matrices and AdamW for the
rest (as Muon's own documentation prescribes): each kind's exponents come from its own model.

The recursion only needs each layer's update exponent k and how k maps back to c, so mixing
optimizers is exact: every method dispatches on the layer kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..exponents import HIDDEN, LAYER_KINDS
from .base import UpdateModel


def default_name(models: Mapping[str, UpdateModel]) -> str:
    """The plan's default optimizer: the most used one (the first of them; dicts keep order)."""
    counts: dict[str, int] = {}
    for kind in LAYER_KINDS:
        counts[models[kind].name] = counts.get(models[kind].name, 0) + 1
    return max(counts, key=lambda n: counts[n])


def plan_name(models: Mapping[str, UpdateModel]) -> str:
    """Canonical name: ``"hidden=muon,default=adamw"`` (the most used optimizer is the default)."""
    default = default_name(models)
    named = [f"{kind}={models[kind].name}" for kind in LAYER_KINDS if models[kind].name != default]
    return ",".join(named + [f"default={default}"])


@dataclass(frozen=True)
class PerKind(UpdateModel):
    """One update model per layer kind (``models`` as (kind, model) pairs over every kind)."""

    models: tuple[tuple[str, UpdateModel], ...] = ()

    __hash__ = UpdateModel.__hash__

    @classmethod
    def build(cls, models: Mapping[str, UpdateModel]) -> PerKind:
        return cls(
            name=plan_name(models),
            symmetry_k=models[HIDDEN].symmetry_k,
            has_eps=any(m.has_eps for m in models.values()),
            citation="; ".join(dict.fromkeys(m.citation for m in models.values())),
            decay=None,
            models=tuple((kind, models[kind]) for kind in LAYER_KINDS),
        )

    def optimizer_for(self, kind):
        return dict(self.models)[kind]

    @property
    def default(self) -> UpdateModel:
        """The optimizer of every kind the plan does not name (``default=`` in its name); also
        the one for a parameter no rule covers (the torch side's fixed-size ``scalar``)."""
        models = dict(self.models)
        name = default_name(models)
        return next(m for m in models.values() if m.name == name)

    def update_forms(self, kind, a, b, c, backward):
        return self.optimizer_for(kind).update_forms(kind, a, b, c, backward)

    def lr_exponent(self, kind, a, b, k, backward):
        return self.optimizer_for(kind).lr_exponent(kind, a, b, k, backward)

    def lr_floor(self, kind):
        return self.optimizer_for(kind).lr_floor(kind)

    def update_formula(self, kind):
        return f"{self.optimizer_for(kind).name} for {kind}: " + self.optimizer_for(
            kind
        ).update_formula(kind)

    def uses_backward(self, kind):
        return self.optimizer_for(kind).uses_backward(kind)

    def symmetry(self, kind):
        return self.optimizer_for(kind).symmetry(kind)

    def effective_triple(self, kind, triple, view):
        return self.optimizer_for(kind).effective_triple(kind, triple, view)

    def entry_exponent_at(self, kind, k, alpha, view):
        return self.optimizer_for(kind).entry_exponent_at(kind, k, alpha, view)

    def eps_exponent(self, kind, a, b):
        return self.optimizer_for(kind).eps_exponent(kind, a, b)

    def eps_why(self, kind, eps):
        return self.optimizer_for(kind).eps_why(kind, eps)

    def wd_exponent(self, kind, c, convention):
        return self.optimizer_for(kind).wd_exponent(kind, c, convention)
