"""Every decoder and encoder family Hugging Face ``transformers`` builds from a small config, tried
as a user would: ``parametrize`` plus a one-step coordinate check (muP + Adam on CPython pydoc
text), or the one-line error that names what is unsupported and why.

Run: ``python experiments/families.py [--widths 64,128,256 --seeds 4]``; writes
``experiments/results/families/families.json`` (one row per family: handled or refused, why, the
check's verdict and counts), which the book's "Model families" page renders.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

#: heads of every family's tiny config (the head size grows with width, as muP's case needs)
HEADS = 4


def _config(family: str, width: int) -> tuple[Any, Any]:
    """(config, model class) of ``family`` at ``width``: one layer, vocabulary 128, 4 heads."""
    import transformers as T

    from abcparam.torch.zoo import decoder_config, gpt2_config

    w, h, v = width, HEADS, 128
    gpt2 = gpt2_config(w, 1, h, v, context=64)
    decoder = {**decoder_config(w, 1, h, v), "pad_token_id": 0}
    table: dict[str, Callable[[], tuple[Any, Any]]] = {
        "gpt2": lambda: (T.GPT2Config(**gpt2), T.GPT2LMHeadModel),
        "gptj": lambda: (T.GPTJConfig(**gpt2, rotary_dim=w // h // 2), T.GPTJForCausalLM),
        "gpt-neox": lambda: (
            T.GPTNeoXConfig(hidden_size=w, intermediate_size=4 * w, num_hidden_layers=1,
                            num_attention_heads=h, vocab_size=v, max_position_embeddings=64,
                            bos_token_id=0, eos_token_id=0),
            T.GPTNeoXForCausalLM,
        ),
        "llama": lambda: (T.LlamaConfig(**decoder), T.LlamaForCausalLM),
        "mistral": lambda: (T.MistralConfig(**decoder), T.MistralForCausalLM),
        "qwen2": lambda: (T.Qwen2Config(**decoder), T.Qwen2ForCausalLM),
        "qwen2-moe": lambda: (
            T.Qwen2MoeConfig(**decoder, moe_intermediate_size=2 * w,
                             shared_expert_intermediate_size=2 * w, num_experts=4,
                             num_experts_per_tok=2),
            T.Qwen2MoeForCausalLM,
        ),
        "mixtral": lambda: (
            T.MixtralConfig(**{**decoder, "intermediate_size": 2 * w}, num_local_experts=4,
                            num_experts_per_tok=2),
            T.MixtralForCausalLM,
        ),
        "phi": lambda: (
            T.PhiConfig(**decoder_config(w, 1, h, v)),
            T.PhiForCausalLM,
        ),
        "phi3": lambda: (T.Phi3Config(**decoder), T.Phi3ForCausalLM),
        "gemma": lambda: (T.GemmaConfig(**decoder, head_dim=w // h), T.GemmaForCausalLM),
        "opt": lambda: (
            T.OPTConfig(hidden_size=w, ffn_dim=4 * w, word_embed_proj_dim=w, num_hidden_layers=1,
                        num_attention_heads=h, vocab_size=v, max_position_embeddings=64,
                        pad_token_id=0, bos_token_id=0, eos_token_id=0),
            T.OPTForCausalLM,
        ),
        "falcon": lambda: (
            T.FalconConfig(hidden_size=w, num_hidden_layers=1, num_attention_heads=h,
                           vocab_size=v, bos_token_id=0, eos_token_id=0),
            T.FalconForCausalLM,
        ),
        "bloom": lambda: (
            T.BloomConfig(hidden_size=w, n_layer=1, n_head=h, vocab_size=v, bos_token_id=0,
                          eos_token_id=0, pad_token_id=0),
            T.BloomForCausalLM,
        ),
        "bert": lambda: (
            T.BertConfig(hidden_size=w, intermediate_size=4 * w, num_hidden_layers=1,
                         num_attention_heads=h, vocab_size=v, max_position_embeddings=64,
                         pad_token_id=0),
            T.BertForMaskedLM,
        ),
    }  # fmt: skip
    if family not in table:
        raise ValueError(f"unknown family {family!r}; accepted: {', '.join(FAMILIES)}")
    return table[family]()


#: the families tried, decoders then the encoder
FAMILIES = (
    "gpt2",
    "gptj",
    "gpt-neox",
    "llama",
    "mistral",
    "qwen2",
    "qwen2-moe",
    "mixtral",
    "phi",
    "phi3",
    "gemma",
    "opt",
    "falcon",
    "bloom",
    "bert",
)


def build(family: str, width: int, device: str = "cpu"):
    """The ``family`` model at ``width`` (``device="meta"``: shapes only), built from config."""
    from transformers.utils import logging

    from abcparam.torch.zoo import from_config

    config, cls = _config(family, width)
    logging.set_verbosity_error()  # tiny configs trip token-id warnings that mean nothing here
    return from_config(cls, config, device)


def factory(family: str) -> Callable[[int], Any]:
    """width -> model, the form ``abcparam.coordcheck.check`` takes."""
    return lambda width: build(family, width)


def try_family(
    family: str,
    widths: Sequence[int] = (32, 64),
    steps: int = 1,
    seeds: int = 1,
    scheme: str = "mup",
    optimizer: str = "adam",
) -> dict:
    """One family's row: handled (the check ran: verdict, counts, unrecorded layers) or refused
    (the error's first line); any other exception propagates (a bug, not a refusal)."""
    import abcparam
    from abcparam.coordcheck.batches import tokens
    from abcparam.coordcheck.check import check
    from abcparam.torch.mapping import UnmappedParameterError
    from abcparam.torch.shapes import UnsupportedLayerError
    from abcparam.torch.tied import TiedWeightsError

    rules = abcparam.rules(scheme, optimizer=optimizer)
    started = time.time()
    row: dict[str, Any] = {"family": family, "scheme": scheme, "optimizer": optimizer}
    try:
        result = check(
            factory(family), rules, tokens, widths=widths, steps=steps, seeds=seeds,
            progress=False, name=family,
        )  # fmt: skip
    except (UnmappedParameterError, UnsupportedLayerError, TiedWeightsError) as err:
        row.update(status="refused", why=str(err).splitlines()[0], verdict=None)
    else:
        s = result.summary()
        missed = sorted({f.layer for f in result.judged if not f.passed})
        row.update(
            status="handled",
            why=_handled_why(result),
            verdict=s["verdict"],
            fits=s["fits"],
            passed=s["passed"],
            unrecorded=[u["name"] for u in result.unrecorded if u.get("ran", True)],
            raw_recorded=[r["name"] for r in result.config.get("raw_recorded", [])],
            missed=missed,
        )
    row["seconds"] = round(time.time() - started, 2)
    return row


def _handled_why(result) -> str:
    """What the check measured, in one line."""
    layers = len({f.layer for f in result.fits})
    skipped = [u for u in result.unrecorded if u.get("ran", True)]
    text = f"{layers} layers measured"
    raw = result.config.get("raw_recorded", [])
    if raw:
        forms = {"linear": "raw matrix", "bank": "expert bank"}
        parts = ", ".join(sorted({f"{forms.get(r['form'], r['form'])} ({r['kind']})" for r in raw}))
        text += f", {len(raw)} of them raw-parameter modules: {parts}"
    if skipped:
        kinds = ", ".join(sorted({u["kind"] for u in skipped}))
        text += f"; {len(skipped)} not recordable ({kinds}: raw parameters)"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Every family's row, saved as families.json with its configuration and provenance."""
    from abcparam.records import save_json
    from abcparam.validate import widths as parse_widths
    from experiments.lab import reproducible
    from experiments.lab.paths import results_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="64,128,256")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--out", default=None, help="folder (default results/families)")
    args = parser.parse_args(argv)
    reproducible()
    started = time.time()
    widths = parse_widths(args.widths)
    rows = []
    for family in args.families.split(","):
        rows.append(try_family(family, widths, args.steps, args.seeds))
        r = rows[-1]
        print(f"{family}: {r['status']}, {r['verdict']}: {r['why']}", flush=True)
    out = results_dir("families") if args.out is None else args.out
    path = save_json(
        f"{out}/families.json",
        {
            "config": {
                "widths": list(widths),
                "steps": args.steps,
                "seeds": args.seeds,
                "scheme": "mup",
                "optimizer": "adam",
                "data": "CPython pydoc text, 4 windows of 32 characters",
                "heads": HEADS,
                "layers": 1,
            },
            "rows": rows,
        },
        command=" ".join(
            ["python experiments/families.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        started=started,
    )
    print(f"wrote {path}")
    return 0
