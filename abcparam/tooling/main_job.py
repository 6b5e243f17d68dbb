"""``abcparam main``: derive every table, run the CPU coordinate checks, build the book."""

from __future__ import annotations

import subprocess
import sys

from ..engine.optimizers import OPTIMIZERS
from ..engine.rules import rules
from ..engine.schemes import SCHEMES
from ..records import save_json
from .book import build, repo_root

ALIGNMENTS = ("full", "none")
#: the CPU coordinate checks the book shows, in order (the evolution script also redraws the
#: predicted-vs-measured scatter from the grid's fresh results)
COORDCHECK_SCRIPTS = (
    "coordcheck_cpu_grid.py",
    "coordcheck_cpu_long.py",
    "alignment_evolution.py",
    "wrong_rules_cpu.py",
)


def derive_tables(out) -> int:
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


def main_job(skip_coordcheck: bool = False, skip_book: bool = False) -> int:
    """Derive every table, run the CPU coordinate-check experiments, build the book."""
    root = repo_root()
    n = derive_tables(root / "experiments" / "results" / "tables")
    print(f"derived {n} tables -> experiments/results/tables/")
    if not skip_coordcheck:
        for script in COORDCHECK_SCRIPTS:
            print(f"running experiments/{script}", flush=True)
            subprocess.check_call([sys.executable, str(root / "experiments" / script)], cwd=root)
    if skip_book:
        return 0
    return build(root)
