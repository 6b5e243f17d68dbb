"""One results.json schema for both axes: a depth check saves schema.py's payload (``axis``
depth: DepthRecord, DepthFit and DepthAlignmentFit rows), schema.validate checks it, and
depth.load reads it and the depth files written before the one schema (the committed results
re-judge to their saved summaries; their rows convert both ways without loss)."""

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from abcparam.coordcheck import depth, schema  # noqa: E402
from abcparam.coordcheck.schema import (  # noqa: E402
    DepthFit,
    DepthRecord,
    Fit,
    depth_record,
    depth_row,
)

COMMITTED = Path(__file__).resolve().parents[2] / "experiments/results/depth_coordcheck"
SAVED = sorted(COMMITTED.glob("*/results.json"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A joint-grid depth check (2 schemes, 3 widths x 3 depths, 1 step, 2 seeds), saved."""
    before = torch.get_num_threads()
    config = depth.DepthCheckConfig(
        model="mlp",
        schemes=("mup", "completep"),
        widths=(16, 24, 32),
        depths=(2, 3, 4),
        steps=1,
        seeds=2,
        batch=8,
    )
    result = depth.run_depth_check(config, progress=False)
    torch.set_num_threads(before)
    out = tmp_path_factory.mktemp("depth")
    depth.save(result, out)
    return result, out / "results.json"


def test_depth_results_are_the_one_schema(tiny):
    result, path = tiny
    data = json.loads(path.read_text())
    schema.validate(data)
    assert data["axis"] == "depth" and schema.axis_of(data) == "depth"
    assert {f["axis"] for f in data["fits"]} == {"depth", "width"}
    assert len(data["fits"]) == len(result.fits) + len(result.width_fits) > 0
    assert {a["variable"] for a in data["alignment_fits"]} == {"beta"}
    assert data["summary"] == json.loads(json.dumps(result.summary()))
    typed = schema.load(data)
    assert all(isinstance(r, DepthRecord) for r in typed["records"])
    assert all(isinstance(f, DepthFit) and isinstance(f, Fit) for f in typed["fits"])
    # the width check's files carry no axis key and keep their row types
    assert schema.axis_of({}) == "width" and schema.AXES["width"]["fits"] is Fit


def test_load_gives_back_what_was_saved(tiny):
    result, path = tiny
    back = depth.load(path)
    assert back.records == result.records
    assert back.fits == result.fits and back.width_fits == result.width_fits
    assert back.stream == result.stream
    assert back.summary() == result.summary() and back.table() == result.table()


def test_the_file_written_before_the_one_schema_loads_the_same(tiny, tmp_path):
    """The same check written in the earlier layout (depth_row / DepthFit.legacy rows) loads
    to the same records, fits and summary."""
    result, path = tiny
    data = json.loads(path.read_text())
    old = {
        "config": data["config"],
        "summary": data["summary"],
        "fits": [f.legacy() for f in result.fits],
        "width_fits": [f.legacy() for f in result.width_fits],
        "stream": result.stream,
        "records": [depth_row(r) for r in result.records],
        "provenance": data["provenance"],
    }
    (tmp_path / "results.json").write_text(json.dumps(old))
    back = depth.load(tmp_path / "results.json")
    assert back.records == depth.load(path).records
    assert back.fits == result.fits and back.width_fits == result.width_fits
    assert back.summary() == result.summary()


@pytest.mark.parametrize("path", SAVED, ids=lambda p: p.parent.name)
def test_committed_depth_results_rejudge_to_their_summaries(path):
    data = json.loads(path.read_text())
    assert "axis" not in data  # written before the one schema
    result = depth.load(path)
    assert len(result.records) == len(data["records"]) > 0
    assert result.summary() == data["summary"]
    assert [depth_row(r) for r in result.records] == data["records"]
    assert_rows_match([f.legacy() for f in result.fits], data["fits"])
    assert_rows_match([f.legacy() for f in result.width_fits], data["width_fits"])
    assert result.stream == data["stream"]


def assert_rows_match(refitted: list[dict], saved: list[dict]) -> None:
    """Refitted rows equal the saved ones: every non-float field exactly, every float to 1e-9
    relative (a least-squares refit may differ in the last bits between BLAS builds and CPUs)."""
    assert len(refitted) == len(saved)
    for got, want in zip(refitted, saved):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if isinstance(value, float) and not isinstance(got[key], bool):
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-15), (key, got, want)
            else:
                assert got[key] == value, (key, got, want)


def test_committed_rows_convert_both_ways():
    data = json.loads(SAVED[0].read_text())
    for row in data["records"]:
        record = depth_record(row)
        assert depth_row(record) == row
        assert record["out"] == record.output and record.get("own") == record.term_own
    for row in data["fits"]:
        fit = DepthFit.from_legacy(row, "depth")
        assert fit.legacy() == row and fit.judged == (row["pass"] is not None)
        assert fit["slope"] == row["slope"] and fit.quantity in schema.QUANTITIES


def test_bad_axis_and_mixed_rows_are_refused(tiny):
    _, path = tiny
    data = json.loads(path.read_text())
    with pytest.raises(ValueError, match="axis = 'height'; accepted: width, depth"):
        schema.validate({**data, "axis": "height"})
    without = {k: v for k, v in data.items() if k != "axis"}  # depth rows in a width file
    with pytest.raises(ValueError, match="unknown keys"):
        schema.validate(without)
    with pytest.raises(ValueError, match="pass and preset_pass"):
        DepthFit.from_legacy({**data_fit(data), "pass": None, "preset_pass": True}, "depth")


def data_fit(data: dict) -> dict:
    """A depth fit of ``data`` in the earlier layout."""
    return DepthFit.from_json(next(f for f in data["fits"] if f["axis"] == "depth")).legacy()


def test_describe_documents_the_depth_rows():
    text = schema.describe()
    assert "`axis` (str, optional)" in text
    assert "`fits` rows are DepthFits" in text and "`predicted_slope_finite`" in text
    assert "`records` rows are DepthRecords" in text and "`depth_alignment_ratio`" in text
