"""``abcparam main``: derive every table, run the CPU coordinate checks, build the book.

A run writes to the ignored ``experiments/results/_latest/`` (the book reads it when present,
else the committed results), so the work tree stays clean; ``refresh_committed=True``
(``abcparam main --refresh-committed``) rewrites the committed ``experiments/results/`` instead.
Every stage shows progress (a stage bar, and each experiment's own bar).
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path

from ..engine.optimizers import OPTIMIZERS
from ..engine.rules import rules
from ..engine.schemes import SCHEMES
from ..records import LATEST, RESULTS_ENV, results_dir, save_json
from .book import build, repo_root

ALIGNMENTS = ("full", "none")
#: the CPU experiments the book shows, in order (alignment_evolution also redraws the
#: predicted-vs-measured scatter from the grid's fresh results, so it runs after the grid)
EXPERIMENTS = (
    "coordcheck_cpu_grid",
    "coordcheck_cpu_long",
    "alignment_evolution",
    "wrong_rules_cpu",
)


def derive_tables(out: Path) -> int:
    """Every scheme x optimizer x alignment, as markdown and one JSON file."""
    out.mkdir(parents=True, exist_ok=True)
    everything, text = {}, []
    for scheme in SCHEMES:
        for opt in OPTIMIZERS:
            for al in ALIGNMENTS:
                r = rules(scheme, optimizer=opt, alignment=al)
                everything[f"{scheme}/{opt}/{al}"] = r.to_dict()
                text.append(r.to_markdown())
    save_json(out / "tables.json", {"tables": everything})
    (out / "tables.md").write_text("\n\n".join(text) + "\n")
    return len(everything)


def _stage(name: str, root: Path) -> int:
    if name == "tables":
        n = derive_tables(results_dir("tables"))
        print(f"derived {n} tables -> {results_dir('tables').relative_to(root)}/")
        return 0
    if name == "book":
        return build(root)
    return int(importlib.import_module(f"abcparam.experiments.{name}").main([]) or 0)


def main_job(
    skip_coordcheck: bool = False, skip_book: bool = False, refresh_committed: bool = False
) -> int:
    """Derive every table, run the CPU coordinate-check experiments, build the book; print the
    time of each stage.  Results go to experiments/results/_latest unless ``refresh_committed``."""
    from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

    root = repo_root()
    target = root / "experiments" / "results"
    if not refresh_committed:
        target = target / LATEST
    stages = ["tables", *([] if skip_coordcheck else EXPERIMENTS), *([] if skip_book else ["book"])]
    previous = os.environ.get(RESULTS_ENV)
    os.environ[RESULTS_ENV] = str(target)  # every experiment writes through results_dir()
    times: dict[str, float] = {}
    status = 0
    start = time.perf_counter()
    try:
        bar = tqdm(stages, desc="abcparam main", unit="stage")
        for name in bar:
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            code = _stage(name, root)
            times[name] = time.perf_counter() - t0
            tqdm.write(f"[main] {name}: {times[name]:.0f} s{'' if code == 0 else ' (FAILED)'}")
            status = status or code
    finally:
        if previous is None:
            os.environ.pop(RESULTS_ENV, None)
        else:
            os.environ[RESULTS_ENV] = previous
    total = time.perf_counter() - start
    where = target.relative_to(root)
    print(
        f"[main] total {total:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
        + f"); results in {where}/"
    )
    return status
