"""A/B of the batched trainer before and after the speed work (docs_dev/notes/speed.md): the same
16-LR cohort trained by two source trees, alternating in fresh processes, process CPU time.

Run: ``git archive cfcac20 abcparam | tar -x -C /tmp/old`` then
``python docs_dev/notes/speed_ab.py /tmp/old . [model width steps repeats]``.
"""

import os
import subprocess
import sys

CHILD = """
import sys, time
from experiments.lab.bench_batched_sweep import _configs
from abcparam.transfer.batched import train_batched
cfgs = _configs(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), 16)
train_batched(cfgs[:2])
c = time.process_time()
train_batched(cfgs, curves=False)
print(time.process_time() - c)
"""

old, new = sys.argv[1], sys.argv[2]
model, width, steps, repeats = (sys.argv[3:] + ["mlp", "128", "100", "3"][len(sys.argv[3:]) :])[:4]
times: dict[str, list[float]] = {"old": [], "new": []}
for _ in range(int(repeats)):
    for name, tree in (("old", old), ("new", new)):
        env = {**os.environ, "PYTHONPATH": os.path.abspath(tree), "OMP_NUM_THREADS": "1"}
        out = subprocess.run(
            [sys.executable, "-c", CHILD, model, width, steps],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        times[name].append(float(out.stdout.strip().splitlines()[-1]))
print(model, width, steps, {k: [round(t, 2) for t in v] for k, v in times.items()})
print(
    "old / new (medians):",
    sorted(times["old"])[len(times["old"]) // 2] / sorted(times["new"])[len(times["new"]) // 2],
)
