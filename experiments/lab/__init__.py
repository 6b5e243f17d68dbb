"""Experiment logic, importable: each module has ``main(argv=None)``; experiments/ holds thin scripts.

Every experiment writes to :func:`experiments.lab.paths.results_dir` (the committed
``experiments/results/`` unless ``$ABCPARAM_RESULTS`` points elsewhere; the main job points it at
the ignored ``experiments/results/_latest``) and calls :func:`reproducible` first.
"""

from __future__ import annotations

from abcparam.reproducible import reproducible

__all__ = ["reproducible"]
