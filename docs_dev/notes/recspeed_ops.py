"""Where a recorded run's extra time goes: self CPU time by operator (torch.profiler), recorded
GPT runs minus bare ones, the two alternating so that drift in load reaches both.

Run: ``PYTHONPATH=$PWD python docs_dev/notes/recspeed_ops.py 1`` (1: with the alignment terms,
0: without).  Operators the bare run also calls move by tens of ms between repeats on a shared
CPU; those only the recorder calls (bmm, stack/cat, index_select, norms, sub) are its own.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from experiments.lab import bench_coordcheck as bench  # noqa: E402

REPEATS = 6


def main(alignment: bool) -> None:
    torch.set_num_threads(1)
    case = bench._builtin("gpt", (128, 256, 512), 1, 5)
    runs = {
        "bare": lambda w: bench._bare(case, 0, w),
        "recorded": lambda w: bench._recorded(case, 0, w, alignment),
    }
    for width in case.widths:  # warm-up
        for run in runs.values():
            run(width)
    ms: dict[str, collections.Counter] = {k: collections.Counter() for k in runs}
    for r in range(REPEATS):
        for key in ("bare", "recorded") if r % 2 else ("recorded", "bare"):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for width in case.widths:
                    runs[key](width)
            for event in prof.key_averages():
                ms[key][event.key] += event.self_cpu_time_total / REPEATS / 1e3
    bare, rec = ms["bare"], ms["recorded"]
    total_b, total_r = sum(bare.values()), sum(rec.values())
    print(f"alignment={alignment}; self CPU ms per run of widths {case.widths}:")
    print(f"  bare {total_b:.1f}, recorded {total_r:.1f}, ratio {total_r / total_b:.3f}")
    own = {k: v for k, v in rec.items() if bare[k] == 0}
    print(
        f"  operators only the recorded run calls: {sum(own.values()):.1f} ms "
        f"({sum(own.values()) / total_b:.1%} of bare)"
    )
    for key, value in sorted(own.items(), key=lambda kv: -kv[1])[:10]:
        print(f"    {key:32s} {value:7.2f} ms ({value / total_b:.2%})")


if __name__ == "__main__":
    main(sys.argv[1] == "1")
