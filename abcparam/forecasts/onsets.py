"""Measured instability onsets from traced sweep runs: per (scheme, width, variant) the largest
attention logit and log Z reached at each learning rate, and the smallest learning rate whose
largest attention logit exceeds a threshold (Wortsman et al. 2023's attention-logit growth)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

#: a logit this large makes the attention over a 32-token context nearly one-hot (e^20 ≫ 32)
LOGIT_THRESHOLD = 20.0


def _final(trace: dict, name: str) -> float:
    values = [v for v in trace.get(name, []) if v is not None and math.isfinite(v)]
    return float(max(np.abs(values))) if values else math.inf


def logit_table(rows: Iterable[dict], group: Sequence[str] = ("scheme", "width")) -> dict:
    """{group key: {log2_lr: {"max_attention_logit": mean over seeds of the run's largest,
    "log_z": mean of the final mean log Z, "seeds": n}}}; a run that stopped non-finite counts as
    an unbounded logit."""
    acc: dict[tuple, dict[float, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        trace = row.get("trace")
        if not trace:
            continue
        logit = _final(trace, "max_attention_logit")
        if row.get("diverged_reason") == "non-finite training loss":
            logit = math.inf
        zs = [v for v in trace.get("log_z", []) if v is not None and math.isfinite(v)]
        acc[tuple(row.get(g) for g in group)][row["log2_lr"]].append(
            (logit, zs[-1] if zs else math.nan)
        )
    return {
        key: {
            lr: {
                "max_attention_logit": float(np.mean([p[0] for p in pts])),
                "log_z": float(np.mean([p[1] for p in pts])),
                "seeds": len(pts),
            }
            for lr, pts in sorted(lrs.items())
        }
        for key, lrs in acc.items()
    }


def measured_onset(curve: dict[float, dict], threshold: float = LOGIT_THRESHOLD) -> float | None:
    """The smallest log2 LR whose mean largest attention logit exceeds ``threshold`` (None: no
    learning rate of the grid reaches it)."""
    for lr in sorted(curve):
        if curve[lr]["max_attention_logit"] > threshold:
            return lr
    return None
