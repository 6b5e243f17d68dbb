"""Nothing lost, round two (issue 30): every write atomic, every check resumable, output folders
protected, memory and time bounded before work, every input checked at every entry point.

Each case of the issue is a test asserting the message, the exit status and that nothing was
lost (files valid JSON, run counts intact).  Tiny models, one step, widths 8-32: fast on a CPU.
"""

from __future__ import annotations

import errno
import importlib
import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proc_helpers import alive as _alive
from proc_helpers import children as _children
from torch import nn

import abcparam
from abcparam import atomic, validate
from abcparam.cli import EXIT_BUSY, EXIT_INTERRUPTED, EXIT_WRITE, main
from abcparam.outfolder import LOCK, claim
from abcparam.transfer.sweep import finished

# the modules (the package exports functions of the same names)
cc_check = importlib.import_module("abcparam.coordcheck.check")
cc_run = importlib.import_module("abcparam.coordcheck.builtin")
TINY = ["coord-check", "--widths", "16,32", "--steps", "1", "--seeds", "1"]
USER = [
    "coord-check",
    "--model",
    "own_model_fixture:make",
    "--batch",
    "own_model_fixture:batch",
    "--widths",
    "8,16",
    "--steps",
    "1",
    "--seeds",
    "1",
]


def _line(capsys, code: int, argv: list[str], *expected: str) -> str:
    """main(argv) returns ``code`` with one stderr line holding every fragment, no traceback."""
    assert main(argv) == code, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # progress bars may share stderr; the command's own report is one line
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("abcparam ")]
    assert len(lines) == 1, err
    for fragment in expected:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _load(path: Path) -> dict:
    """A saved file parsed as strict JSON (it must be whole and valid)."""
    return abcparam.records.load_json(path)


def _runs(saved: dict) -> set[tuple[int, int]]:
    return {(r["width"], r["seed"]) for r in saved["records"]}


def _interrupt_at(monkeypatch, module, name: str, call: int, sig: int | None = None):
    """Wrap ``module.name`` so that its ``call``-th call stops the check: a KeyboardInterrupt
    (or the signal ``sig`` sent to this process) after that run did its work, before it counts
    as finished (the worst moment: its records exist but it must not be kept)."""
    real = getattr(module, name)
    calls = []

    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == call:
            if sig is None:
                raise KeyboardInterrupt
            os.kill(os.getpid(), sig)
            time.sleep(1)  # the handler raises before this ends
        return out

    monkeypatch.setattr(module, name, wrapped)
    return calls


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(cc_check, "train", refuse)


# --- atomic, resumable checks for every model kind ---------------------------------------------


@pytest.mark.parametrize("model", ["own_model_fixture:make", "mha"])
def test_user_and_shortcut_checks_keep_partial_and_resume(capsys, monkeypatch, tmp_path, model):
    argv = [*USER, "--out", str(tmp_path)]
    argv[2] = model
    if model == "mha":
        del argv[3:5]  # the shortcut brings its own batch
    _interrupt_at(monkeypatch, cc_check, "train", 2)
    line = _line(capsys, EXIT_INTERRUPTED, argv, "interrupted", "kept in", "rerun")
    assert str(tmp_path) in line
    saved = _load(tmp_path / "partial.json")
    assert saved["finished_runs"] == [{"width": 8, "seed": 0}]
    assert _runs(saved) == {(8, 0)}  # the interrupted run's records are not kept
    assert not (tmp_path / "results.json").exists()
    monkeypatch.undo()
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    calls = _interrupt_at(monkeypatch, cc_check, "train", 99)
    assert main(argv) in (0, 1)
    assert len(calls) == 1  # only the missing run trained
    result = _load(tmp_path / "results.json")
    assert _runs(result) == {(8, 0), (16, 0)}
    counts = [sum(r["width"] == w for r in result["records"]) for w in (8, 16)]
    assert counts[0] == counts[1] > 0
    assert not (tmp_path / "partial.json").exists() and not (tmp_path / LOCK).exists()


def test_builtin_rerun_resumes_instead_of_overwriting(monkeypatch, tmp_path):
    kw = dict(widths=(16, 32), steps=1, seeds=2, out=tmp_path, progress=False)
    _interrupt_at(monkeypatch, cc_check, "train", 3)
    with pytest.raises(KeyboardInterrupt):
        cc_run.run_coord_check(**kw)
    kept = _load(tmp_path / "partial.json")
    assert _runs(kept) == {(16, 0), (16, 1)} and len(kept["finished_runs"]) == 2
    monkeypatch.undo()
    calls = _interrupt_at(monkeypatch, cc_check, "train", 99)
    result = cc_run.run_coord_check(**kw)
    assert len(calls) == 2  # 2 of 4 runs were kept, not redone
    assert {(r["width"], r["seed"]) for r in result.records} == {(16, 0), (16, 1), (32, 0), (32, 1)}
    saved = _load(tmp_path / "results.json")
    # the resumed records are the ones kept before the interrupt, every one of them
    assert sum(r["width"] == 16 for r in saved["records"]) == len(kept["records"])
    assert sum(r["width"] == 32 for r in saved["records"]) == len(kept["records"])


def test_sigterm_to_a_check_says_interrupted_exits_130_and_keeps_partial(
    capsys, monkeypatch, tmp_path
):
    before = signal.getsignal(signal.SIGTERM)
    _interrupt_at(monkeypatch, cc_check, "train", 2, sig=signal.SIGTERM)
    _line(capsys, EXIT_INTERRUPTED, [*TINY, "--out", str(tmp_path)], "interrupted", "kept in")
    assert _load(tmp_path / "partial.json")["finished_runs"] == [{"width": 16, "seed": 0}]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_interrupt_without_out_does_not_claim_results_were_kept(capsys, monkeypatch):
    _interrupt_at(monkeypatch, cc_check, "train", 1)
    _line(capsys, EXIT_INTERRUPTED, TINY, "interrupted; nothing was saved (no --out)")


# --- disk full and permission errors: named, kept, their own status ---------------------------


@pytest.mark.parametrize(
    "target, code, why",
    [("results.json", errno.ENOSPC, "No space left"), ("partial.json", errno.EACCES, "denied")],
)
def test_write_errors_name_the_file_keep_the_rest_and_exit_3(
    capsys, monkeypatch, tmp_path, target, code, why
):
    real = os.replace
    written = []

    def failing(src, dst):
        if Path(dst).name == target and (target == "results.json" or written):
            raise OSError(code, os.strerror(code))
        written.append(Path(dst).name)
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", failing)
    line = _line(capsys, EXIT_WRITE, [*TINY, "--out", str(tmp_path)], target, why, "kept")
    assert "could not write" in line
    kept = _load(tmp_path / "partial.json")  # whole, valid, every run written before the error
    assert kept["finished_runs"][0] == {"width": 16, "seed": 0}
    assert len(kept["finished_runs"]) == (2 if target == "results.json" else 1)
    assert not (tmp_path / "results.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != LOCK]


def test_atomic_write_keeps_the_old_file_when_the_disk_fills(monkeypatch, tmp_path):
    path = tmp_path / "partial.json"
    atomic.write_text(path, '{"runs": 6}\n')

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(atomic.WriteError, match=r"partial.json \(No space left on device\)"):
        atomic.write_text(path, '{"runs": 7, "records": [' + "1," * 1000 + "1]}\n")
    assert json.loads(path.read_text()) == {"runs": 6}
    assert [p.name for p in tmp_path.iterdir()] == ["partial.json"]


# --- protected output folders -------------------------------------------------------------------


def test_other_configuration_refused_unless_overwrite(capsys, tmp_path):
    cc_run.run_coord_check(widths=(16, 32), steps=1, seeds=1, out=tmp_path, progress=False)
    before = (tmp_path / "results.json").read_bytes()
    argv = ["coord-check", "--widths", "16,32", "--steps", "2", "--seeds", "1"]
    _line(
        capsys,
        2,
        [*argv, "--out", str(tmp_path)],
        "holds results.json from another configuration",
        "--overwrite",
    )
    assert (tmp_path / "results.json").read_bytes() == before  # untouched
    assert main([*argv, "--out", str(tmp_path), "--overwrite"]) in (0, 1)
    saved = _load(tmp_path / "results.json")
    assert saved["config"]["steps"] == 2 and not (tmp_path / "partial.json").exists()


def test_second_process_into_one_folder_is_refused(capsys, tmp_path):
    with claim(tmp_path):  # another process holds the folder (flock: per open file)
        _line(capsys, EXIT_BUSY, [*TINY, "--out", str(tmp_path)], "in use by another abcparam")
        _line(
            capsys,
            EXIT_BUSY,
            ["sweep", "--widths", "16,32", "--lrs=-6:-5", "--out", str(tmp_path)],
            "in use by another abcparam",
        )
    assert not (tmp_path / "results.json").exists()
    with claim(tmp_path):  # released when its holder ends
        assert (tmp_path / LOCK).exists()
    assert not (tmp_path / LOCK).exists()  # a finished folder holds results only


def test_api_checks_out_before_training(monkeypatch, tmp_path):
    from own_model_fixture import batch, make

    bad = tmp_path / "a_file"
    bad.write_text("x")
    _no_training(monkeypatch)
    with pytest.raises(ValueError, match="is a file, not a folder"):
        cc_check.check(make, "mup", batch, widths=(8, 16), steps=1, seeds=1, out=bad)


# --- JSON lines: torn lines and bad bytes cost one line -------------------------------------------


def test_append_after_a_torn_line_starts_fresh(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"key": "k1", "val_loss": 1.0}\n{"key": "k2", "val_lo')
    atomic.append_line(path, json.dumps({"key": "k3", "val_loss": 2.0}))
    with pytest.warns(UserWarning, match="line 2"):
        done = finished(path)
    assert set(done) == {"k1", "k3"}  # only the torn line is lost
    assert path.read_text().endswith('"val_loss": 2.0}\n')


def test_non_utf8_byte_names_file_and_line(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_bytes(
        b'{"key": "k1", "val_loss": 1.0}\n{"key": "\xff"}\n{"key": "k3", "val_loss": 3}\n'
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = finished(path)
    messages = [str(w.message) for w in caught]
    assert any(str(path) in m and "line 2" in m and "0xff" in m and "UTF-8" in m for m in messages)
    assert set(done) == {"k1", "k3"}


# --- bounded memory and time, checked before work -------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["sweep", "--lrs=-6:-4:0.0000001"], ["gives 20,000,001 learning rates", "at most 1,000"]),
        (["sweep", "--lrs=0:2000"], ["beyond +-64"]),
        (["coord-check", "--steps", "10000000"], ["steps = 10000000", "at most 10,000"]),
        (["coord-check", "--widths", "128,1000000000"], ["width 1000000000", "GB", "free on cpu"]),
        (["coord-check", "--depth", "100000"], ["depth = 100000", "at most 1,024"]),
        (["rules", "mup", "--hidden-layers", "1000"], ["hidden_layers = 1000", "at most 64"]),
        (["sweep", "--widths", "64,1000000000"], ["width 1000000000", "GB", "free on cpu"]),
        (["sweep", "--vary", "depth", "--depths", "2,100000"], ["at most 1,024 blocks"]),
        (
            ["sweep", "--model", "transformer", "--widths", "90,128"],
            ["width 90 is not a multiple of n_heads 4"],
        ),
    ],
)
def test_sizes_are_bounded_before_any_work(capsys, monkeypatch, tmp_path, argv, expected):
    _no_training(monkeypatch)
    if argv[0] == "sweep":
        argv = [*argv, "--out", str(tmp_path)]
    started = time.time()
    _line(capsys, 2, argv, *expected)
    assert time.time() - started < 30
    assert not (tmp_path / "runs.jsonl").exists()


def test_sweep_grid_counted_before_it_is_built():
    from abcparam.transfer.sweep import grid

    with pytest.raises(ValueError, match=r"the sweep grid has 2,000,000 runs"):
        grid("mlp", ["mup"], "adam", [16, 32], [-8.0, -7.0], 500_000)


def test_batches_are_drawn_one_step_at_a_time():
    stream = cc_run.builtin_batch("mlp", 4).stream(0)
    first = next(stream)  # instant: nothing is built up front
    assert first[0].shape == (4, 32)
    assert not isinstance(stream, list)


def test_heads_checked_for_every_width_before_the_first_trains(monkeypatch):
    _no_training(monkeypatch)
    with pytest.raises(ValueError, match="width 30: width 30 is not a multiple of n_heads 4"):
        cc_run.run_coord_check(model="transformer", widths=(16, 30), steps=1, seeds=1)


_POOL = """
import sys, time
from abcparam.transfer.sweep import worker_pool
pool = worker_pool(2)
futures = [pool.submit(time.sleep, 120) for _ in range(2)]
print("ready", flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_die_with_their_parent_on_sigkill():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _POOL], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.time() + 60
    workers: set[int] = set()
    while time.time() < deadline and len(workers) < 2:
        workers = {w for w in _children(proc.pid) if _alive(w)}
        time.sleep(0.1)
    assert len(workers) >= 2, workers
    proc.kill()  # SIGKILL: no handler runs in the parent
    proc.wait(timeout=30)
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert [w for w in workers if _alive(w)] == []


# --- one validation for every entry point ------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ["rules", "mup", "--optimizer", "hidden=muon,default=adamw,hidden=sgd"],
            ["sets 'hidden' twice", "'hidden=muon' and 'hidden=sgd'"],
        ),
        (
            ["epsilon", "--scheme", "mup", "--base-width", "64", "--grad-rms", "hidden=1,hidden=2"],
            ["sets 'hidden' twice"],
        ),
        (
            ["epsilon", "--scheme", "mup", "--base-width", "64", "--grad-rms", "hiddn=1e-5"],
            ["unknown layer kind 'hiddn'", "accepted:", "hidden"],
        ),
        (["precision", "--scheme", "mup", "--rms", "hiddn.weight=1"], ["'hiddn'", "hidden"]),
        (
            ["precision", "--scheme", "mup", "--rms", "hidden.weight=1,hidden.weight=2"],
            ["sets 'hidden.weight' twice"],
        ),
        (["rules", "mup", "--alignment", "1/0"], ["'1/0'", "accepted"]),
        (["rules", "mup", "--depth-alpha", "1/0"], ["'1/0'", "accepted"]),
        (["rules", "depth-mup", "--depth-alignment", "1/0"], ["'1/0'", "accepted"]),
        (["coord-check", "--base-depth", "2"], ["--base-depth applies to depth checks only"]),
        (
            ["sweep", "--base-depth", "2", "--out", "unused"],
            ["--base-depth applies to depth sweeps only"],
        ),
        (
            [
                "epsilon",
                "--scheme",
                "mup",
                "--base-width",
                "64",
                "--grad-rms",
                "1e-5",
                "--eps",
                "1e300",
            ],
            ["eps = 1e+300", "accepted: a number in (0, 1)"],
        ),
        (["coord-check", "--device", "meta"], ["'meta' holds shapes only", "cpu"]),
        (["coord-check", "--device", "bogus"], ["'bogus' is not a device", "cuda:N"]),
        (["sweep", "--device", "bogus", "--out", "unused"], ["'bogus' is not a device"]),
    ],
)
def test_bad_values_get_one_line_and_exit_2(capsys, monkeypatch, argv, expected):
    _no_training(monkeypatch)
    _line(capsys, 2, argv, *expected)
    assert not Path("unused").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
@pytest.mark.parametrize("command", [["coord-check"], ["sweep", "--out", "unused"]])
def test_cuda_on_a_cpu_torch_is_refused_before_work(capsys, monkeypatch, command):
    _no_training(monkeypatch)
    _line(capsys, 2, [*command, "--device", "cuda"], "no usable CUDA device", "cpu")


def _tiny_spec():
    from abcparam.torch import build_model, parametrize

    model = build_model("mlp", 32, depth=2)
    return model, parametrize(model, abcparam.rules("mup"), base_width=16)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"lr": 0}, "lr = 0.0; accepted: a finite number > 0"),
        ({"lr": -1}, "lr = -1.0"),
        ({"lr": math.nan}, "lr = nan"),
        ({"lr": 1e-3, "weight_decay": -0.1}, "weight_decay = -0.1; accepted: a finite number >= 0"),
        ({"lr": 1e-3, "eps": -1}, "eps = -1.0"),
        ({"lr": {"hiddn": 1e-3, "default": 1e-3}}, "unknown layer kind 'hiddn'; accepted"),
        ({"lr": {"input": 1e-3, "embedding": 1e-3}}, "gives the embedding kind twice"),
    ],
)
def test_param_groups_checks_its_numbers_and_kinds(kwargs, expected):
    from abcparam.torch import param_groups

    model, spec = _tiny_spec()
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        param_groups(model, spec, **kwargs)
    assert param_groups(model, spec, lr={"input": 1e-3, "default": 1e-2})  # an alias is a kind


@pytest.mark.parametrize(
    "call, error, expected",
    [
        (lambda: abcparam.rules("mup", conventions="no"), TypeError, "conventions = 'no'"),
        (lambda: abcparam.rules("mup", alignment="1/0"), ValueError, "'1/0'"),
        (lambda: abcparam.rules("mup", depth_alpha="1/0"), ValueError, "divides by zero"),
        (
            lambda: abcparam.derive(
                a={"input": 0, "embedding": 0, "hidden": 0, "readout": 0},
                b={"embedding": 0, "hidden": "1/2", "readout": "1/2"},
            ),
            ValueError,
            "gives 'input' and 'embedding', two names of the embedding kind",
        ),
        (lambda: validate.boolean(0, "flag"), TypeError, "accepted: True or False"),
    ],
)
def test_api_values_checked(call, error, expected):
    with pytest.raises(error, match=expected):
        call()


def _model(width: int) -> nn.Module:
    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, 4))


def _batch(inputs=None, targets=None):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 8, generator=g) if inputs is None else inputs
    y = torch.randint(0, 4, (16,), generator=g) if targets is None else targets
    return x, y


def _raising(width: int) -> nn.Module:
    raise RuntimeError("no such layer size")


class _Heads(nn.Module):
    """Attention with 4 heads: a width that is not a multiple of 4 cannot be built."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.embed = nn.Linear(8, width)
        self.attn = nn.MultiheadAttention(width, 4, batch_first=True)
        self.out = nn.Linear(width, 4)

    def forward(self, x):
        h = self.embed(x).unsqueeze(1)
        return self.out(self.attn(h, h, h)[0].squeeze(1))


@pytest.mark.parametrize(
    "factory, batch, kwargs, expected",
    [
        (_raising, _batch(), {}, "your factory raised RuntimeError at width 8: no such layer size"),
        (
            _model,
            _batch(torch.zeros(16, 8, dtype=torch.int64)),
            {},
            "your batch gives int64 inputs; the model's first layer expects float32",
        ),
        (_model, _batch(torch.zeros(16, 5)), {}, "the model's forward on your batch raised"),
        (_model, _batch(targets=torch.zeros(16)), {}, "your batch gives float32 targets"),
        (_model, _batch(targets=torch.full((16,), 7)), {}, "targets in [7, 7]; the model has 4"),
        (_model, _batch(torch.full((16, 8), math.nan)), {}, "non-finite inputs"),
        (_Heads, _batch(), {"widths": (8, 30)}, "your factory raised AssertionError at width 30"),
        (_model, _batch(), {"tolerance": -1}, "tolerance = -1.0"),
        (_model, _batch(), {"widths": (8, 8)}, "width 8 appears twice"),
        (_model, _batch(), {"fresh_batches": "yes"}, "fresh_batches = 'yes'"),
        (_model, _batch(), {"device": "meta"}, "holds shapes only"),
    ],
)
def test_user_factory_and_batch_failures_named_before_training(
    monkeypatch, factory, batch, kwargs, expected
):
    _no_training(monkeypatch)
    kw = {"widths": (8, 16), "steps": 1, "seeds": 1, "progress": False, **kwargs}
    with pytest.raises((ValueError, TypeError)) as caught:
        cc_check.check(factory, "mup", batch, **kw)
    assert expected in str(caught.value)


def test_cli_user_factory_failure_is_exit_2(capsys, monkeypatch, tmp_path):
    (tmp_path / "broken_models.py").write_text(
        "def make(width):\n    raise RuntimeError('bad width')\n\n"
        "def batch(seed):\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = [*USER, "--out", str(tmp_path / "out")]
    argv[2], argv[4] = "broken_models:make", "broken_models:batch"
    _line(capsys, 2, argv, "your factory raised RuntimeError at width 8: bad width")
    assert not (tmp_path / "out" / "partial.json").exists()


def test_nan_at_step_0_is_blamed_on_the_forward_not_the_lr(capsys, monkeypatch, tmp_path):
    (tmp_path / "nan_models.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "class NanOut(nn.Module):\n"
        "    def __init__(self, w):\n"
        "        super().__init__()\n"
        "        self.a, self.b = nn.Linear(16, w), nn.Linear(w, 10)\n"
        "    def forward(self, x):\n"
        "        return self.b(self.a(x)) * float('nan')\n\n"
        "def make(width):\n    return NanOut(width)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    argv = [*USER]
    argv[2] = "nan_models:make"
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "before any update" in out and "not the learning rate" in out
    assert "lower --lr" not in out


def test_parametrize_a_module_registered_twice():
    from abcparam.torch import parametrize

    class Twice(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.a, self.h, self.o = nn.Linear(8, w), nn.Linear(w, w), nn.Linear(w, 4)
            self.h_again = self.h  # one module, two names

        def forward(self, x):
            return self.o(self.h_again(self.h(self.a(x))))

    model = Twice(32)
    spec = parametrize(model, abcparam.rules("mup"), base=Twice(16))
    kinds = {p.name: p.kind for p in spec.params}
    assert kinds["h.weight"] == "hidden" and kinds["a.weight"] == "embedding"
    assert model(torch.randn(2, 8)).shape == (2, 4)


def test_check_accepts_a_scheme_name_for_rules():
    result = cc_check.check(
        _model, "mup", _batch(), widths=(8, 16), steps=1, seeds=1, progress=False
    )
    assert result.config["rules"]["scheme"] == "mup" and result.records


def test_module_in_the_current_folder_gets_a_path_hint(capsys, monkeypatch, tmp_path):
    (tmp_path / "here_models.py").write_text("def make(w):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    cwd = str(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", cwd)])
    sys.modules.pop("here_models", None)
    argv = [*USER]
    argv[2], argv[4] = "here_models:make", "here_models:batch"
    _line(capsys, 2, argv, "cannot import 'here_models'", "current folder", "PYTHONPATH")


# --- property: any interrupt point keeps every finished run, and the rerun completes it ------


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stop=st.integers(min_value=1, max_value=4))
def test_any_interrupt_keeps_finished_runs_and_rerun_completes(tmp_path_factory, stop):
    out = tmp_path_factory.mktemp("check")
    kw = {"widths": (8, 16), "steps": 1, "seeds": 2, "out": out, "progress": False}
    order = [(8, 0), (8, 1), (16, 0), (16, 1)]
    plots = importlib.import_module("abcparam.coordcheck.plot")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "plot_result", lambda result, out: [])  # plots are not under test here
        _interrupt_at(mp, cc_check, "train", stop)
        with pytest.raises(KeyboardInterrupt):
            cc_check.check(_model, "mup", _batch(), **kw)
    path = out / "partial.json"
    assert path.exists() == (stop > 1)  # written as soon as one run has finished
    kept = _load(path) if stop > 1 else {"finished_runs": [], "records": []}
    finished_runs = [(r["width"], r["seed"]) for r in kept["finished_runs"]]
    assert finished_runs == order[: stop - 1]
    assert _runs(kept) == set(order[: stop - 1])  # and none of the interrupted run's records
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "plot_result", lambda result, out: [])
        calls = _interrupt_at(mp, cc_check, "train", 99)
        result = cc_check.check(_model, "mup", _batch(), **kw)
    assert len(calls) == 4 - (stop - 1)
    assert {(r["width"], r["seed"]) for r in result.records} == set(order)
    saved = _load(out / "results.json")
    per_run = {run: sum((r["width"], r["seed"]) == run for r in saved["records"]) for run in order}
    assert len(set(per_run.values())) == 1 and min(per_run.values()) > 0
