"""Saved sweep runs as plain rows: read a folder's ``runs.jsonl`` (one JSON object per run, as
:func:`abcparam.transfer.sweep.run_sweep` writes it) without importing torch."""

from __future__ import annotations

import json
import math
from pathlib import Path


def load_runs(path: str | Path) -> list[dict]:
    """Every run in ``path`` (a ``runs.jsonl`` file, or a folder holding one); a diverged run's
    loss (written as null) reads as inf."""
    path = Path(path)
    file = path / "runs.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise ValueError(
            f"runs = {str(path)!r} holds no runs.jsonl; accepted: a sweep's output folder or its "
            "runs.jsonl"
        )
    rows = []
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{file}: line {number} is not JSON ({err.msg})") from None
        if row.get("val_loss") is None:
            row["val_loss"] = math.inf
        rows.append(row)
    if not rows:
        raise ValueError(f"{file} holds no runs")
    return rows


def finite(loss: object) -> bool:
    """Whether ``loss`` is a finite number (a diverged run's is inf or missing)."""
    return isinstance(loss, int | float) and not isinstance(loss, bool) and math.isfinite(loss)
