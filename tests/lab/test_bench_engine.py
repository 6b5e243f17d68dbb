"""The engine benchmark saves its runs (a timing is quoted only from a saved file)."""

import json

from experiments.lab import bench_engine


def test_bench_engine_saves_every_run_with_provenance(tmp_path):
    assert bench_engine.main(["--repeats", "1", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    (run,) = saved["runs"]
    assert run["count"] > 0 and run["cpu_total_s"] > 0 and run["repeat_query_ms"] > 0
    assert saved["provenance"]["command"]
