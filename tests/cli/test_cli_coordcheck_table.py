"""The coord-check CLI's table (every judged miss at any step; reported-only rows marked) and its
``--layer-map`` (JSON or regex=kind pairs, as ``check(layer_map=)``)."""

from __future__ import annotations

import dataclasses
import json

import abcparam
from abcparam.cli import main
from abcparam.cli.coordcheck import parse_layer_map
from abcparam.coordcheck.check import check

OWN = ["--model", "own_model_fixture:make", "--batch", "own_model_fixture:batch"]
SMALL = ["--widths", "32,64,128", "--steps", "1", "--seeds", "1"]


def test_table_shows_misses_at_every_step_and_marks_reported_rows():
    import own_model_fixture

    rules = abcparam.rules("mup", optimizer="adam")
    result = check(
        own_model_fixture.make, rules, own_model_fixture.batch, widths=(32, 64), steps=1, seeds=1,
        progress=False,
    )  # fmt: skip
    first = next(i for i, f in enumerate(result.fits) if f.step == 0 and f.judged)
    missed = dataclasses.replace(result.fits[first], passed=False)
    result.fits[first] = missed
    text = result.table(step=1, misses=True)
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines()[2:]]
    assert [missed.layer, missed.quantity, "0"] in [r[:3] for r in rows if r[-1] == "NO"]
    step0 = {
        (f.layer, f.quantity) for f in result.fits if f.step == 0 and f.judged and not f.passed
    }
    assert {(r[0], r[1]) for r in rows if r[2] == "0"} == step0  # every miss at step 0, only those
    last_only = [line.split("|")[3].strip() for line in result.table(step=1).splitlines()[2:]]
    assert set(last_only) == {"1"}
    reported = [f for f in result.fits if not f.judged and f.step == 1]
    assert reported and text.count("| reported |") == len(reported)
    assert "| NO |" not in result.table(step=1)  # a reported-only row is never "NO"


def test_layer_map_on_the_cli(tmp_path, capsys):
    assert parse_layer_map('{"^2\\\\.weight$": "readout"}') == {"^2\\.weight$": "readout"}
    assert parse_layer_map("router=readout, experts=hidden") == {
        "router": "readout",
        "experts": "hidden",
    }
    out = tmp_path / "check"
    code = main(
        ["coord-check", *OWN, *SMALL, "--layer-map", r"^2\.weight$=readout", "--out", str(out)]
    )
    assert code in (0, 1)
    saved = json.loads((out / "results.json").read_text())
    kinds = dict(zip(saved["config"]["topology"]["names"], saved["config"]["topology"]["kinds"]))
    assert kinds["2"] == "readout"
    printed = capsys.readouterr().out
    assert "Verdict:" in printed and "reported" in printed
    for bad, message in (("router", "expected regex=kind"), ("{not json", "not valid JSON")):
        assert main(["coord-check", *OWN, *SMALL, "--layer-map", bad]) == 2
        assert message in capsys.readouterr().err
    assert main(["coord-check", *OWN, *SMALL, "--layer-map", "2=blah"]) == 2
    assert "not a layer kind" in capsys.readouterr().err
    assert main(["coord-check", "--model", "mlp", *SMALL, "--layer-map", "a=hidden"]) == 2
    assert "own model" in capsys.readouterr().err
