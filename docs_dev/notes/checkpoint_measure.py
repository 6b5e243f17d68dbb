"""Measurements quoted in checkpoint.md: PYTHONPATH=$PWD:$PWD/tests python docs_dev/notes/checkpoint_measure.py"""

import torch; torch.set_num_threads(1)
from transformers.utils import logging; logging.set_verbosity_error(); logging.disable_progress_bar()
from checkpoint_models import roundtrip
for name in ("llama", "llama-tied", "gpt2", "user"):
    for path in ("pretrained", "state_dict"):
        if name == "user" and path == "pretrained": continue
        d = [roundtrip(name, path, seed=s) for s in (0, 1, 2)]
        print(f"{name:10s} {path:11s} logits max {max(x['logits'] for x in d):.1e}  after step max {max(x['after_step'] for x in d):.1e}", flush=True)

import abcparam
from abcparam.torch import parametrize, param_groups
from checkpoint_models import build, optimizer, train, MODELS, WIDTH, BASE
d = []
for seed in (0, 1, 2):
    torch._dynamo.reset()
    m, s = build("user", seed=seed); e = train(m, optimizer(m, s), 3, seed=seed)
    m, s = build("user", seed=seed); c = train(torch.compile(m, backend="aot_eager"), optimizer(m, s), 3, seed=seed)
    d.append(max(abs(a - b) for a, b in zip(e, c)))
print("compile aot_eager vs eager, user model, max |loss diff| over 3 steps, seeds 0-2:", ["%.1e" % x for x in d])
for opt in ("adamw", "sgd"):
  for name in ("user", "llama-tied"):
    d = []
    for seed in (0, 1, 2):
        L = {}
        for fold in (None, False):
            torch.manual_seed(seed); model = MODELS[name](WIDTH)
            with torch.device("meta"): base = MODELS[name](BASE)
            spec = parametrize(model, abcparam.rules("mup", optimizer=opt), base=base, seed=seed, fold=fold)
            g = param_groups(model, spec, lr=3e-2 if opt == "sgd" else 1e-2)
            L[fold] = train(model, (torch.optim.SGD if opt == "sgd" else torch.optim.AdamW)(g), 3, seed=seed)
        d.append(max(abs(a - b) for a, b in zip(L[None], L[False])))
    print(f"fold vs multipliers {opt} {name}: max |loss diff| over 3 steps, seeds 0-2:", ["%.1e" % x for x in d])
# plain from_pretrained (no abcparam) of a checkpoint whose multipliers survive: how far off
import tempfile
from transformers import LlamaForCausalLM
from checkpoint_models import batch, logits
for name in ("llama", "llama-tied"):
    d = []
    for seed in (0, 1, 2):
        m, s = build(name, seed=seed)
        train(m, optimizer(m, s), 2, seed=seed)
        with tempfile.TemporaryDirectory() as tmp:
            m.save_pretrained(tmp)
            plain = LlamaForCausalLM.from_pretrained(tmp)
        x, _ = batch(99)
        with torch.no_grad():
            d.append((logits(m, x) - logits(plain, x)).abs().max().item())
    print(f"plain from_pretrained {name}: max |logits diff|, seeds 0-2:", ["%.2f" % v for v in d])
