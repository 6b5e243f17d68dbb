"""The command line gives the same tables as the Python API, and clear errors."""

import json
import subprocess
import sys

import abcparam
from abcparam.cli import main


def test_rules_markdown(capsys):
    assert main(["rules", "u-mup", "--optimizer", "adam"]) == 0
    out = capsys.readouterr().out
    assert "| embedding | 0 | 0 | 1/2 | 1 | — | 1/2 |" in out
    assert "| hidden | 1/2 | 0 | 1/2 | 3/2 | — | 0 |" in out


def test_rules_json_matches_api(capsys):
    assert (
        main(
            [
                "rules",
                "mup",
                "--optimizer",
                "sgd",
                "--alignment",
                "none",
                "--format",
                "json",
                "--front",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data == {
        **abcparam.rules("mup", optimizer="sgd", alignment="none").to_dict(),
        "front": data["front"],
    }
    assert {"embedding": "0", "hidden": "-1/2", "readout": "0"} in data["front"]


def test_symbolic_alignment_from_cli(capsys):
    assert main(["rules", "sp", "--alignment", "symbol:alpha", "--format", "latex"]) == 0
    assert r"\alpha" in capsys.readouterr().out


def test_bad_scheme_exits_2_with_accepted_names(capsys):
    assert main(["rules", "xp"]) == 2
    assert "unknown scheme 'xp'; accepted: sp, ntp, mfp, mup, u-mup" in capsys.readouterr().err


def test_console_script_does_not_import_torch():
    code = (
        "import sys; from abcparam.cli import main; main(['rules', 'mup']); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_epsilon_cli_predicts_crossover(capsys):
    assert (
        main(
            [
                "epsilon",
                "--scheme",
                "mup",
                "--eps",
                "1e-8",
                "--base-width",
                "256",
                "--grad-rms",
                "hidden=1e-5",
                "--format",
                "json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    (hidden,) = data["layers"]
    assert hidden["gradient_exponent"] == "1"
    assert abs(hidden["crossover_width"] - 256 * 1e3) < 1e-6


def test_rules_per_kind_optimizer_and_weight_decay(capsys):
    args = ["rules", "mup", "--optimizer", "hidden=muon-rms,default=adamw", "--format", "json"]
    assert main(args + ["--weight-decay", "independent"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layers"]["hidden"]["optimizer"] == "muon-rms"
    assert data["layers"]["hidden"]["c"] == "1/2" and data["layers"]["hidden"]["wd"] == "0"
    assert data["weight_decay"] == "independent" and data["update_view"] == "spectral"
    assert main(["rules", "mup", "--optimizer", "muon", "--update-view", "entry"]) == 0
    assert "| hidden | muon | 0 | 1/2 | 1/2 | — | -1/2 | 0 |" in capsys.readouterr().out
