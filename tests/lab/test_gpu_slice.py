"""The one-call GPU script (experiments/gpu/h200_slice.sh) at tiny size on the CPU: its three
sweeps run side by side, keep their runs, and the presets it names are the issue's sizes."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_slice_script_runs_three_sweeps_and_packs_them(tmp_path):
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "experiments/gpu/h200_slice.sh"),
            str(tmp_path),
            "cpu",
            "300",
            "--tiny",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert _lines(tmp_path / "forecasts_gpu_scale/tune/runs.jsonl") == 2  # quick: 2 LRs, 1 seed
    assert (
        _lines(tmp_path / "forecasts_gpu_scale/scale/runs.jsonl") == 2 * 4
    )  # 2 schemes x 4 widths
    assert (
        _lines(tmp_path / "forecasts_gpu_sensitivity/sensitivity/runs.jsonl") == 3 * 2 * 2
    )  # schemes x variants x LRs
    assert _lines(tmp_path / "horizon_late_gpu/runs.jsonl") == 2 * 2  # 2 widths x 2 conventions
    assert len((tmp_path / "logs/code.txt").read_text().split()[0]) == 40  # the commit it ran
    with tarfile.open(tmp_path / "results.tar.gz") as tar:
        names = tar.getnames()
    assert "./horizon_late_gpu/runs.jsonl" in names and "./logs/scale.log" in names


def test_slice_presets_are_the_issue_sizes():
    from experiments.lab.forecasts import PRESETS
    from experiments.lab.horizon_grid import LATE

    scale, sens = PRESETS["gpu-scale"], PRESETS["gpu-sensitivity"]
    assert scale.base_width == 64 and scale.scale_widths == (64, 128, 256, 512, 1024)
    assert scale.scale_steps >= 1000 and scale.seeds >= 3
    assert sens.sensitivity_widths == (256,) and sens.sensitivity_points == 21
    assert sens.sensitivity_steps >= 1000
    assert sens.sensitivity_variants == ("plain", "qk-layernorm+z-loss")
    assert LATE["gpu"]["steps"] >= 2000 and "512" in LATE["gpu"]["widths"].split(",")


def test_width_slice_script_runs_its_sweeps_on_the_given_text(tmp_path):
    """experiments/gpu/h200_width_slice.sh at tiny size: a folder per width, trained on the text
    the topics file names (its fingerprint in every run), and the sensitivity sweep beside it."""
    topics = tmp_path / "topics.py"
    literal = {"x": "the quick brown fox jumps over the lazy dog. " * 400}
    topics.write_text(f"topics = {literal!r}\n")
    out = tmp_path / "out"
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "experiments/gpu/h200_width_slice.sh"),
            str(out),
            "cpu",
            "300",
            str(topics),
            "--tiny",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PACK": str(tmp_path / "one.tgz")},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    for width in (16, 24, 32):
        rows = [json.loads(x) for x in (out / f"horizon_grid_gpu_w{width}/runs.jsonl").open()]
        assert len(rows) == 2 * 2 * 3  # quick: batches x LRs x seeds
        assert {r["width"] for r in rows} == {width} and {r["base_width"] for r in rows} == {16}
        assert {r["text"] for r in rows} == {f"{len(literal['x'])}:" + rows[0]["text"][-12:]}
    assert _lines(out / "forecasts_gpu_sensitivity/sensitivity/runs.jsonl") == 3 * 2 * 2
    with tarfile.open(tmp_path / "one.tgz") as tar:  # everything in the one archive PACK names
        assert "./horizon_grid_gpu_w24/runs.jsonl" in tar.getnames()
        assert "./logs/sensitivity.log" in tar.getnames()
