"""Forecasts before training (torch-free: numpy and scipy): the loss at an untrained width from a
scaling-law fit (:func:`predict_loss`), Wortsman et al.'s learning-rate sensitivity, loss-curve
collapse across widths, and measured instability onsets; the derived instability exponents live
in :mod:`abcparam.engine.instability`."""

from .collapse import collapse_spread
from .onsets import logit_table, measured_onset
from .runs import load_runs
from .scaling import LossPrediction, predict_loss
from .sensitivity import lr_sensitivity, sensitivity_parts, sensitivity_table, width_slope

__all__ = [
    "LossPrediction",
    "collapse_spread",
    "load_runs",
    "logit_table",
    "lr_sensitivity",
    "measured_onset",
    "predict_loss",
    "sensitivity_parts",
    "sensitivity_table",
    "width_slope",
]
