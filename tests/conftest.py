"""The test folders mirror the package (tests/engine, tests/torch, ...); the shared helper modules
(oracles, optional, checkpoint_models, proc_helpers, ...) live here, importable from every folder."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
# the lab (experiments/lab/: experiment logic, the main job, the claims ledger) is not installed
# with abcparam; the tests import it from the checkout
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
