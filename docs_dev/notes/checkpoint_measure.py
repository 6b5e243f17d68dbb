"""Measurements quoted in checkpoint.md and ckpt.md:
PYTHONPATH=$PWD:$PWD/tests python docs_dev/notes/checkpoint_measure.py [--plain]"""

import sys, tempfile
import torch; torch.set_num_threads(1)


def plain_only():
    """Plain loading after 2 AdamW steps (muP, width 64 over 32), per model and seed."""
    from transformers import AutoModelForCausalLM
    from checkpoint_models import MODELS, WIDTH, batch, build, logits, optimizer, train
    for name in ("llama", "llama-tied", "gpt2", "user"):
        found = []
        for seed in (0, 1, 2):
            m, s = build(name, seed=seed)
            train(m, optimizer(m, s), 2, seed=seed)
            x, _ = batch(99)
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    if name == "user":
                        plain = MODELS[name](WIDTH)
                        plain.load_state_dict(m.state_dict())
                    else:
                        m.save_pretrained(tmp)
                        plain = AutoModelForCausalLM.from_pretrained(tmp)
                except Exception as err:
                    found.append(f"raises {type(err).__name__}: ...{str(err)[-60:]}")
                    continue
            with torch.no_grad():
                found.append("%.1e" % (logits(m, x) - logits(plain, x)).abs().max().item())
        print(f"plain load {name:10s} surviving={sorted(s.surviving)}:", found, flush=True)


from transformers.utils import logging; logging.set_verbosity_error(); logging.disable_progress_bar()
if "--plain" in sys.argv:
    plain_only()
    raise SystemExit
from checkpoint_models import roundtrip
for name in ("llama", "llama-tied", "gpt2", "user"):
    for path in ("pretrained", "state_dict"):
        if name == "user" and path == "pretrained": continue
        d = [roundtrip(name, path, seed=s) for s in (0, 1, 2)]
        print(f"{name:10s} {path:11s} logits max {max(x['logits'] for x in d):.1e}  after step max {max(x['after_step'] for x in d):.1e}", flush=True)

import abcparam
from abcparam.torch import parametrize, param_groups
from checkpoint_models import build, optimizer, train, MODELS, WIDTH, BASE
from test_plain_checkpoint import FACTORIES  # + Llama with GQA, Qwen3 (q-norm)
d = []
for seed in (0, 1, 2):
    torch._dynamo.reset()
    m, s = build("user", seed=seed); e = train(m, optimizer(m, s), 3, seed=seed)
    m, s = build("user", seed=seed); c = train(torch.compile(m, backend="aot_eager"), optimizer(m, s), 3, seed=seed)
    d.append(max(abs(a - b) for a, b in zip(e, c)))
print("compile aot_eager vs eager, user model, max |loss diff| over 3 steps, seeds 0-2:", ["%.1e" % x for x in d])
for opt in ("adamw", "sgd"):
  for name in ("user", "llama", "llama-tied", "llama-gqa", "qwen3", "gpt2"):
    d = []
    for seed in (0, 1, 2):
        L = {}
        for fold in (None, False):
            torch.manual_seed(seed); model = FACTORIES[name](WIDTH)
            with torch.device("meta"): base = FACTORIES[name](BASE)
            spec = parametrize(model, abcparam.rules("mup", optimizer=opt), base=base, seed=seed, fold=fold)
            g = param_groups(model, spec, lr=3e-2 if opt == "sgd" else 1e-2, weight_decay=0.1)
            L[fold] = train(model, (torch.optim.SGD if opt == "sgd" else torch.optim.AdamW)(g), 3, seed=seed)
        d.append(max(abs(a - b) for a, b in zip(L[None], L[False])))
    print(f"fold vs multipliers {opt} {name}: max |loss diff| over 3 steps, seeds 0-2:", ["%.1e" % x for x in d])
# plain loading (no abcparam): from_pretrained for the HF models, strict load_state_dict for the
# user model; max |logits diff| or the error it raises (seeds 0-2)
plain_only()
