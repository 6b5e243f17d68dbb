"""LR-transfer sweeps: data, optimum finder, resumable runner, end to end (fast CPU version)."""

import json

import numpy as np
import pytest

from abcparam.transfer import RunConfig, data, grid, optimum_log2_lr, run_sweep, summarise
from abcparam.transfer.sweep import finished


def test_data_is_deterministic_and_documented_size():
    a, b = data.digits(), data.digits()
    assert a.x_train.shape == (1437, 64) and a.x_val.shape == (360, 64)
    assert (a.x_train == b.x_train).all() and (a.y_val == b.y_val).all()
    train, val, vocab = data.pydoc_text()
    assert len(train) + len(val) > 400_000 and 50 < len(vocab) < 200
    assert (data.pydoc_text()[0][:1000] == train[:1000]).all()


@pytest.mark.parametrize("true_opt", [-7.3, -5.0, -3.6])
def test_parabola_recovers_a_known_optimum(true_opt):
    lrs = np.arange(-12, 0, 1.0)
    points = [(x, (x - true_opt) ** 2 + 0.5) for x in lrs]
    assert optimum_log2_lr(points) == pytest.approx(true_opt, abs=1e-9)
    assert optimum_log2_lr([(x, y) for x, y in points] + [(1.0, float("inf"))]) == pytest.approx(
        true_opt, abs=1e-9
    )


def test_sweep_runs_in_a_process_pool_and_resumes(tmp_path):
    configs = grid(
        "mlp",
        ["mup", "sp-constant-lr"],
        "adam",
        [32, 64],
        [-8.0, -6.0, -4.0],
        1,
        steps=20,
        base_width=32,
        batch=32,
    )
    path = tmp_path / "runs.jsonl"
    rows = run_sweep(configs[:6], path, workers=2, progress=False)
    assert len(rows) == 6 and all(np.isfinite(r["val_loss"]) for r in rows)
    before = path.read_text().splitlines()
    rows = run_sweep(configs, path, workers=2, progress=False)  # resumes: only 6 new runs
    after = path.read_text().splitlines()
    assert len(after) == len(before) + 6 and after[:6] == before
    assert len(rows) == 12 and set(finished(path)) == {c.key for c in configs}
    summary = summarise(rows)
    assert set(summary) == {"mup", "sp-constant-lr"}
    assert set(summary["mup"]["optimum"]) == {32, 64}


def test_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "runs.jsonl"
    cfg = RunConfig("mlp", "mup", "adam", 32, -6.0, 0, steps=2, base_width=32)
    path.write_text(json.dumps({"key": cfg.key, "val_loss": 1.0}) + '\n{"key": "tor')
    assert set(finished(path)) == {cfg.key}


def test_bad_backend_and_scheme_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown backend 'slurm'; accepted: local, ray"):
        run_sweep([], tmp_path / "x.jsonl", backend="slurm")
    from abcparam.transfer.sweep import rules_for

    with pytest.raises(ValueError, match="unknown sweep scheme 'ntk'"):
        rules_for("ntk", "adam")


def test_saved_cpu_sweep_shows_mup_transfers_better_than_sp_global():
    """experiments/results/transfer_cpu (measured): the optimum of SP with one global LR drifts
    with width; muP's and u-muP's drift is smaller in magnitude (recomputed from the raw runs)."""
    from pathlib import Path

    runs = Path(__file__).parents[2] / "experiments/results/transfer_cpu/runs.jsonl"
    rows = [json.loads(line) for line in runs.read_text().splitlines()]
    summary = summarise(rows)
    sp_drift = summary["sp-constant-lr"]["drift"][0]
    assert sp_drift < -0.3
    for scheme in ("mup", "u-mup"):
        assert abs(summary[scheme]["drift"][0]) < abs(sp_drift) / 2


@pytest.mark.slow
def test_cpu_sweep_reproduces_from_scratch(tmp_path):
    configs = grid(
        "mlp",
        ["sp-constant-lr", "mup"],
        "adam",
        [64, 512],
        # down to 2^-12: SP's optimum at width 512 sits near 2^-9.5, at 2^-10 on a grid's edge
        [-12.0, -11.0, -10.0, -9.0, -8.0, -7.0, -6.0],
        2,
        steps=200,
    )
    summary = summarise(run_sweep(configs, tmp_path / "runs.jsonl", progress=False))
    mup, sp = summary["mup"]["drift"][0], summary["sp-constant-lr"]["drift"][0]
    assert np.isfinite(mup) and np.isfinite(sp), summary  # neither optimum on the grid's edge
    assert sp < -0.3 and abs(mup) < abs(sp) / 2


@pytest.mark.slow
def test_ray_backend_runs_the_same_sweep(tmp_path):
    """The cluster path (Ray; here a local Ray instance) gives the same results as the pool."""
    pytest.importorskip("ray")
    configs = grid("mlp", ["mup"], "adam", [32], [-8.0, -6.0], 1, steps=10, base_width=32, batch=32)
    by_ray = run_sweep(configs, tmp_path / "ray.jsonl", backend="ray", progress=False)
    local = run_sweep(configs, tmp_path / "local.jsonl", workers=1, progress=False)
    assert [r["val_loss"] for r in by_ray] == pytest.approx([r["val_loss"] for r in local])


def test_saved_gpt_sweep_shows_mutransfer():
    """experiments/results/transfer_cpu_gpt_adam (measured): muP's optimum stays put across widths
    64-256 while SP with one global LR drifts by about -1 per doubling."""
    from pathlib import Path

    runs = Path(__file__).parents[2] / "experiments/results/transfer_cpu_gpt_adam/runs.jsonl"
    summary = summarise([json.loads(line) for line in runs.read_text().splitlines()])
    assert summary["sp-constant-lr"]["drift"][0] < -0.8
    assert abs(summary["mup"]["drift"][0]) < 0.1 and abs(summary["u-mup"]["drift"][0]) < 0.1


def test_the_stdlib_corpus_is_ten_times_the_pydoc_text():
    """The standard library's source: deterministic, its own vocabulary and fingerprint, and
    long enough that 4,000 steps at batch 32 (context 32) stay within one pass of it."""
    train, val, vocab = data.corpus_ids("stdlib")
    assert len(train) > 10 * len(data.pydoc_text()[0]) and len(train) >= 4_000 * 32 * 32
    assert len(val) == len(train) + len(val) - int(0.9 * (len(train) + len(val)))
    assert "def " in "".join(vocab[i] for i in train[:20_000].tolist())
    assert data.text_fingerprint("stdlib") != data.text_fingerprint("pydoc")
    assert data.text_fingerprint() == data.text_fingerprint("pydoc")
    with pytest.raises(ValueError, match="unknown corpus 'wiki'; accepted: pydoc, stdlib"):
        data.corpus_ids("wiki")


def _clear_text_caches() -> None:
    data._text.cache_clear()
    data.corpus_ids.cache_clear()
    data.pydoc_vocab_size.cache_clear()
    data.text_fingerprint.cache_clear()


def test_another_pythons_topics_file_gives_its_text(tmp_path, monkeypatch):
    """A device with another Python trains on the CPU runs' text when handed their topics file:
    the literal is read, never executed, and the fingerprint tells the two texts apart."""
    own = data.text_fingerprint()
    topics = tmp_path / "topics.py"
    literal = {"b": "world " * 50, "a": "hello " * 50}
    topics.write_text(f"# generated\ntopics = {literal!r}\n")
    monkeypatch.setenv(data.TOPICS_ENV, str(topics))
    _clear_text_caches()
    try:
        train, val, vocab = data.pydoc_text()
        assert "".join(vocab) == " dehlorw" and len(train) + len(val) == 600
        assert data.text_fingerprint().startswith("600:") and data.text_fingerprint() != own
        topics.write_text("__import__('os').system('false')\n")
        _clear_text_caches()
        with pytest.raises(ValueError, match="assigns no 'topics' dict"):
            data.pydoc_text()
    finally:
        monkeypatch.delenv(data.TOPICS_ENV)
        _clear_text_caches()
    assert data.text_fingerprint() == own
