"""The split's identity check (docs_dev/notes/split.md): record the outputs of every function the
split touched, at two commits, and compare the folders byte for byte.

    git archive <commit> | tar -x -C /tmp/old && cd /tmp/old && PYTHONPATH=$PWD python \\
        <this file> /tmp/before [calc cli forecast param topo train]
    cd <checkout> && PYTHONPATH=$PWD python <this file> /tmp/after ...
    diff -r /tmp/before /tmp/after
"""

import contextlib
import hashlib
import io
import itertools
import json
import sys
import warnings
from pathlib import Path

import torch

torch.set_num_threads(1)
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
which = sys.argv[2:] or ["calc", "cli", "forecast", "param", "topo", "train"]


def dump(name, obj):
    (out / name).write_text(
        obj if isinstance(obj, str) else json.dumps(obj, indent=1, sort_keys=True, default=str)
    )


if "calc" in which:
    import abcparam

    cases = []
    bases = [
        dict(width=256, batch=64, steps=1000, lr=3e-3),
        dict(width=256, depth=4, batch=64, steps=1000, lr=3e-3, wd=0.1, warmup=100, eps=1e-8),
        dict(
            width=128,
            batch=32,
            steps=2000,
            lr=1e-2,
            weight_decay=0.05,
            warmup=0,
            beta1=0.9,
            beta2=0.95,
            sequence=512,
        ),
        dict(
            width=512,
            depth=8,
            batch=256,
            steps=500,
            lr=1e-3,
            wd=0.1,
            warmup=50,
            sequence=1024,
            data=1e6,
            params=1e7,
            decay_fraction=0.2,
        ),
    ]
    targets = [
        dict(width=1024),
        dict(width=2048, batch=256, steps=250),
        dict(width=4096, batch=1024, steps=8000, sequence=2048),
        dict(width=1024, depth=16, batch=4096, steps=4000, params=1e9),
    ]
    opts = [
        ("mup", "adamw"),
        ("sp", "adam"),
        ("u-mup", "adam"),
        ("completep", "adamw"),
        ("mup", "sgd"),
        ("ntp", "adafactor"),
        ("mup", "lion"),
        ("mup", "muon"),
    ]
    ruleses = [
        ("sde-batch", "ema-timescale"),
        (),
        ("step-law",),
        ("ema-timescale", "step-law"),
        "sde-batch",
    ]
    n = 0
    for i, (b, t, (s, o), r, wd) in enumerate(
        itertools.product(bases, targets, opts, ruleses, ("coupled", "independent"))
    ):
        if i % 7:
            continue
        if "depth" in t and "depth" not in b:
            t = {k: v for k, v in t.items() if k != "depth"}
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                res = abcparam.transfer(b, t, scheme=s, optimizer=o, rules=r, weight_decay=wd)
            rec = {
                "dict": res.to_dict(),
                "md": res.to_markdown(),
                "md_nowhy": res.to_markdown(why=False),
                "json": res.to_json(),
                "warn": [str(x.message) for x in w],
            }
        except Exception as e:
            rec = {"error": f"{type(e).__name__}: {e}"}
        dump(f"calc_{i:04d}.json", rec)
        n += 1
    for j, (b, t) in enumerate(
        [
            (dict(width=1, batch=2, steps=3), {}),
            (dict(width=256, batch=64, steps=100, lr=1e-3, warmup=100), {}),
            (dict(width=256, batch=64, steps=100, lr=1e-3), dict(depth=4)),
            (dict(width=256, batch=64, steps=100, lr=1e-3, data=10), {}),
            (dict(width=256, batch=64, steps=100, lr=1e-3, beta2=0.99), dict(batch=64000)),
            (dict(width=256, batch=64, steps=100, lr=1e-3, nope=1), {}),
        ]
    ):
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                res = abcparam.transfer(b, t)
            rec = {
                "dict": res.to_dict(),
                "md": res.to_markdown(),
                "warn": [str(x.message) for x in w],
            }
        except Exception as e:
            rec = {"error": f"{type(e).__name__}: {e}"}
        dump(f"calcbad_{j}.json", rec)
    print("calc cases", n)

if "cli" in which:
    from abcparam.cli import main

    for i, argv in enumerate(
        [
            [
                "transfer",
                "--from",
                "width=256,batch=64,steps=1000,lr=3e-3,wd=0.1,warmup=100",
                "--to",
                "width=2048,batch=256",
                "--format",
                "json",
            ],
            [
                "transfer",
                "--from",
                "width=256,batch=64,steps=1000,lr=3e-3,sequence=512",
                "--to",
                "width=2048,steps=4000",
                "--rules",
                "step-law,ema-timescale",
                "--format",
                "json",
                "--optimizer",
                "adam",
                "--scheme",
                "sp",
            ],
            [
                "transfer",
                "--from",
                "width=256,depth=4,batch=64,steps=1000,lr=3e-3,wd=0.1",
                "--to",
                "width=1024,depth=16",
                "--scheme",
                "completep",
                "--weight-decay",
                "independent",
            ],
        ]
    ):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                rc = main(argv)
            except SystemExit as e:
                rc = e.code
        dump(f"cli_{i}.txt", f"rc={rc}\n" + buf.getvalue())

if "forecast" in which:
    from abcparam.forecasts import predict_loss

    runs = "experiments/results/forecasts/cpu/scale/runs.jsonl"  # in the checkout run
    rows = [json.loads(l) for l in open(runs)]
    print(sorted({(r["scheme"], r["log2_lr"], r["width"]) for r in rows}))
    for i, kw in enumerate(
        [
            dict(width=1024, scheme="mup"),
            dict(width=512, bootstrap=200, confidence=0.8, seed=3, scheme="mup"),
            dict(
                width=256, paired=True, bootstrap=100, scheme="sp-constant-lr", widths=[32, 64, 128]
            ),
            dict(
                width=2048, widths=None, bootstrap=50, seed=1, scheme="sp-constant-lr", log2_lr=-7.0
            ),
            dict(width=256, scheme="mup", widths=[32, 64]),
            dict(width=64, scheme="mup", widths=[32, 64, 128]),
            dict(width=64, scheme="mup", widths=[32, 48, 128]),
            dict(width=1024, scheme="mup", confidence=1.5),
        ]
    ):
        try:
            p = predict_loss(runs, **kw)
            rec = p.to_dict()
        except Exception as e:
            rec = {"error": f"{type(e).__name__}: {e}"}
        dump(f"forecast_{i}.json", rec)
    for i, kw in enumerate(
        [dict(width=1024, bootstrap=100), dict(width=1024, paired=True, bootstrap=100)]
    ):
        syn = [
            (n, s, 1.5 + 3 * n**-0.5 + 0.01 * ((s * 7 + n) % 5))
            for n in (32, 64, 128, 256)
            for s in range(3)
        ]
        syn.append((64, 9, float("nan")))
        try:
            rec = predict_loss(syn, **kw).to_dict()
        except Exception as e:
            rec = {"error": f"{type(e).__name__}: {e}"}
        dump(f"forecast_syn{i}.json", rec)


def hf(kind, width, tie=False):
    if kind == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        return LlamaForCausalLM(
            LlamaConfig(
                vocab_size=61,
                hidden_size=width,
                intermediate_size=2 * width,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=2,
                max_position_embeddings=32,
                tie_word_embeddings=tie,
            )
        )
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(
        GPT2Config(
            n_embd=width,
            n_layer=2,
            n_head=2,
            vocab_size=61,
            n_positions=32,
            tie_word_embeddings=tie,
        )
    )


if "param" in which or "topo" in which:
    import transformers

    import abcparam
    from abcparam.torch import discover_topology, param_groups, parametrize

    transformers.logging.set_verbosity_error()


def spec_record(model, spec):
    groups = param_groups(model, spec, lr=1e-3, weight_decay=0.1)
    g = [
        {k: (v if k != "params" else [tuple(p.shape) for p in v]) for k, v in gr.items()}
        for gr in groups
    ]
    h = hashlib.sha1()
    for n, p in model.named_parameters():
        h.update(n.encode())
        h.update(p.detach().float().numpy().tobytes())
    mult = {
        n: repr(getattr(m, "multiplier", None))
        for n, m in model.named_modules()
        if hasattr(m, "multiplier")
    }
    return {
        "table": spec.table(),
        "table_lr": spec.table(lr=1e-2, weight_decay=0.1, eps=1e-8),
        "groups": g,
        "hash": h.hexdigest(),
        "surviving": spec.surviving,
        "ratio": spec.ratio,
        "kinds": spec.kinds,
        "mult": mult,
        "frozen": spec.frozen,
        "params": [repr(p) for p in spec.params],
        "attention": [repr(a) for a in spec.attention],
    }


if "param" in which:
    schemes = list(abcparam.SCHEMES)
    from abcparam.torch import GPT, MLP, ResidualMLP

    makers = {
        "mlp": lambda w: MLP(w),
        "mlpbias": lambda w: MLP(w, bias=True),
        "gpt": lambda w: GPT(w, n_layers=2),
        "gptqk": lambda w: GPT(w, n_layers=2, qk_layernorm=True),
        "res": lambda w: ResidualMLP(w, depth=3),
    }
    for s, o in itertools.product(schemes, ("adam", "sgd")):
        for mname, make in makers.items():
            for fold in (None, False):
                try:
                    depth_ok = mname in ("gpt", "gptqk", "res")
                    rules = abcparam.rules(s, optimizer=o, depth=None if depth_ok else False)
                    kw = {"base_depth": 1} if getattr(rules, "has_depth", False) else {}
                    torch.manual_seed(0)
                    model = make(64)
                    spec = parametrize(
                        model,
                        rules,
                        base=32 if fold is None else make(32),
                        seed=0,
                        fold=fold,
                        zero_readout=(fold is False),
                        **kw,
                    )
                    rec = spec_record(model, spec)
                except Exception as e:
                    rec = {"error": f"{type(e).__name__}: {e}"}
                dump(f"param_{s}_{o}_{mname}_{fold}.json", rec)
        for kind, tie in (("llama", False), ("llama", True), ("gpt2", True)):
            for fold in (None, False):
                try:
                    torch.manual_seed(0)
                    model = hf(kind, 64, tie)
                    with torch.device("meta"):
                        base = hf(kind, 32, tie)
                    rules = abcparam.rules(s, optimizer=o, depth=False)
                    spec = parametrize(model, rules, base=base, seed=0, fold=fold)
                    rec = spec_record(model, spec)
                except Exception as e:
                    rec = {"error": f"{type(e).__name__}: {e}"}
                dump(f"param_{s}_{o}_{kind}{int(tie)}_{fold}.json", rec)
    print("param done")

if "topo" in which:
    from abcparam.torch import GPT, MLP, ResidualMLP, map_parameters

    def trec(t, spec=None):
        return {"r": repr(t), "d": t.to_dict(), "desc": t.describe(), "mods": sorted(t.modules)}

    cases = [
        ("mlp", MLP(64), MLP(32), torch.randn(4, 32)),
        ("gpt", GPT(64, n_layers=2), GPT(32, n_layers=2), torch.randint(0, 65, (2, 8))),
        ("res", ResidualMLP(32), ResidualMLP(16), torch.randn(4, 32)),
    ]
    for name, m, b, x in cases:
        try:
            rec = trec(discover_topology(m, x, map_parameters(m, b)))
        except Exception as e:
            rec = {"error": f"{type(e).__name__}: {e}"}
        dump(f"topo_{name}.json", rec)
        try:
            spec = parametrize(m, abcparam.rules("mup"), base=b, seed=0)
            rec = trec(discover_topology(m, x, spec, include=("hidden", "readout")))
        except Exception as e:
            rec = {"error": f"{type(e).__name__}: {e}"}
        dump(f"topo_{name}_spec.json", rec)
    for kind, tie in (("llama", False), ("gpt2", True)):
        torch.manual_seed(0)
        model = hf(kind, 32, tie)
        base = hf(kind, 16, tie)
        x = torch.randint(0, 61, (2, 8))
        try:
            spec = parametrize(model, abcparam.rules("mup"), base=base, seed=0)
            rec = trec(discover_topology(model, {"input_ids": x}, spec))
            rec2 = trec(discover_topology(model, (x,), map_parameters(model, base)))
            rec["tuple"] = rec2
        except Exception as e:
            rec = {"error": f"{type(e).__name__}: {e}"}
        dump(f"topo_{kind}.json", rec)
    try:
        discover_topology(MLP(8), torch.randn(2, 32), {})
    except Exception as e:
        dump("topo_err.json", {"error": f"{type(e).__name__}: {e}"})

if "train" in which or "train2" in which:
    from abcparam.transfer.batched import train_batched
    from abcparam.transfer.horizon import HorizonRun, train_wsd
    from abcparam.transfer.sweep import RunConfig, grid, train

    def clean(row):
        return {
            k: v
            for k, v in row.items()
            if k not in ("seconds", "time", "wall", "elapsed", "provenance")
        }

    for i, cfg in enumerate(
        [
            RunConfig(
                "mlp", "mup", "adam", 64, -7.0, 0, steps=4, base_width=32, batch=16, trace_every=2
            ),
            RunConfig(
                "transformer",
                "sp",
                "adamw",
                32,
                -8.0,
                1,
                steps=3,
                base_width=32,
                batch=8,
                weight_decay=0.1,
                warmup=2,
                z_loss=1e-4,
                qk_layernorm=True,
                trace_every=1,
            ),
            RunConfig("mlp", "mup", "sgd", 64, 20.0, 0, steps=3, base_width=32, batch=16),
            RunConfig(
                "transformer",
                "completep",
                "adam",
                32,
                -7.0,
                0,
                steps=2,
                base_width=32,
                batch=8,
                depth=2,
                base_depth=1,
                sweep_kind="hidden",
                fixed_log2_lr=-8.0,
            ),
        ]
    ):
        if "train2" not in which:
            dump(f"train_{i}.json", clean(train(cfg)))
    cfgs = [
        RunConfig(m, "mup", o, 64, lr, s, steps=3, base_width=32, batch=16)
        for m, o in (("mlp", "adam"), ("transformer", "lion"))
        for lr in (-9.0, -6.0)
        for s in (0, 1)
    ]
    dump("batched.json", [clean(r) for r in train_batched(cfgs[:4])])
    dump("batched_t.json", [clean(r) for r in train_batched(cfgs[4:])])
    dump("batched_nocurve.json", [clean(r) for r in train_batched(cfgs[:4], curves=False)])
    cfgs = [
        RunConfig("mlp", "mup", "adam", 64, lr, 0, steps=40, base_width=32, batch=16)
        for lr in (-6.0, 3.0)
    ]
    dump("batched_div.json", [clean(r) for r in train_batched(cfgs)])
    TINY = {"width": 16, "batch": 2, "log2_lr": -7.0, "seed": 0, "warmup": 2, "base_width": 16}
    dump("wsd_0.json", clean(train_wsd(HorizonRun(**TINY, horizons=(4, 8, 12), val_windows=8))))
    dump(
        "wsd_1.json",
        clean(
            train_wsd(
                HorizonRun(
                    **TINY,
                    horizons=(6,),
                    val_windows=8,
                    record_updates=True,
                    curve_every=2,
                    convention="independent",
                )
            )
        ),
    )
    for i, args in enumerate(
        [
            ("mlp", ["mup", "sp"], "adam", [32, 64], [-8.0, -6.0], 2, None, dict(steps=3)),
            (
                "transformer",
                ["completep"],
                "adamw",
                [32],
                [-7.0],
                1,
                [1, 2],
                dict(steps=3, base_depth=1, weight_decay=0.1),
            ),
            ("mlp", [], "adam", [32], [-7.0], 1, None, {}),
            ("mlp", ["mup"], "nope", [32], [-7.0], 1, None, {}),
            ("mlp", ["mup"], "adam", [0], [-7.0], 1, None, {}),
            ("mlp", ["mup"], "adam", [32], [-7.0], 0, None, {}),
            ("mlp", ["mup"], "adam", [32], [-7.0], 1, None, dict(sweep_kind="hidden")),
            ("mlp", ["mup"], "muon", [32], [-7.0], 1, None, dict(update_view="entry")),
            ("mlp", ["mup"], "adam", [32], [-7.0], 1, None, dict(weight_decay=0.1)),
            ("mlp", ["mup"], "adam", [32], [-7.0], 1, [2], {}),
        ]
    ):
        m, s, o, w, l, n, d, kw = args
        try:
            rec = [repr(c) for c in grid(m, s, o, w, l, n, d, **kw)]
        except Exception as e:
            rec = {"error": f"{type(e).__name__}: {e}"}
        dump(f"grid_{i}.json", rec)
print("done")
