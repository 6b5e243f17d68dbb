"""The recorder's own CPU time, for revisions of abcparam/coordcheck/record.py side by side.

A low-noise complement to ``experiments/bench_coordcheck_overhead.py``. That benchmark takes the
difference of two whole runs, so on a shared CPU its ratios spread by several per cent. This
script times only the recorder's own work and divides it by the bare steps' CPU time. The
recorder's work is its forward hooks, ``start`` and ``measure``; the probe forward that
``measure(batch)`` runs is not counted, since the bare run makes the same final forward. Each
revision's record.py is loaded from git as a module of the package.  Runs are interleaved per
width (bare and every (revision, alignment) variant, in a rotating order); the whole recorded
run's CPU time over the bare run's (what the benchmark reports) is printed beside.

Run: ``PYTHONPATH=$PWD python docs_dev/notes/recspeed_own.py gpt 6 51e605c HEAD``
(model ``gpt`` or ``mlp``, repeats, then distinct revisions; ``worktree``: the file on disk).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from abcparam.coordcheck.run import train  # noqa: E402
from experiments.lab import bench_coordcheck as bench  # noqa: E402

SPENT = [0.0]


def _load(rev: str) -> types.ModuleType:
    """record.py at ``rev``, as the module abcparam.coordcheck._record_<rev> (same package)."""
    if rev == "worktree":  # the file as it is on disk
        source = (ROOT / "abcparam" / "coordcheck" / "record.py").read_text()
    else:
        source = subprocess.check_output(
            ["git", "show", f"{rev}:abcparam/coordcheck/record.py"], cwd=ROOT, text=True
        )
    name = f"abcparam.coordcheck._record_{rev.replace('~', '_').replace('^', '_')}"
    module = types.ModuleType(name)
    module.__package__ = "abcparam.coordcheck"
    sys.modules[name] = module
    exec(compile(source, f"{rev}:record.py", "exec"), module.__dict__)
    _instrument(module.Recorder)
    return module


def _timed(fn):
    def run(*args, **kwargs):
        t0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[0] += time.process_time() - t0

    return run


def _instrument(recorder) -> None:
    """Time start, measure (less its probe forward; the hooks in it still count) and hooks."""
    measure, hook, raw_hook = recorder.measure, recorder._hook, recorder._raw_hook
    recorder.start = _timed(recorder.start)

    def timed_measure(self, batch=None, *, step=0):
        if batch is not None:
            self._probe(batch)  # its forward is the bare run's final forward; hooks time themselves
        return _timed(measure)(self, None, step=step)

    recorder.measure = timed_measure
    recorder._hook = lambda self, *a: _timed(hook(self, *a))
    recorder._raw_hook = lambda self, *a: _timed(raw_hook(self, *a))


def main(name: str, repeats: int, revs: list[str]) -> None:
    torch.set_num_threads(1)
    widths = (128, 256, 512) if name == "gpt" else (256, 512, 1024)
    case = bench._builtin(name, widths, 1, 5)
    modules = {rev: _load(rev) for rev in revs}

    def recorded(module, alignment: bool, width: int) -> tuple[float, float]:
        def steps(model, opt, x, y, width, seed) -> None:
            layers = case.layers(model)
            recorder = module.Recorder(model, layers, alignment, width=width, seed=seed)
            train(model, opt, bench._loss, [(x, y)] * case.steps, recorder, [], [])

        SPENT[0] = 0.0
        total = float(bench._timed(case, 0, width, steps)[1])
        return SPENT[0], total

    variants = [(rev, a) for rev in revs for a in (False, True)]
    for rev, a in variants:  # warm-up
        recorded(modules[rev], a, widths[0])
    own: dict = {v: [] for v in variants}
    whole: dict = {v: [] for v in variants}
    loads = []
    for r in range(repeats):
        bare, spent, total = 0.0, dict.fromkeys(variants, 0.0), dict.fromkeys(variants, 0.0)
        for u, width in enumerate(widths):
            shift = (r + u) % (len(variants) + 1)  # the order rotates, bare included
            order = [None, *variants]
            for v in order[shift:] + order[:shift]:
                if v is None:
                    bare += float(bench._bare(case, 0, width)[1])
                else:
                    mine, run = recorded(modules[v[0]], v[1], width)
                    spent[v] += mine
                    total[v] += run
        for v in variants:
            own[v].append(spent[v] / bare)
            whole[v].append(total[v] / bare)
        loads.append(os.getloadavg()[0])
    print(f"{name} widths {widths}, {repeats} repeats, load {min(loads):.1f}-{max(loads):.1f}")
    for (rev, a), values in own.items():
        q = statistics.quantiles(values, n=4, method="inclusive")
        w = statistics.quantiles(whole[(rev, a)], n=4, method="inclusive")
        what = "record + alignment" if a else "record"
        print(
            f"  {rev:>10} {what:>18}: own time / bare {q[1]:.4f} (IQR {q[0]:.4f}-{q[2]:.4f}); "
            f"whole run / bare {w[1]:.3f} (IQR {w[0]:.3f}-{w[2]:.3f})"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
