"""Depth as an axis of the one pipeline: ``run_depth_check`` (a loop of ``check(...,
vary="depth")`` over schemes) gives what the separate depth path gave before it was folded in
(depth_main_records.json: that path's records, fits and summaries, saved from the commit before
the change by docs_dev/notes/depth_equality.py --reference)."""

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from abcparam.coordcheck import CheckOptions, check  # noqa: E402
from abcparam.coordcheck.depth import (  # noqa: E402
    DepthCheckConfig,
    DepthCheckResult,
    depth_batch,
    depth_factory,
    run_depth_check,
)
from abcparam.coordcheck.schema import depth_row  # noqa: E402

SAVED = json.loads((Path(__file__).parent / "depth_main_records.json").read_text())["cases"]


def _same(got, want, rel: float = 1e-3, where: str = "") -> None:
    """Equal JSON trees, floats to ``rel`` relative or absolute (nan equals nan).  The saved
    records came from another CPU whose float32 kernels round differently; over the check's
    steps that grows to ~2e-5 in these records (measured on a second machine), far below what a
    change of the code moves, and the summary's counts must match exactly."""
    if isinstance(want, dict):
        assert list(got) == list(want), where
        for key in want:
            _same(got[key], want[key], rel, f"{where}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, rel, f"{where}[{i}]")
    elif isinstance(want, float) and isinstance(got, float):
        both_nan = math.isnan(want) and math.isnan(got)
        # a spread that is zero up to rounding: nan (0/0) on one CPU, ~1e-16 on another
        both_nan = both_nan or (math.isnan(want) and abs(got) < 1e-12)
        assert both_nan or math.isclose(got, want, rel_tol=rel, abs_tol=rel), (where, got, want)
    else:
        assert got == want, where


@pytest.fixture
def one_thread():
    """The saved records were made on one thread (float32 sums across threads differ)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("case", range(len(SAVED)), ids=lambda i: SAVED[i]["config"]["model"])
def test_depth_check_reproduces_the_separate_path(case, one_thread):
    saved = SAVED[case]
    config = DepthCheckConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in saved["config"].items()}
    )
    result = run_depth_check(config, progress=False)
    torch.set_num_threads(1)  # run_depth_check pins one thread too
    _same([depth_row(r) for r in result.records], saved["records"], where="records")
    for key in ("fits", "width_fits"):
        _same([f.legacy() for f in getattr(result, key)], saved[key], where=key)
    _same(json.loads(json.dumps(result.stream)), saved["stream"], where="stream")
    _same(result.summary(), saved["summary"], where="summary")
    assert result.summary()["depth_fits"] > 0


def test_check_vary_depth_is_run_depth_check(one_thread):
    """``check(..., vary="depth")`` on one scheme gives run_depth_check's records for it."""
    config = DepthCheckConfig(
        model="mlp", schemes=("completep",), widths=(16,), depths=(2, 4), steps=1, seeds=1, batch=8
    )
    looped = run_depth_check(config, progress=False)
    options = CheckOptions(vary="depth", widths=(16,), depths=(2, 4), steps=1, seeds=1, lr=1e-4)
    one = check(
        depth_factory("mlp"),
        "completep",
        depth_batch("mlp", 8),
        options,
        name="mlp",
        progress=False,
        describe={"batch": 8},
    )
    assert isinstance(one, DepthCheckResult)
    assert one.records == looped.records
    assert one.fits == looped.fits
    layers = {r["layer"] for r in one.records}
    assert {"embedding", "first.fc1", "readout", "stream", "stream parts"} <= layers


def test_depth_options_are_checked():
    with pytest.raises(ValueError, match="vary = 'height'; accepted: width, depth"):
        CheckOptions(vary="height")
    with pytest.raises(ValueError, match="depths"):
        CheckOptions(vary="depth", widths=(16,), depths=(4,))
    with pytest.raises(ValueError, match="vary = 'depth' with depths = None"):
        CheckOptions(vary="depth", widths=(16,))
    with pytest.raises(ValueError, match="at least two widths"):
        CheckOptions(widths=(16,))  # one width is enough only along depth
    options = CheckOptions(vary="depth", widths=(16,), depths=(4, 2, 8))
    assert options.depth0 == 2 and options.widths == (16,)
