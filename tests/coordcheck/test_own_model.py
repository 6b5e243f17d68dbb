"""Coordinate checks on the user's own models: Python API, CLI, Hugging Face, errors."""

import json

import pytest
from own_model_fixture import batch, make
from torch import nn

import abcparam
from abcparam.coordcheck import check, schema

TINY = dict(widths=(32, 64), steps=1, seeds=1, progress=False)


def test_check_on_a_plain_sequential_model(tmp_path):
    """nn.Linear layers, no abcparam layer: kinds from two widths, graph from one forward; the
    hidden layer's Adam update under muP scales as n^-1 (c = 1) as predicted."""
    result = check(make, abcparam.rules("mup", optimizer="adam"), batch, out=tmp_path, **TINY)
    layers = {f.layer for f in result.fits}
    assert layers == {"0", "2", "4"}
    update = next(f for f in result.fits if (f.layer, f.quantity, f.step) == ("2", "update", 1))
    assert update.predicted_slope_preset == -1 and update.passed
    data = json.loads((tmp_path / "results.json").read_text())
    schema.validate(data)
    assert data["config"]["topology"]["names"] == ["0", "2", "4"]
    assert data["config"]["topology"]["parents"] == [[], [0], [1]]


def test_check_on_hugging_face_gpt2_reads_logits_and_records_conv1d():
    from abcparam.coordcheck.batches import tokens
    from abcparam.torch.zoo import hf_gpt2

    result = check(hf_gpt2, abcparam.rules("mup", optimizer="adam"), tokens, **TINY)
    layers = {f.layer for f in result.fits}
    assert {"transformer.h.0.attn.c_attn", "transformer.h.1.mlp.c_proj", "lm_head"} <= layers
    fan_in = {r.layer: r.fan_in for r in result.records if r.step == 1 and r.width == 64}
    assert fan_in["transformer.h.0.mlp.c_proj"] == 4 * 64  # Conv1D weight (in, out)


def test_a_tied_readout_output_at_init_is_reported_with_its_reason():
    """Tied to the embedding, the readout's input holds each token's own embedding row, so its
    output at init is not a CLT sum: reported (not judged) with the reason; untied, judged."""
    from abcparam.coordcheck.batches import tokens
    from abcparam.torch.zoo import hf_gpt2

    rules = abcparam.rules("mup", optimizer="adam")
    for tie in (True, False):
        result = check(lambda w, tie=tie: hf_gpt2(w, tie=tie), rules, tokens, **TINY)
        head = next(f for f in result.fits if (f.layer, f.step) == ("lm_head", 0))
        assert head.judged is not tie
        tied = sorted(result.config["topology"]["tied"])
        assert tied == (["lm_head", "transformer.wte"] if tie else [])
        assert any("tied to the embedding" in flag for flag in result.flags) is tie


def test_bad_inputs_are_clear_errors():
    rules = abcparam.rules("mup", optimizer="adam")
    with pytest.raises(TypeError, match="must take one argument"):
        check(make, rules, lambda: None, **TINY)
    with pytest.raises(ValueError, match="need at least two"):
        check(make, rules, batch, widths=(32,), progress=False)
    with pytest.raises(ValueError, match="no parameter changes shape"):
        check(lambda w: make(32), rules, batch, **TINY)

    class Pair(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.a, self.b = nn.Linear(16, width), nn.Linear(width, 10)

        def forward(self, x):
            return {"out": self.b(self.a(x))}

    with pytest.raises(TypeError, match="not logits"):
        check(Pair, rules, batch, **TINY)


def test_cli_on_own_model_and_errors(tmp_path, capsys):
    from abcparam.cli import main

    code = main(
        [
            "coord-check",
            "--model",
            "own_model_fixture:make",
            "--batch",
            "own_model_fixture:batch",
            "--widths",
            "32,64",
            "--steps",
            "1",
            "--seeds",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code in (0, 1) and (tmp_path / "results.json").exists()
    assert "fits within" in capsys.readouterr().out
    for argv, message in (
        (["--model", "own_model_fixture:make"], "needs --batch"),
        (["--model", "own_model_fixture:nope", "--batch", "x:y"], "has no 'nope'"),
        (["--model", "no_such_pkg_xyz:make", "--batch", "x:y"], "cannot import"),
        (["--model", "resnet"], "unknown model 'resnet'"),
    ):
        with pytest.raises(ValueError, match=message):
            import argparse

            from abcparam.cli.coordcheck import add_arguments, run

            parser = argparse.ArgumentParser()
            add_arguments(parser)
            run(parser.parse_args(argv + ["--widths", "32,64"]))


def test_cli_fresh_batches_on_own_model_and_built_in(tmp_path):
    """--fresh-batches trains on a new batch each step (measured on the first) for a user model
    and for the built-in ones; the saved config says so."""
    from abcparam.cli import main

    common = ["--widths", "32,64", "--steps", "2", "--seeds", "1", "--fresh-batches"]
    for name, model in (
        ("own", ["own_model_fixture:make", "--batch", "own_model_fixture:batch"]),
        ("mlp", ["mlp"]),
    ):
        out = tmp_path / name
        code = main(["coord-check", "--model", *model, *common, "--out", str(out)])
        assert code in (0, 1)
        saved = json.loads((out / "results.json").read_text())
        assert saved["config"]["fixed_batch"] is False
        assert {r["step"] for r in saved["records"]} == {0, 1, 2}
