"""Bad input gets one clear line (the bad value and the accepted ones) and exit status 2, before
any work starts; never a traceback, never a silently wrong answer (issue 18)."""

from __future__ import annotations

import math
import signal
import sys

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proc_helpers import alive as _alive
from proc_helpers import children as _children

import abcparam
from abcparam import validate
from abcparam.cli import main
from abcparam.cli.args import parse_alignment


def _fails(capsys, argv: list[str], *expected: str) -> str:
    """main(argv) exits 2 with one stderr line holding every expected fragment, no traceback."""
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in expected:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# --- alignment: the same forms in every command -------------------------------------------


@pytest.mark.parametrize("command", [["rules", "mup"], ["epsilon", "--scheme", "mup"]])
def test_alignment_typo_is_an_error_in_every_command(capsys, command):
    argv = [*command, "--alignment", "ful"]
    if command[0] == "epsilon":
        argv += ["--base-width", "64", "--grad-rms", "1e-5"]
    line = _fails(capsys, argv, "unknown alignment 'ful'", "did you mean 'full'", "symbol:NAME")
    assert "tp4" in line


def test_bare_name_is_not_a_silent_symbol(capsys):
    _fails(capsys, ["rules", "mup", "--alignment", "alpha"], "write symbol:alpha")


def test_explicit_symbol_and_json_mapping_with_numbers(capsys):
    assert main(["rules", "mup", "--alignment", "symbol:alpha", "--format", "json"]) == 0
    assert "alpha" in capsys.readouterr().out
    assert main(["rules", "mup", "--alignment", '{"alpha": 0.75}', "--format", "json"]) == 0
    assert '"alpha": "3/4"' in capsys.readouterr().out
    # a JSON number is exact: 0.75 means 3/4, the same as --alignment 0.75 and '3/4'
    assert parse_alignment('{"alpha": 0.75}') == {"alpha": "0.75"}
    assert (
        abcparam.make_alignment(parse_alignment('{"alpha": 0.75}')).hidden.alpha == sympy.S(3) / 4
    )
    assert parse_alignment("symbol:alpha") == sympy.Symbol("alpha")
    nested = parse_alignment('{"u": "symbol:u1", "omega": {"readout": 1}}')
    assert nested == {"u": sympy.Symbol("u1"), "omega": {"readout": "1"}}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2", "outside the accepted range [1/2, 1]"),
        ('{"alpha": NaN}', "NaN"),
        ('{"beta": 1}', "unknown alignment variable 'beta'"),
        ('{"alpha": [1]}', "accepted: a number"),
        ("{alpha: 1}", "not valid JSON"),
        ("symbol:1x", "'1x' is not a symbol name"),
    ],
)
def test_bad_alignment_forms_are_named(capsys, text, expected):
    _fails(capsys, ["rules", "mup", "--alignment", text], expected)


def test_front_with_symbolic_alignment_errors_before_printing(capsys):
    assert main(["rules", "mup", "--alignment", "symbol:alpha", "--front"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no table first, then an error
    assert "--front needs a numeric alignment" in captured.err
    assert "alpha" in captured.err


def test_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="--front needs a numeric alignment"):
        main(["rules", "mup", "--alignment", "symbol:alpha", "--front", "--debug"])


# --- rules / epsilon ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["rules", "xp"], ["unknown scheme 'xp'", "mup"]),
        (["rules", "mup", "--optimizer", "rmsprop"], ["unknown optimizer 'rmsprop'", "adam"]),
        (["rules", "mup", "--hidden-layers", "0"], ["hidden-layers = 0", "integer >= 1"]),
        (["rules", "mup", "--format", "html"], ["invalid choice: 'html'", "markdown"]),
        (
            ["epsilon", "--scheme", "mup", "--eps", "nan", "--base-width", "64"],
            ["eps = nan", "finite number > 0"],
        ),
        (
            ["epsilon", "--scheme", "mup", "--eps=-1e-8", "--base-width", "64"],
            ["eps = -1e-08"],
        ),
        (["epsilon", "--scheme", "mup", "--base-width", "0"], ["base-width = 0", ">= 1"]),
        (
            ["epsilon", "--scheme", "mup", "--base-width", "64", "--grad-rms", "hidden=oops"],
            ["grad-rms hidden = 'oops'"],
        ),
        (
            ["epsilon", "--scheme", "mup", "--base-width", "64", "--grad-rms", "fc=1"],
            ["unknown layer kind 'fc'", "hidden"],
        ),
        (
            ["epsilon", "--scheme", "mup", "--base-width", "64", "--optimizer", "sgd"],
            ["optimizer 'sgd' has no epsilon", "adam"],
        ),
    ],
)
def test_rules_and_epsilon_rows(capsys, argv, expected):
    _fails(capsys, argv, *expected)


def test_epsilon_engine_refuses_nan():
    from abcparam.engine.epsilon import crossover_width

    with pytest.raises(ValueError, match="eps = nan; accepted: a finite number > 0"):
        crossover_width(1, 1e-5, float("nan"), 64)


def test_derive_with_a_symbolic_a_says_it_is_symbolic():
    t = sympy.Symbol("t")
    with pytest.raises(ValueError, match="cannot decide stability for a symbolic value") as err:
        abcparam.derive(
            a={"embedding": 0, "hidden": t, "readout": 0},
            b={"embedding": 0, "hidden": "1/2", "readout": "1/2"},
        )
    assert "unstable" not in str(err.value)


def test_equivalent_with_a_name_is_a_clear_error():
    r = abcparam.rules("mup")
    with pytest.raises(TypeError, match=r"abcparam.rules\('mup'"):
        abcparam.equivalent(r, "mup")


# --- shared checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("128", "need at least two widths"),
        ("128,abc", "'abc' is not a positive integer"),
        ("0,128", "'0' is not a positive integer"),
        ("128,-256", "'-256' is not a positive integer"),
        ("128,128", "width 128 appears twice"),
        ("128,2.5", "'2.5' is not a positive integer"),
    ],
)
def test_widths(text, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
        validate.widths(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("-5:-6", "the low end -5 is not below the high end -6"),
        ("-6", "accepted: lo:hi"),
        ("-6:-5.5", "not a whole number of steps"),
        ("a:b", "non-number"),
        ("-6:inf", "non-finite"),
        ("-6:-2:0", "step 0 must be positive"),
    ],
)
def test_lr_range(text, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        validate.lr_range(text)
    assert validate.lr_range("-6:-5:0.5") == [-6, -5.5, -5]


def test_writable_dir(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        validate.writable_dir(file)
    with pytest.raises(ValueError, match="which is a file"):
        validate.writable_dir(file / "sub")
    assert validate.writable_dir(tmp_path / "a" / "b").is_dir()


# --- property: random bad argument combinations never give a traceback --------------------

_BAD_VALUES = {
    "--widths": ["128", "128,abc", "0,128", "128,-256", "128,128", "", ",", "1e3,2e3"],
    "--steps": ["0", "-1", "x", "1.5", ""],
    "--seeds": ["0", "-3", "two"],
    "--lr": ["nan", "inf", "-1", "0", "x"],
    "--alignment": ["ful", "alpha", "2", "{", '{"beta": 1}', "symbol:", "-1/2"],
    "--scheme": ["xp", "", "MUP!"],
    "--optimizer": ["rmsprop", ""],
    "--depth": ["0", "-2"],
    "--tolerance": ["nan", "-0.1"],
}
_GOOD_VALUES = {"--widths": "16,32", "--steps": "1", "--seeds": "1", "--scheme": "mup"}


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    command=st.sampled_from(["coord-check", "rules", "epsilon", "sweep"]),
    bad=st.lists(
        st.sampled_from(sorted(_BAD_VALUES)).flatmap(
            lambda opt: st.tuples(st.just(opt), st.sampled_from(_BAD_VALUES[opt]))
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda pair: pair[0],
    ),
)
def test_random_bad_arguments_never_give_a_traceback(capsys, tmp_path, command, bad):
    argv = [command]
    options = dict(bad)
    if command == "rules":
        argv.append(options.pop("--scheme", "mup"))
        options = {k: v for k, v in options.items() if k in ("--alignment", "--optimizer")}
        if not options:
            options = {"--alignment": "ful"}
    elif command == "epsilon":
        options = {
            k: v for k, v in options.items() if k in ("--alignment", "--optimizer", "--scheme")
        }
        options.setdefault("--scheme", "xp")
        argv += ["--base-width", "64", "--grad-rms", "1e-5"]
    elif command == "sweep":
        options = {
            k: v
            for k, v in options.items()
            if k not in ("--lr", "--alignment", "--scheme", "--depth", "--tolerance")
        }
        if not options:
            options = {"--seeds": "0"}
        argv += ["--out", str(tmp_path / "sweep"), "--lrs=-3:-1"]
    for key, value in options.items():
        argv.append(f"{key}={value}")
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


# --- coordinate check: validate before training, keep what finished, fail when diverged ------

TINY = ["coord-check", "--widths", "16,32", "--steps", "1", "--seeds", "1"]


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--scheme", "xp"], ["unknown scheme 'xp'", "mup"]),
        (["--optimizer", "rmsprop"], ["unknown optimizer 'rmsprop'", "adam"]),
        (["--widths", "128"], ["need at least two widths"]),
        (["--widths", "128,abc"], ["'abc' is not a positive integer"]),
        (["--widths", "0,128"], ["'0' is not a positive integer"]),
        (["--widths", "128,-256"], ["'-256' is not a positive integer"]),
        (["--widths", "128,128"], ["width 128 appears twice"]),
        (["--steps", "0"], ["steps = 0; accepted: an integer >= 1"]),
        (["--steps=-1"], ["steps = -1; accepted: an integer >= 1"]),
        (["--seeds", "0"], ["seeds = 0; accepted: an integer >= 1"]),
        (["--lr", "nan"], ["lr = nan"]),
        (["--alignment", "ful"], ["unknown alignment 'ful'"]),
    ],
)
def test_coord_check_rows(capsys, extra, expected):
    _fails(capsys, [*TINY, *extra], *expected)


def test_coord_check_out_that_cannot_be_a_folder_fails_before_training(capsys, tmp_path):
    file = tmp_path / "taken"
    file.write_text("keep me")
    _fails(capsys, [*TINY, "--out", str(file)], "is a file, not a folder")
    _fails(capsys, [*TINY, "--out", str(file / "sub")], "which is a file")
    assert file.read_text() == "keep me"


def test_coord_check_python_api_validates_before_training(tmp_path):
    from abcparam.coordcheck import run_coord_check

    sgd = abcparam.rules("mup", optimizer="sgd")
    with pytest.raises(ValueError, match="derived for 'sgd'"):
        run_coord_check(rules=sgd, optimizer="adam", widths=(16, 32), steps=1, seeds=1)
    with pytest.raises(ValueError, match="seeds = 0"):
        run_coord_check(widths=(16, 32), seeds=0)
    with pytest.raises(ValueError, match="steps = 0"):
        run_coord_check(widths=(16, 32), steps=0)
    with pytest.raises(ValueError, match="lr_exponents = .per-layer.; accepted"):
        run_coord_check(widths=(16, 32), lr_exponents="per-layer")
    with pytest.raises(ValueError, match="is a file"):
        (tmp_path / "f").write_text("")
        run_coord_check(widths=(16, 32), out=tmp_path / "f")


def test_coord_check_rules_pick_the_optimizer():
    from abcparam.coordcheck import run_coord_check

    sgd = abcparam.rules("mup", optimizer="sgd")
    result = run_coord_check(rules=sgd, widths=(16, 32), steps=1, seeds=1, progress=False)
    assert result.config["optimizer"] == "sgd"


def test_diverged_coord_check_says_so_and_fails(capsys):
    code = main([*TINY, "--optimizer", "sgd", "--lr", "1e6"])
    out = capsys.readouterr().out
    assert code == 1
    assert "diverged:" in out and "FAILS" in out
    assert "fits within" not in out


def test_interrupted_or_failing_check_keeps_finished_runs(tmp_path, monkeypatch):
    import importlib
    import json

    from abcparam.coordcheck import run_coord_check

    cc_check = importlib.import_module("abcparam.coordcheck.check")

    real = cc_check.train
    calls = []

    def stop_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(cc_check, "train", stop_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_coord_check(widths=(16, 32), steps=1, seeds=1, out=tmp_path, progress=False)
    saved = json.loads((tmp_path / "partial.json").read_text())
    assert saved["status"] == "partial"
    assert saved["finished_runs"] == [{"width": 16, "seed": 0}]
    assert {r["width"] for r in saved["records"]} == {16}

    monkeypatch.setattr(cc_check, "train", real)

    def broken(*args, **kwargs):
        raise RuntimeError("fit exploded")

    monkeypatch.setattr(cc_check, "compare", broken)
    with pytest.raises(RuntimeError):
        run_coord_check(widths=(16, 32), steps=1, seeds=1, out=tmp_path, progress=False)
    saved = json.loads((tmp_path / "partial.json").read_text())
    assert saved["status"] == "failed" and "fit exploded" in saved["error"]
    assert {r["width"] for r in saved["records"]} == {16, 32}


# --- sweeps: validated grids, diverged runs skipped, edges flagged, killed cleanly -------------


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--lrs=-5:-6"], ["the low end -5 is not below the high end -6"]),
        (["--lrs=-6"], ["lrs = '-6'; accepted: lo:hi"]),
        (["--lrs=-6:-5.5"], ["not a whole number of steps"]),
        (["--seeds", "0"], ["seeds = 0"]),
        (["--steps", "0"], ["steps = 0"]),
        (["--schemes", "mup,xp"], ["unknown sweep scheme 'xp'", "mup"]),
        (["--widths", "64"], ["need at least two widths"]),
    ],
)
def test_sweep_rows(capsys, tmp_path, extra, expected):
    _fails(capsys, ["sweep", "--out", str(tmp_path / "s"), *extra], *expected)
    assert not (tmp_path / "s" / "runs.jsonl").exists()


def test_sweep_python_api_validates():
    from abcparam.transfer import grid

    with pytest.raises(ValueError, match="finite log2 learning rates"):
        grid("mlp", ["mup"], "adam", [16, 32], [float("nan")], 1)
    with pytest.raises(ValueError, match="distinct positive integers"):
        grid("mlp", ["mup"], "adam", [16, 16], [-6.0], 1)
    with pytest.raises(ValueError, match="seeds = 0"):
        grid("mlp", ["mup"], "adam", [16, 32], [-6.0, -5.0, -4.0], 0)
    with pytest.raises(ValueError, match="steps = 0"):
        grid("mlp", ["mup"], "adam", [16, 32], [-6.0, -5.0, -4.0], 1, steps=0)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        grid("mlp", ["mup"], "rmsprop", [16, 32], [-6.0, -5.0, -4.0], 1)


def test_divergence_rule():
    from abcparam.transfer.sweep import divergence

    chance = math.log(10)
    assert divergence(float("nan"), 2.4, chance) == "non-finite validation loss"
    assert "above its initial" in divergence(1.2e31, 2.4, chance)
    assert "at chance" in divergence(2.30, 2.4, chance)
    assert divergence(0.3, 2.4, chance) is None


def _rows(scheme, width, seed, losses, diverged=()):
    return [
        {
            "scheme": scheme,
            "width": width,
            "seed": seed,
            "log2_lr": lr,
            "val_loss": loss,
            "diverged": lr in diverged,
        }
        for lr, loss in losses.items()
    ]


def test_edge_optimum_is_a_flagged_bound_outside_the_drift():
    from abcparam.transfer.analysis import summarise, table

    bowl = lambda c: {x: (x - c) ** 2 + 0.5 for x in (-9.0, -8.0, -7.0, -6.0, -5.0, -4.0)}
    rows = []
    for seed in (0, 1):
        rows += _rows("sp-global", 64, seed, bowl(-6.2 + 0.1 * seed))
        rows += _rows("sp-global", 128, seed, bowl(-7.0 + 0.1 * seed))
        rows += _rows("sp-global", 256, seed, bowl(-12.0))  # best at -9: on the low edge
        rows += _rows("sp-global", 512, seed, bowl(-2.0))  # best at -4: on the high edge
    s = summarise(rows)["sp-global"]
    assert s["bounds"] == {256: "low", 512: "high"}
    # drift from the two interior widths only: -0.8 per doubling
    assert s["drift"][0] == pytest.approx(-0.8, abs=1e-6)
    text = table(summarise(rows))
    assert "≤ -9.00" in text and "≥ -4.00" in text
    assert "low edge of the grid" in text and "left out of the drift" in text


def test_one_seed_prints_no_uncertainty_and_diverged_runs_are_skipped():
    from abcparam.transfer.analysis import summarise, table

    bowl = {x: (x + 6.5) ** 2 + 0.5 for x in (-8.0, -7.0, -6.0, -5.0, -4.0)}
    rows = _rows("mup", 64, 0, bowl) + _rows("mup", 128, 0, bowl)
    # a blown-up run at -5 with a small, "finite" loss must not become the optimum
    rows += _rows("mup", 256, 0, {**bowl, -5.0: 0.0}, diverged={-5.0})
    s = summarise(rows)["mup"]
    assert s["optimum"][256][0] == pytest.approx(-6.5)
    assert s["optimum"][64][1] is None and s["drift"][1] is None
    text = table(summarise(rows))
    assert "±" not in text


def test_corrupt_lines_in_runs_jsonl_are_reported_and_skipped(tmp_path):
    import json

    from abcparam.transfer.sweep import finished

    good = {"key": "k1", "scheme": "mup", "width": 16, "seed": 0, "log2_lr": -6.0, "val_loss": 1.0}
    lines = [
        json.dumps(good),
        '{"foo": 1}',
        "42",
        json.dumps({**good, "key": "k2", "val_loss": "oops"}),
        json.dumps({**good, "key": "k3", "val_loss": None}),
    ]
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning) as caught:
        done = finished(path)
    messages = [str(w.message) for w in caught]
    assert any("line 2: missing key, val_loss" in m for m in messages)
    assert any("line 3: a int, not a run" in m for m in messages)
    assert any("line 4: val_loss = 'oops' is not a number" in m for m in messages)
    assert set(done) == {"k1", "k3"} and done["k3"]["val_loss"] == math.inf


_KILLABLE = """
import sys
from abcparam.transfer.sweep import grid, run_sweep
configs = grid("mlp", ["mup"], "adam", [16, 32], [-8.0, -7.0, -6.0, -5.0], 2, steps=60,
               base_width=16, batch=32)
run_sweep(configs, sys.argv[1], workers=2, progress=False)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM])
def test_killed_sweep_stops_its_workers_and_resumes(tmp_path, sig):
    import json
    import os
    import subprocess
    import time

    from abcparam.transfer.sweep import finished, grid, run_sweep

    path = tmp_path / "runs.jsonl"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(path)], env=env)
    workers: set[int] = set()
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        workers |= _children(proc.pid)
        if path.exists() and path.read_text().count("\n") >= 1 and len(workers) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    workers |= _children(proc.pid)
    assert workers
    proc.send_signal(sig)
    proc.wait(timeout=60)
    time.sleep(0.5)
    assert [w for w in workers if _alive(w)] == []
    kept = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert 1 <= len(kept) < 16
    configs = grid(
        "mlp",
        ["mup"],
        "adam",
        [16, 32],
        [-8.0, -7.0, -6.0, -5.0],
        2,
        steps=60,
        base_width=16,
        batch=32,
    )
    rows = run_sweep(configs, path, workers=1, progress=False)
    assert len(rows) == 16 and set(finished(path)) == {c.key for c in configs}


def test_torch_side_names_the_mistake():
    from abcparam.torch import MLP, parametrize

    model = MLP(32)
    with pytest.raises(
        TypeError, match=r"got 'mup'; for a scheme name use abcparam.rules\('mup'\)"
    ):
        parametrize(model, "mup", 64)
    spec = parametrize(model, abcparam.rules("mup"), 16)
    with pytest.raises(KeyError, match="no parameter 'typo' in this spec; accepted: .*hidden"):
        spec.param("typo")
