"""Benchmark (issue 28, item 4): 16 learning rates of one sweep run trained one by one (the
sweep's :func:`~abcparam.transfer.sweep.train`) vs as one batched model
(:func:`~abcparam.transfer.batched.train_batched`): the width-128 MLP on digits and a small GPT
on the pydoc text, 100 Adam steps, at 1 and 2 threads, interleaved, median of the repeats.

Both timings include building every run (init, parametrize, optimizer).  The machine's load
average is recorded with every repeat: on a shared CPU the ratio, not the seconds, is the result; the process CPU time of each
path is saved too (steadier under load; at 2 threads it sums both).
The one-by-one path is the sweep's normal single run (``torch.optim.Adam`` with its default
settings; on the CPU its foreach switch defaults off and setting it on changes nothing here).
``--profile`` adds, per model, the share of CPU time each path spends in matrix products
(torch.profiler) and the one-thread ceiling of batching: the separate runs' CPU time over the
batched model's matrix-product time alone (what batching would give if every other op were free).
``best_of_threads`` compares each path at its own fastest thread count: on two cores the
one-by-one path is slower at 2 threads than at 1 (small ops pay the threads' overhead), so a ratio
taken at 2 threads flatters the batched path.  OpenMP's wait policy is left as the user's
environment has it (``--omp-wait-policy`` sets it: PASSIVE, idle threads sleep, is right on a
loaded machine, where a spinning thread stalls both paths ~10x; on an idle one it slows the
batched path at 2 threads, each of its parallel regions waking a sleeping thread: measured in
docs_dev/notes/speed.md).
Both paths train with denormals flushed to zero (the batched trainer always does:
abcparam.transfer.denormals), so the ratio is not the flush's own gain.
``fidelity`` saves both paths' final losses per LR.
Run: ``python experiments/bench_batched_sweep.py [--quick]``; raw timings in
experiments/results/bench_batched_sweep/timings.json.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import time
from unittest import mock

from abcparam.records import save_json
from abcparam.transfer.denormals import flush_denormals
from experiments.lab.paths import results_dir

OUT = "bench_batched_sweep"
#: model -> (width, steps); 16 LRs, one seed each
FULL = {"mlp": (128, 100), "transformer": (64, 100)}
QUICK = {"mlp": (32, 5), "transformer": (32, 3)}
#: at most this many steps under the profiler: it keeps every op's event, and 16 GPT runs of 100
#: steps filled the machine's 24 GB (killed; the timings, saved first, were kept)
PROFILE_STEPS = 20


def wait_policy_from_argv(argv: list[str]) -> None:
    """``--omp-wait-policy X`` into the environment: OpenMP reads it once, when torch loads, so
    the script calls this before importing anything that imports torch."""
    for i, arg in enumerate(argv):
        if arg.startswith("--omp-wait-policy"):
            value = arg.partition("=")[2] or (argv[i + 1] if i + 1 < len(argv) else "")
            if value.upper() in ("PASSIVE", "ACTIVE"):
                os.environ["OMP_WAIT_POLICY"] = value.upper()


@contextlib.contextmanager
def _threads(n: int):
    """Run with ``n`` torch threads, also where the sweep's train() would set its own 1."""
    import torch

    torch.set_num_threads(n)
    with mock.patch.object(torch, "set_num_threads", lambda _n: None):
        yield


def _configs(model: str, width: int, steps: int, lrs: int, batch: int = 128):
    from abcparam.transfer.sweep import RunConfig

    return [
        RunConfig(
            model, "mup", "adam", width, float(lr), 0, steps=steps, base_width=64, batch=batch
        )
        for lr in range(-12, -12 + lrs)
    ]


def measure(
    model: str, width: int, steps: int, threads: int, repeats: int, lrs: int, batch: int = 128
) -> dict:
    """Interleaved wall times (s) of the one-by-one and the batched sweep, ``repeats`` each."""
    from abcparam.transfer.batched import train_batched
    from abcparam.transfer.sweep import train

    configs = _configs(model, width, steps, lrs, batch)
    with _threads(threads):
        train(configs[0])  # warm: the rules' derivation and the data load are cached
        train_batched(configs[:2], threads=threads)
        separate, batched, load, cpu_sep, cpu_bat = [], [], [], [], []
        for _ in range(repeats):
            load.append(os.getloadavg()[0])
            t, c0 = time.perf_counter(), time.process_time()
            # denormals flushed, as the batched trainer does: the same footing
            sep_rows = _flushed(lambda: [train(c) for c in configs])
            separate.append(time.perf_counter() - t)
            cpu_sep.append(time.process_time() - c0)
            t, c0 = time.perf_counter(), time.process_time()
            bat_rows = train_batched(configs, threads=threads, curves=False)
            batched.append(time.perf_counter() - t)
            cpu_bat.append(time.process_time() - c0)
    ratios = [s / b for s, b in zip(separate, batched)]
    return {
        "model": model,
        "width": width,
        "batch": batch,
        "steps": steps,
        "lrs": lrs,
        "threads": threads,
        "separate_s": separate,
        "batched_s": batched,
        "ratio_per_repeat": ratios,
        "separate_cpu_s": cpu_sep,
        "batched_cpu_s": cpu_bat,
        "cpu_speedup_of_medians": statistics.median(cpu_sep) / statistics.median(cpu_bat),
        "median_separate_s": statistics.median(separate),
        "median_batched_s": statistics.median(batched),
        "speedup_of_medians": statistics.median(separate) / statistics.median(batched),
        "load_avg_1min": load,
        "fidelity": fidelity(configs, sep_rows, bat_rows),
    }


def fidelity(configs: list, separate: list[dict], batched: list[dict]) -> dict:
    """How far the batched path's final validation losses lie from the separate runs' (the
    same configs, the last repeat), per LR: rounding-level differences grow over the steps in
    runs at and above the edge of stability, so the count within 1e-5 is the number to read."""
    sep = [r["val_loss"] for r in separate]
    bat = [r["val_loss"] for r in batched]
    gaps = [abs(a - b) if math.isfinite(a) and math.isfinite(b) else None for a, b in zip(sep, bat)]
    return {
        "log2_lr": [c.log2_lr for c in configs],
        "separate_val_loss": sep,
        "batched_val_loss": bat,
        "abs_gap": gaps,
        "within_1e-5": sum(g is not None and g <= 1e-5 for g in gaps),
        "runs": len(gaps),
    }


#: the profiler's names for matrix products (the part a batched model cannot make cheaper per flop)
MATMUL_OPS = ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm")
#: the profiler's names for the attention kernels (matrix products inside, the same flops batched)
ATTENTION_OPS = (
    "aten::_scaled_dot_product_flash_attention_for_cpu",
    "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
)


def profile(model: str, width: int, steps: int, lrs: int, top: int = 12, batch: int = 128) -> dict:
    """Self CPU time (s) by op of one batched sweep and of ``lrs`` separate runs, one thread."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from abcparam.transfer.batched import train_batched
    from abcparam.transfer.sweep import train

    configs = _configs(model, width, min(steps, PROFILE_STEPS), lrs, batch)
    out: dict = {"batch": batch, "steps": configs[0].steps}
    with _threads(1):
        train(configs[0])
        for path, run in (
            ("separate", lambda: _flushed(lambda: [train(c) for c in configs])),
            ("batched", lambda: train_batched(configs, threads=1, curves=False)),
        ):
            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                run()
            ops = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
            total = sum(ops.values())
            matmul = sum(v for k, v in ops.items() if k in MATMUL_OPS)
            out[path] = {
                "self_cpu_s": total,
                "matmul_s": matmul,
                "attention_s": sum(v for k, v in ops.items() if k in ATTENTION_OPS),
                "matmul_share": matmul / total,
                "top_ops_s": dict(sorted(ops.items(), key=lambda kv: -kv[1])[:top]),
            }
    # at one thread the batched path takes at least its own matrix products' time (a batched
    # product may run faster per flop than the separate runs' small ones, so not theirs)
    out["bound_one_thread"] = out["separate"]["self_cpu_s"] / out["batched"]["matmul_s"]
    return out


def cores_bound(prof: dict, separate_s: float, steps: int, cores: int) -> float:
    """The most any batching of the profiled sweep can gain on ``cores`` cores: the separate
    runs' measured time (``separate_s``, ``steps`` steps) over the batched model's matrix products
    and attention kernels at one thread (profiled over ``prof["steps"]`` steps, scaled to
    ``steps``), spread perfectly over every core. Those kernels do the same flops batched or not,
    so no fusion of the other ops gets below them (profiles saved before ``attention_s`` was
    recorded read it from their top ops, where both kernels appear)."""
    batched = prof["batched"]
    attention = batched.get("attention_s")
    if attention is None:
        attention = sum(v for k, v in batched["top_ops_s"].items() if k in ATTENTION_OPS)
    floor = (batched["matmul_s"] + attention) * steps / prof["steps"]
    return separate_s / (floor / cores)


def _flushed(run):
    """``run()`` with denormals flushed to zero, as the batched trainer runs."""
    with flush_denormals():
        return run()


def case_of(row: dict) -> str:
    """A benchmark row's case: its model and batch, e.g. "transformer batch 64"."""
    return f"{row['model']} batch {row.get('batch', 128)}"


def fastest(rows: list[dict]) -> tuple[dict, dict]:
    """Of one case's rows (one per thread count): where the one-by-one path was fastest, and
    where the batched path was (by the median of the repeats)."""
    return (
        min(rows, key=lambda r: statistics.median(r["separate_s"])),
        min(rows, key=lambda r: statistics.median(r["batched_s"])),
    )


def best_of_threads(rows: list[dict]) -> dict[str, dict]:
    """Per model (and GPT batch): each path's fastest median over the thread counts measured,
    and their ratio (the speed-up a user gets who runs each path at its best setting)."""
    out: dict[str, dict] = {}
    for key in dict.fromkeys(case_of(r) for r in rows):
        sep, bat = fastest([r for r in rows if case_of(r) == key])
        separate_s, batched_s = (
            statistics.median(sep["separate_s"]),
            statistics.median(bat["batched_s"]),
        )
        out[key] = {
            "separate_s": separate_s,
            "separate_threads": sep["threads"],
            "batched_s": batched_s,
            "batched_threads": bat["threads"],
            "speedup": separate_s / batched_s,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--models", default="mlp,transformer")
    parser.add_argument("--lrs", type=int, default=16, help="learning rates per sweep")
    parser.add_argument("--gpt-steps", type=int, default=None, help="the GPT's steps (default 100)")
    parser.add_argument(
        "--gpt-batches",
        default="128",
        help="the GPT's RunConfig batch sizes, comma-separated (batch/8 sequences of 32 characters)",
    )
    parser.add_argument(
        "--omp-wait-policy",
        choices=("PASSIVE", "ACTIVE"),
        type=str.upper,
        default=None,
        help="OpenMP's wait policy (set before torch loads by the script; default: the environment's)",
    )
    parser.add_argument("--out", default=None, help=f"default: experiments/results/{OUT}")
    parser.add_argument(
        "--profile", action="store_true", help="also profile both paths per model (one thread)"
    )
    args = parser.parse_args(argv)
    if args.omp_wait_policy and os.environ.get("OMP_WAIT_POLICY") != args.omp_wait_policy:
        parser.error(
            f"--omp-wait-policy {args.omp_wait_policy} must be set before torch loads: run "
            "experiments/bench_batched_sweep.py, or set OMP_WAIT_POLICY in the environment"
        )
    sizes = QUICK if args.quick else FULL
    started = time.time()
    out = results_dir(OUT) if args.out is None else args.out
    rows: list[dict] = []
    gpt_batches = [int(b) for b in args.gpt_batches.split(",")]
    for n in (int(t) for t in args.threads.split(",")):
        for model, batch in _cases(args.models.split(","), gpt_batches):
            width, steps = sizes[model]
            if model == "transformer" and args.gpt_steps:
                steps = args.gpt_steps
            row = measure(model, width, steps, n, args.repeats, args.lrs, batch)
            rows.append(row)
            print(
                f"{model} width {width} batch {batch}, {args.lrs} LRs x {steps} Adam steps, "
                f"{n} thread(s): "
                f"one by one {row['median_separate_s']:.2f} s, batched "
                f"{row['median_batched_s']:.2f} s (medians of {args.repeats}): "
                f"{row['speedup_of_medians']:.2f}x (CPU time {row['cpu_speedup_of_medians']:.2f}x); "
                f"load {min(row['load_avg_1min']):.1f}-{max(row['load_avg_1min']):.1f} on "
                f"{os.cpu_count()} cores",
                flush=True,
            )
            # saved after every benchmark: an interrupted run keeps what it measured
            path = save_json(f"{out}/timings.json", _saved(args, rows, {}), started=started)
    for key, best in best_of_threads(rows).items():
        print(
            f"{key}, each path at its fastest thread count: one by one {best['separate_s']:.2f} s "
            f"({best['separate_threads']} thread(s)), batched {best['batched_s']:.2f} s "
            f"({best['batched_threads']}): {best['speedup']:.2f}x",
            flush=True,
        )
    profiles = {}
    if args.profile:
        for model, batch in _cases(args.models.split(","), gpt_batches):
            width, steps = sizes[model]
            if model == "transformer" and args.gpt_steps:
                steps = args.gpt_steps
            name = model if model == "mlp" or len(gpt_batches) == 1 else f"{model} batch {batch}"
            profiles[name] = p = profile(model, width, steps, args.lrs, batch=batch)
            print(
                f"{name}: matmul share of CPU time, separate {p['separate']['matmul_share']:.2f}"
                f", batched {p['batched']['matmul_share']:.2f}; one-thread ceiling "
                f"{p['bound_one_thread']:.2f}x",
                flush=True,
            )
        path = save_json(f"{out}/timings.json", _saved(args, rows, profiles), started=started)
    print(f"saved {path}")
    return 0


def _cases(models: list[str], gpt_batches: list[int]) -> list[tuple[str, int]]:
    """(model, batch) pairs: the MLP at the sweep's batch, the GPT at every batch asked for."""
    return [(m, b) for m in models for b in (gpt_batches if m == "transformer" else [128])]


def _saved(args, rows: list[dict], profiles: dict) -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "quick": args.quick,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        # both paths train with denormals flushed to zero (abcparam.transfer.denormals)
        "flush_denormals": "both paths",
        "load_avg_at_save": list(os.getloadavg()),
        "benchmarks": rows,
        "best_of_threads": best_of_threads(rows),
        "profiles": profiles,
    }
