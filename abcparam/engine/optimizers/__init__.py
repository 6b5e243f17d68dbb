"""One update model per optimizer; :func:`get_optimizer` resolves names and aliases."""

from __future__ import annotations

from ..exponents import resolve
from .adafactor import ADAFACTOR
from .adam import ADAM
from .adam_atan2 import ADAM_ATAN2
from .base import UpdateModel
from .sgd import SGD_MODEL

OPTIMIZERS: dict[str, UpdateModel] = {m.name: m for m in (SGD_MODEL, ADAM, ADAFACTOR, ADAM_ATAN2)}
_ALIASES = {
    "sgd": "sgd",
    "adam": "adam",
    "adamw": "adam",
    "adafactor": "adafactor",
    "adam-atan2": "adam-atan2",
    "adam_atan2": "adam-atan2",
    "adamatan2": "adam-atan2",
    "atan2": "adam-atan2",
}


def get_optimizer(name: str | UpdateModel) -> UpdateModel:
    """The update model for ``name`` ("sgd", "adam", "adafactor", "adam-atan2"; "adamw" = Adam)."""
    if isinstance(name, UpdateModel):
        return name
    return resolve(name, OPTIMIZERS, _ALIASES, "optimizer", sorted(OPTIMIZERS))


__all__ = ["OPTIMIZERS", "UpdateModel", "get_optimizer"]
