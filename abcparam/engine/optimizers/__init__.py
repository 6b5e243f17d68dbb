"""One update model per optimizer; :func:`get_optimizer` resolves names, aliases and per-kind plans.

``OPTIMIZERS`` is the one list of optimizer names in the package (the torch side reads it).
"""

from __future__ import annotations

from collections.abc import Mapping

from ... import validate
from ..exponents import HIDDEN, LAYER_KINDS, canonical_kind, resolve
from .adafactor import ADAFACTOR
from .adam import ADAM
from .adam_atan2 import ADAM_ATAN2
from .adamw import ADAMW
from .base import WEIGHT_DECAY_CONVENTIONS, UpdateModel
from .lion import LION, SIGN
from .muon import MUON, MUON_NONE, MUON_RMS, SCALINGS, UPDATE_VIEWS, Muon
from .per_kind import PerKind
from .sgd import SGD_MODEL

OPTIMIZERS: dict[str, UpdateModel] = {
    m.name: m
    for m in (SGD_MODEL, ADAM, ADAMW, ADAFACTOR, ADAM_ATAN2, LION, SIGN, MUON, MUON_RMS, MUON_NONE)
}
_ALIASES = {name: name for name in OPTIMIZERS} | {
    "adam_atan2": "adam-atan2",
    "adamatan2": "adam-atan2",
    "atan2": "adam-atan2",
    "signsgd": "sign",
    "sign-descent": "sign",
    "muon-original": "muon",
    "muon_original": "muon",
    "muon-match-rms-adamw": "muon-rms",
    "muon_match_rms_adamw": "muon-rms",
    "muon-moonshot": "muon-rms",
    "muon_none": "muon-none",
}
#: What the kinds Muon does not apply to get when only "muon" is named (Muon's documentation).
MUON_PARTNER = "adamw"


def _single(name: str | UpdateModel) -> UpdateModel:
    if isinstance(name, UpdateModel):
        return name
    return resolve(name, OPTIMIZERS, _ALIASES, "optimizer", list(OPTIMIZERS))


def _parse_plan(text: str) -> dict[str, str]:
    # a kind named twice is an error (never last-one-wins)
    return validate.key_values(text, "per-kind optimizer", "'hidden=muon,default=adamw'")


def get_optimizer(name: str | UpdateModel | Mapping[str, str | UpdateModel]) -> UpdateModel:
    """The update model for ``name``: one of ``OPTIMIZERS`` (or an alias), or a per-kind plan
    ``{"hidden": "muon", "default": "adamw"}`` (also as the string "hidden=muon,default=adamw").
    A Muon name alone means Muon for hidden matrices and AdamW elsewhere (Muon orthogonalises
    matrices; its documentation prescribes AdamW for embeddings, readout, gains and biases)."""
    if isinstance(name, str) and "=" in name:
        name = _parse_plan(name)
    if isinstance(name, Mapping):
        given = dict(name)
        default = given.pop("default", None)
        models: dict[str, UpdateModel] = {}
        for kind, opt in given.items():
            models[canonical_kind(kind)] = _single(opt)
        missing = [kind for kind in LAYER_KINDS if kind not in models]
        if missing and default is None:
            raise ValueError(
                f"per-kind optimizer {name!r} names no optimizer for {missing}; add them or a "
                f"'default' entry, e.g. {{'hidden': 'muon', 'default': 'adamw'}}"
            )
        for kind in missing:
            models[kind] = _single(default)  # type: ignore[arg-type]  # checked just above
    else:
        model = _single(name)
        if not isinstance(model, Muon) and not isinstance(model, PerKind):
            return model
        if isinstance(model, PerKind):
            return model
        models = {kind: OPTIMIZERS[MUON_PARTNER] for kind in LAYER_KINDS}
        models[HIDDEN] = model
    for kind, model in models.items():  # e.g. Muon on a bias: a clear error now, not in the solver
        model.update_forms(kind, 0, 0, 0, [0])
    names = {m.name for m in models.values()}
    if len(names) == 1:
        return models[HIDDEN]
    return PerKind.build(models)


def canonical_name(name: str | UpdateModel | Mapping[str, str | UpdateModel]) -> str:
    """The canonical spelling: a registry name for one optimizer (a Muon name stays itself, though
    it resolves to a plan), else the plan's "kind=name,...,default=name"."""
    if isinstance(name, str) and "=" not in name:
        return _single(name).name
    return get_optimizer(name).name


__all__ = [
    "canonical_name",
    "OPTIMIZERS",
    "SCALINGS",
    "UPDATE_VIEWS",
    "WEIGHT_DECAY_CONVENTIONS",
    "PerKind",
    "UpdateModel",
    "get_optimizer",
]
