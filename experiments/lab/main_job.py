"""``abcparam main``: derive every table, run the CPU coordinate checks, build the book.

A run writes to the ignored ``experiments/results/_latest/`` (the book reads it when present,
else the committed results), so the work tree stays clean; ``refresh_committed=True``
(``abcparam main --refresh-committed``) rewrites the committed ``experiments/results/`` instead.
Every stage shows progress (a stage bar, and each experiment's own bar); what a stage prints
goes to its log (experiments/results/_latest/logs/STAGE.log), and the run ends with one table
of what each stage checked, its outcome, time, where it wrote and its log.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from pathlib import Path

from abcparam.engine.optimizers import OPTIMIZERS
from abcparam.engine.rules import rules
from abcparam.engine.schemes import SCHEMES
from abcparam.records import save_json
from experiments.lab.paths import LATEST, RESULTS_ENV, results_dir

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


#: what each stage checks, in the summary table
CHECKS = {
    "tables": "every scheme x optimizer x alignment derived",
    "coordcheck_cpu_grid": "coordinate-check grid (models x schemes x optimizers)",
    "coordcheck_cpu_long": "long coordinate checks (fresh batches)",
    "alignment_evolution": "alignment exponents over training; predicted-vs-measured scatter",
    "wrong_rules_cpu": "deliberately wrong tables are caught",
    "book": "the book builds, every page executed",
}
#: where each stage writes, under the results folder (the book: its html)
WRITES = {
    "tables": "tables",
    "coordcheck_cpu_grid": "coordcheck_cpu",
    "coordcheck_cpu_long": "coordcheck_cpu_long",
    "alignment_evolution": "alignment_cpu",
    "wrong_rules_cpu": "wrong_rules_cpu",
}


def _stage(name: str, root: Path, log: Path) -> tuple[int, str]:
    """Run one stage with its printed lines captured in ``log``; (exit code, its last line)."""
    if name == "book":
        return build(root, log=log), ""
    with log.open("w") as sink, contextlib.redirect_stdout(sink):
        if name == "tables":
            n = derive_tables(results_dir("tables"))
            print(f"derived {n} tables")
            code = 0
        else:
            code = int(importlib.import_module(f"experiments.lab.{name}").main([]) or 0)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return code, (lines[-1] if lines else "")


def _outcome(name: str, code: int, last: str) -> str:
    """One short phrase for the summary: the stage's own last line, cleaned of wall times."""
    if code != 0:
        return "FAILED (see its log)"
    if name == "book":
        return "built"
    summary = {"coordcheck_cpu_long": _long_summary, "alignment_evolution": _scatter_summary}.get(
        name, lambda: ""
    )()
    if summary:
        return summary
    words = [part.strip() for part in last.replace(";", ",").split(",")]
    kept = [w for w in words if w and not w.startswith(("wall", "total"))]
    return ", ".join(kept) or "done"


def _long_summary() -> str:
    import json

    path = results_dir(WRITES["coordcheck_cpu_long"]) / "results.json"
    if not path.exists():
        return ""
    summary = json.loads(path.read_text()).get("summary", {})
    return "; ".join(f"{k} {v['passed']}/{v['fits']} fits pass" for k, v in summary.items())


def _scatter_summary() -> str:
    import json

    path = results_dir(WRITES["alignment_evolution"]) / "results.json"
    if not path.exists():
        return ""
    n = json.loads(path.read_text()).get("scatter", {})
    if not n.get("fits"):
        return ""
    return (
        f"scatter: {n['within_measured']}/{n['fits']} fits within 0.15 under the measured "
        f"alignment, {n['within_preset']}/{n['fits']} under the preset"
    )


def summary_table(rows: list[tuple[str, str, str, float, str, str]]) -> str:
    """The closing table: stage, what it checks, outcome, time, where it wrote, its log."""
    head = ("stage", "checks", "outcome", "time", "wrote", "log")
    cells = [head, *[(a, b, c, f"{t:.0f} s", e, f) for a, b, c, t, e, f in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def main_job(
    skip_coordcheck: bool = False, skip_book: bool = False, refresh_committed: bool = False
) -> int:
    """Derive every table, run the CPU coordinate-check experiments, build the book; end with a
    table of what each stage checked, how long it took, where it wrote and its log.  Results go
    to experiments/results/_latest unless ``refresh_committed``; logs always to
    experiments/results/_latest/logs (ignored by git)."""
    from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

    root = repo_root()
    target = root / "experiments" / "results"
    logs = target / LATEST / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if not refresh_committed:
        target = target / LATEST
    stages = ["tables", *([] if skip_coordcheck else EXPERIMENTS), *([] if skip_book else ["book"])]
    previous = os.environ.get(RESULTS_ENV)
    os.environ[RESULTS_ENV] = str(target)  # every experiment writes through results_dir()
    rows: list[tuple[str, str, str, float, str, str]] = []
    status = 0
    start = time.perf_counter()
    try:
        bar = tqdm(stages, desc="abcparam main", unit="stage")
        for name in bar:
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            log = logs / f"{name}.log"
            code, last = _stage(name, root, log)
            seconds = time.perf_counter() - t0
            wrote = (
                "book/_build/html"
                if name == "book"
                else str((target / WRITES.get(name, name)).relative_to(root))
            )
            outcome = _outcome(name, code, last)
            rows.append((name, CHECKS.get(name, name), outcome, seconds, wrote, _rel(log, root)))
            tqdm.write(f"[main] {name}: {outcome} ({seconds:.0f} s)")
            status = status or code
    finally:
        if previous is None:
            os.environ.pop(RESULTS_ENV, None)
        else:
            os.environ[RESULTS_ENV] = previous
    total = time.perf_counter() - start
    print("\n" + summary_table(rows))
    print(
        f"\n{'all stages passed' if status == 0 else 'a stage FAILED'} in {total:.0f} s; "
        f"results in {target.relative_to(root)}/, each stage's full output in "
        f"{logs.relative_to(root)}/"
    )
    return status


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root))
