"""What a newcomer sees (issue 29, item 7): every option has help and its default, tables have
headers and a legend, one seed prints no ± (the spread is across seeds), the command recorded in
a result reproduces it, scripts' --help is help, and a missing torch names the pinned CPU
install.  Plus the start-up time the coordinate check reports (item 6)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

import abcparam
from abcparam.cli import SUBCOMMANDS, HelpFormatter, build_parser, main
from abcparam.extras import INSTALL_HINT, TORCH_PIN
from abcparam.records import provenance

ROOT = Path(__file__).resolve().parents[2]
OWN = ["--model", "own_model_fixture:make", "--batch", "own_model_fixture:batch"]


def _options(name: str) -> list[argparse.Action]:
    _, subparsers = build_parser(name)
    return [
        a
        for a in subparsers[name]._actions
        if not isinstance(a, argparse._HelpAction) and "--debug" not in a.option_strings
    ]


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_option_has_help_and_shows_its_default(name):
    formatter = HelpFormatter(prog="abcparam")
    for action in _options(name):
        assert action.help, f"abcparam {name} {action.option_strings}: no help"
        shown = formatter._get_help_string(action)
        if action.option_strings and action.default not in (None, False):
            assert "default" in shown, f"abcparam {name} {action.option_strings}: no default"
    _, subparsers = build_parser(name)
    text = subparsers[name].format_help()
    if name == "coord-check":  # the defaults the issue named, as the user reads them
        for option, default in (("--widths", "128,256,512,1024,2048"), ("--seeds", "2")):
            assert re.search(rf"{option} \S+\s+.*?\(default:\s+{default}\)", text, re.S)


def test_top_level_help_is_plain_text(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "``" not in out and "COMMAND --help" in out


def test_alignment_help_names_the_forms_it_accepts(capsys):
    assert main(["rules", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "symbol:NAME" in help_text and "a symbol name" not in help_text
    assert main(["rules", "mup", "--alignment", "alpha"]) == 2  # refused, the form named
    assert "write symbol:alpha" in capsys.readouterr().err


def test_rules_why_is_wrapped_under_the_table(capsys):
    from abcparam.cli.rules import WRAP

    assert main(["rules", "mup", "--why"]) == 0
    out = capsys.readouterr().out
    table, _, reasons = out.partition("Why each exponent:")
    assert reasons and "why c" not in table  # no reason columns in the table
    assert "| layer | a | b | c | eps | wd | r |" in table and "Legend: " in table
    assert all(len(line) <= WRAP for line in reasons.splitlines())
    for kind in abcparam.rules("mup").layers:
        assert f"- {kind}, c (learning rate): c = " in reasons


def test_precision_columns_are_named_with_a_legend(capsys):
    args = ["precision", "--scheme", "mup", "--rms", "hidden.weight=1", "--widths", "128,1024"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1]
    assert "zero n=128" in header and "zero n=1024" in header and "0%@" not in header
    assert "ovf >1% at" not in header
    assert any(line.startswith("Legend:") for line in lines)


def test_epsilon_table_has_a_legend(capsys):
    args = ["epsilon", "--scheme", "mup", "--base-width", "128", "--grad-rms", "1e-5"]
    assert main(args) == 0
    assert "Legend:" in capsys.readouterr().out


def test_one_seed_prints_no_spread_and_the_start_up_time(capsys):
    small = ["--widths", "32,64,128", "--steps", "1"]
    assert main(["coord-check", *OWN, *small, "--seeds", "1"]) in (0, 1)
    out = capsys.readouterr().out
    assert "±" not in out and "(1 seed: no spread)" in out
    assert "Legend:" in out
    seconds = re.search(r"start-up: ([0-9.]+) s from process start to the first training step", out)
    assert seconds and float(seconds.group(1)) > 0
    assert main(["coord-check", *OWN, *small, "--seeds", "2"]) in (0, 1)
    assert "measured ± stderr" in capsys.readouterr().out


def test_first_step_records_the_process_age():
    import torch

    from abcparam.cli.startup import first_step, process_age

    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=0.1)
    before = process_age()
    with first_step() as found:
        assert found.seconds is None
        p.sum().backward()
        opt.step()
        first = found.seconds
        opt.step()  # later steps leave it
    assert first is not None and before <= first <= process_age()
    assert found.seconds == first


def test_provenance_command_keeps_a_path_outside_the_repository():
    outside = "abcparam coord-check --out /scratch/elsewhere/cc1"
    assert provenance(outside)["command"] == outside
    inside = f"abcparam coord-check --out {ROOT}/experiments/results/x"
    assert provenance(inside)["command"] == "abcparam coord-check --out experiments/results/x"


SCRIPTS = sorted(
    p.name
    for p in (ROOT / "experiments").glob("*.py")
    if p.name.startswith(("bench_", "transfer_cpu"))
)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help_prints_help_and_runs_nothing(script, tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "ABCPARAM_RESULTS": str(tmp_path / "results"), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower() or "Run: ``python experiments/" in done.stdout
    assert not (tmp_path / "results").exists()  # nothing measured, nothing written


def test_no_torch_names_the_pinned_cpu_install():
    blocker = (
        "import importlib.abc, sys\n"
        "class Absent(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'matplotlib', 'tqdm'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Absent())\n"
        "import abcparam.coordcheck\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0 and "abcparam.coordcheck needs the torch extra" in last
    assert "download.pytorch.org/whl/cpu" in last and f"torch=={TORCH_PIN}" in last
    # the pin is the one the setup installs
    assert f"torch=={TORCH_PIN}" in (ROOT / "Makefile").read_text()
    assert INSTALL_HINT in last


def test_main_job_ends_with_a_summary_table_and_logs(tmp_path, monkeypatch, capsys):
    from experiments.lab import main_job

    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_toc.yml").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(main_job, "derive_tables", lambda out: print("a noisy line") or 3)
    assert main_job.main_job(skip_coordcheck=True, skip_book=True) == 0
    out = capsys.readouterr().out
    assert "a noisy line" not in out and "{" not in out  # stage output goes to its log
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("stage "))
    assert lines[head].split() == ["stage", "checks", "outcome", "time", "wrote", "log"]
    assert set(lines[head + 1].replace(" ", "")) == {"-"}
    assert "tables" in lines[head + 2] and "logs/tables.log" in lines[head + 2]
    log = tmp_path / "experiments" / "results" / "_latest" / "logs" / "tables.log"
    assert "a noisy line" in log.read_text()


def test_book_build_output_goes_to_a_log(tmp_path, monkeypatch, capsys):
    from experiments.lab import book

    fake = tmp_path / "jupyter-book"
    fake.write_text(
        "#!/bin/sh\necho 'sphinx config dump'\necho 'reading sources... [ 50%] intro'\n"
        "echo 'kernel warning' 1>&2\necho 'the error'\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(book, "prepare", lambda root: None)
    monkeypatch.setattr(book.shutil, "which", lambda name: str(fake))
    log = tmp_path / "logs" / "build.log"
    assert book.build(tmp_path, log=log) == 1
    captured = capsys.readouterr()
    assert "sphinx config dump" in log.read_text() and "kernel warning" in log.read_text()
    assert "sphinx config dump" not in captured.out  # noise stays in the log
    assert "FAILED" in captured.out and str(log) in captured.out
    assert "the error" in captured.err  # the log's tail, shown when the build fails


def test_main_job_outcomes_are_phrases_not_dicts(tmp_path, monkeypatch):
    import json

    from experiments.lab import main_job

    monkeypatch.setenv("ABCPARAM_RESULTS", str(tmp_path))
    scatter = tmp_path / "alignment_cpu"
    scatter.mkdir()
    counts = {"fits": 10, "within_preset": 7, "within_measured": 9}
    (scatter / "results.json").write_text(json.dumps({"scatter": counts}))
    last = "{'fits': 10, 'within_preset': 7, 'within_measured': 9} wall 3 s"
    phrase = main_job._outcome("alignment_evolution", 0, last)
    assert "{" not in phrase and "9/10" in phrase and "7/10" in phrase
    assert main_job._outcome("wrong_rules_cpu", 0, "caught 10/10, by delta 9/10, wall 50 s") == (
        "caught 10/10, by delta 9/10"
    )
    assert main_job._outcome("coordcheck_cpu_grid", 1, "anything") == "FAILED (see its log)"


def test_transfer_table_has_a_legend_and_wrapped_reasons(capsys):
    args = ["transfer", "--from", "width=256,batch=32,steps=1000,lr=3e-3", "--to", "width=1024"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| value | layer | base | target |" in out and "Legend:" in out
    reasons = [line for line in out.splitlines() if line.startswith("- ")]
    assert reasons and all(len(line) <= 100 for line in reasons)


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "abcparam.cli", "rules", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0 and "usage: abcparam rules" in done.stdout
