"""Benchmark (issue 29, item 6): seconds from process start to the first training step of
``abcparam coord-check`` on the built-in GPT (``--model transformer``, default settings).

Each repeat is a fresh interpreter that runs the command and stops at the first optimizer step
(a global step pre-hook that prints the process age and CPU time, and exits; CPU time is what a
loaded machine changes least), so the figure is the start-up a
user waits for: imports, argument checks, the derivation of the rules, the resource check and
the first model's build.  Interleaved with each run, a floor: torch alone (import, one Adam
step), which no change to abcparam can remove.  Medians over ``--repeats`` runs are printed and
saved with every run and its provenance in ``--out`` (default:
experiments/results/bench_startup/results[_LABEL].json).  ``--pythonpath DIR`` times the
abcparam in DIR (e.g. ``git archive`` of an older commit) while the results and their
provenance stay this checkout's.

Run: ``python experiments/bench_startup.py [--repeats 5] [--out DIR] [-- extra coord-check args]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: seconds since this process started (Linux /proc), inlined so that the child measures any
#: checkout on PYTHONPATH, including one from before abcparam.cli.startup existed
AGE = """
import os


def process_age():
    with open("/proc/self/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    with open("/proc/uptime") as uptime:
        now = float(uptime.read().split()[0])
    return now - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def stop(optimizer, args, kwargs):
    cpu = os.times()
    print(f"FIRST_STEP {process_age():.4f} {cpu.user + cpu.system:.4f}", flush=True)
    os._exit(0)
"""

#: the child: the CLI with a global step hook that reports the first step's process age and
#: stops there (torch is imported before the CLI rather than by it: the same work, in another
#: order)
CHILD = (
    AGE
    + """
import sys

from torch.optim.optimizer import register_optimizer_step_pre_hook

register_optimizer_step_pre_hook(stop)
from abcparam.cli import main

sys.exit(main(sys.argv[1:]))
"""
)

#: the floor: torch's own start before any step (import torch, build an Adam, step once); what
#: abcparam adds is the check's figure minus this one
FLOOR = (
    AGE
    + """
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

p = torch.zeros(1, requires_grad=True)
register_optimizer_step_pre_hook(stop)
p.sum().backward()
torch.optim.Adam([p]).step()
"""
)


def one_run(
    code: str, args: list[str], timeout: float, pythonpath: str | None = None
) -> tuple[float, float]:
    """(wall, CPU) seconds from process start to the first training step, in a fresh
    interpreter (importing abcparam from ``pythonpath`` when given)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("FIRST_STEP "):
            _, wall, cpu = line.split()
            return float(wall), float(cpu)
    raise RuntimeError(f"no training step reached (exit {proc.returncode}): {proc.stderr[-500:]}")


def _parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] + " " + __doc__.splitlines()[1],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--repeats", type=int, default=5, help="fresh interpreters timed")
    parser.add_argument(
        "--label", default="", help="a name for this measurement in the results (e.g. before)"
    )
    parser.add_argument("--out", default=None, help="results folder (default: see above)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run at most")
    parser.add_argument(
        "--pythonpath",
        default=None,
        help="the checkout the timed command imports abcparam from (e.g. an export of an older "
        "commit, to time it); default: this one",
    )
    parser.add_argument(
        "--compare",
        default=None,
        help="another checkout (e.g. an export of an older commit) timed in the same loop as this "
        "one, run after run, so both see the same load; paired differences are reported",
    )
    parser.add_argument(
        "extra",
        nargs="*",
        help="coord-check arguments after --model transformer (default settings if none)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tqdm.std import tqdm

    from abcparam.records import save_json
    from experiments.lab.paths import results_dir

    command = ["--model", "transformer", *args.extra]
    started = time.time()
    check, torch_only, other = [], [], []
    for _ in tqdm(range(args.repeats), desc="start-up runs"):  # interleaved: same load on all
        check.append(one_run(CHILD, ["coord-check", *command], args.timeout, args.pythonpath))
        torch_only.append(one_run(FLOOR, [], args.timeout))
        if args.compare:
            other.append(one_run(CHILD, ["coord-check", *command], args.timeout, args.compare))
    seconds, floor = [w for w, _ in check], [w for w, _ in torch_only]
    cpu, floor_cpu = [c for _, c in check], [c for _, c in torch_only]
    median, floor_median = statistics.median(seconds), statistics.median(floor)
    added = statistics.median(s - f for s, f in zip(seconds, floor, strict=True))
    cpu_median, floor_cpu_median = statistics.median(cpu), statistics.median(floor_cpu)
    print(
        f"abcparam coord-check {' '.join(command)}: start-up {median:.2f} s wall, "
        f"{cpu_median:.2f} s CPU (medians over {len(seconds)} runs); torch alone "
        f"{floor_median:.2f} s wall, {floor_cpu_median:.2f} s CPU; abcparam adds "
        f"{added:.2f} s wall (median of the paired differences), "
        f"{cpu_median - floor_cpu_median:.2f} s CPU"
    )
    out = Path(args.out) if args.out else results_dir("bench_startup")
    path = out / f"results{'_' + args.label if args.label else ''}.json"
    save_json(
        path,
        {
            "what": "seconds from process start to the first optimizer step",
            "coord_check_args": command,
            "label": args.label,
            "abcparam_from": args.pythonpath or "this checkout",
            "seconds": seconds,
            "median_s": median,
            "torch_floor_seconds": floor,
            "torch_floor_median_s": floor_median,
            "added_median_s": added,
            "cpu_seconds": cpu,
            "cpu_median_s": cpu_median,
            "torch_floor_cpu_seconds": floor_cpu,
            "torch_floor_cpu_median_s": floor_cpu_median,
            "compare_from": args.compare,
            "compare_seconds": [w for w, _ in other],
            "compare_cpu_seconds": [c for _, c in other],
        },
        started=started,
    )
    if other:
        gained = [o - c for (_, o), (_, c) in zip(other, check, strict=True)]
        print(
            f"{args.compare} minus this checkout: {statistics.median(gained):+.2f} s CPU (median "
            f"of {len(gained)} paired differences: {', '.join(f'{g:+.2f}' for g in gained)})"
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
