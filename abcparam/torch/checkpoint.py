"""Plain checkpoints of a parametrized model: the multipliers the weights cannot absorb.

``parametrize(fold=...)`` moves every layer's multiplier ``n^-a`` into its weights along the
abc-symmetry (TP-V Lemma J.1; Everett et al. 2024 Sec. 2), so the state_dict holds the keys and
tensors the model's own code reads.  Three kinds of multiplier survive, because no single tensor
can carry them: the second use of a tied tensor (the readout reading the embedding table with its
own multiplier), an attention scale the module computes itself, and a residual branch's
``L^-alpha``.  They are ``Spec.surviving``, a small JSON mapping saved twice:

- in the state_dict, as the extra state of a child module ``abcparam`` (a uint8 tensor holding the
  JSON, so safetensors and ``save_pretrained`` keep it): a plain model refuses the key on a strict
  ``load_state_dict``, and :func:`load` re-applies it before loading the tensors;
- in a Hugging Face model's config as ``config.abcparam``, which ``save_pretrained`` writes to
  config.json and :func:`load` re-applies after ``from_pretrained``.

A plain ``from_pretrained`` of such a directory must fail rather than give other outputs: the
model's ``save_pretrained`` also writes config.json's ``transformers_weights`` (the weight file
transformers reads) as a sentence that is no file name, so transformers raises a ValueError
quoting it ("... load it with abcparam.torch.load(path)"); :func:`load` removes it first.
"""

from __future__ import annotations

import json
import math
import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.utils.parametrize as P
from torch import nn

from ..atomic import write_text
from .layers import (
    ResidualBranch,
    ScaledEmbedding,
    ScaledLayerNorm,
    ScaledLinear,
    WeightMultiplier,
)

_SCALED = (ScaledLinear, ScaledEmbedding, ScaledLayerNorm)

#: the child module holding the surviving multipliers, and its state_dict key
CHILD = "abcparam"
KEY = f"{CHILD}._extra_state"
SECTIONS = ("uses", "attention", "branch")
#: the config.json field transformers reads as the weight file's name (the plain-loading guard)
GUARD = "transformers_weights"


class CheckpointState(nn.Module):
    """Carries ``Spec.surviving`` in the state_dict (extra state: JSON bytes as a uint8 tensor)."""

    def __init__(self, surviving: Mapping[str, Any]) -> None:
        super().__init__()
        self.surviving = dict(surviving)

    def get_extra_state(self) -> torch.Tensor:
        return encode(self.surviving)

    def set_extra_state(self, state: Any) -> None:
        self.surviving = decode(state)


def encode(surviving: Mapping[str, Any]) -> torch.Tensor:
    """The surviving multipliers as a uint8 tensor of their JSON (storable by safetensors)."""
    data = json.dumps(dict(surviving), sort_keys=True).encode()
    return torch.tensor(list(data), dtype=torch.uint8)


def decode(state: Any) -> dict[str, Any]:
    """Inverse of :func:`encode` (also accepts the mapping itself)."""
    if isinstance(state, Mapping):
        return dict(state)
    if isinstance(state, torch.Tensor):
        return json.loads(bytes(state.to(torch.uint8).cpu().tolist()).decode())
    raise ValueError(
        f"abcparam checkpoint state must be a uint8 tensor or a mapping; got {state!r}"
    )


# -- the multiplier of a tied tensor's second use, without a parametrization ----------------------


def _scale_output(module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor:
    """``m W x + b`` from ``W x + b``: the output scaled, the bias (added along the last axis by
    Linear and Hugging Face's Conv1D) kept."""
    m: float = module.__dict__["_abcparam_multiplier"]
    bias = getattr(module, "bias", None)
    if bias is None or isinstance(module, nn.Embedding):
        return out * m
    return out * m + bias * (1.0 - m)


def multiplier_of(module: nn.Module) -> float:
    """The forward multiplier a layer applies to its weight: abcparam's ``multiplier`` attribute
    (``Scaled*`` layers) or a tied use's hook (folded models); 1 otherwise."""
    m = getattr(module, "multiplier", None)
    if isinstance(m, (int, float)) and not isinstance(m, bool):
        return float(m)
    return float(module.__dict__.get("_abcparam_multiplier", 1.0))


def _carried(module: nn.Module) -> bool:
    """Layers whose output a hook can turn into that of ``m W`` (weight x input, bias on the last
    axis): Linear, Hugging Face's Conv1D, an Embedding table, a convolution without bias."""
    hf_conv1d = type(module).__name__ == "Conv1D" and hasattr(module, "nf")
    conv = isinstance(module, nn.modules.conv._ConvNd) and module.bias is None
    return isinstance(module, (nn.Linear, nn.Embedding)) or hf_conv1d or conv


def check_use(module: nn.Module, attr: str, m: float) -> None:
    """Raise unless :func:`set_use_multiplier` can carry ``m`` on ``module.<attr>`` (checked while
    planning, before any tensor changes)."""
    if math.isclose(m, 1.0, rel_tol=1e-12) or isinstance(module, _SCALED):
        return
    if attr != "weight" or not _carried(module):
        raise ValueError(
            f"a {type(module).__name__}'s {attr!r} is read with its own multiplier {m:.4g} that "
            f"cannot be folded into the weights; abcparam carries such a multiplier on the weight "
            f"of a Linear, Embedding or bias-free convolution only: pass fold=False (torch "
            f"parametrizations)"
        )


def set_use_multiplier(module: nn.Module, attr: str, m: float) -> None:
    """Read ``module.<attr>`` with the multiplier ``m`` through a forward hook on the output (the
    state_dict keeps its plain key; the bias stays unscaled, as with a weight multiplier); ``m =
    1`` removes it."""
    if attr != "weight" and math.isclose(m, 1.0, rel_tol=1e-12):
        return  # the hook carries the weight's multiplier: a plain bias (BERT's tied) keeps it
    handle = module.__dict__.pop("_abcparam_hook", None)
    if handle is not None:
        handle.remove()
    module.__dict__.pop("_abcparam_multiplier", None)
    if math.isclose(m, 1.0, rel_tol=1e-12):
        return
    check_use(module, attr, m)
    module.__dict__["_abcparam_multiplier"] = float(m)
    module.__dict__["_abcparam_hook"] = module.register_forward_hook(_scale_output)


def remove_multiplier(module: nn.Module, attr: str) -> None:
    """Drop a multiplier parametrization of ``attr`` that abcparam registered (fold=False),
    keeping the raw tensor (the caller re-initialises it)."""
    if P.is_parametrized(module, attr):
        chain = module.get_submodule(f"parametrizations.{attr}")
        assert isinstance(chain, P.ParametrizationList)
        if len(chain) == 1 and isinstance(chain[0], WeightMultiplier):
            P.remove_parametrizations(module, attr, leave_parametrized=False)


# -- what survives, where it is saved, and re-applying it -----------------------------------------


def surviving_of(model: nn.Module, plans, attention, depth) -> dict[str, dict]:
    """The multipliers that stay outside the weights after folding (empty: a plain model)."""
    modules = dict(model.named_modules())
    uses: dict[str, float] = {}
    for plan in plans:
        for module_name, attr, m in plan.targets:
            carried = plan.folded or isinstance(modules[module_name], _SCALED)
            if carried and not math.isclose(m, 1.0, rel_tol=1e-12):
                uses[f"{module_name}.{attr}" if module_name else attr] = float(m)
    scales: dict[str, dict[str, float]] = {}
    for a in attention:
        if a.attr == "q_rows" or a.folded_into:  # MHA's query rows; folded into a tensor
            continue
        own = modules[a.name].__dict__.get("_abcparam_own", {}).get(a.attr, a.value)
        if not math.isclose(float(own), a.value, rel_tol=1e-12):
            scales[a.name] = {a.attr: float(a.value)}
    branch = {
        b: float(depth.branch_multiplier)
        for b in depth.blocks
        if not math.isclose(depth.branch_multiplier, 1.0, rel_tol=1e-12)
    }
    found: dict[str, dict[str, Any]] = {"uses": uses, "attention": scales, "branch": branch}
    return {k: v for k, v in found.items() if v}


#: architectures whose config has fields for the multipliers folding leaves (Granite, IBM 2024:
#: ``attention_multiplier`` is the attention scale, logits are divided by ``logits_scaling``)
CONFIG_FIELDS = ("granite", "granitemoe", "granitemoeshared", "granitemoehybrid")


def into_config(model: nn.Module, surviving: Mapping[str, Any]) -> dict[str, dict]:
    """Move what the architecture's own config can express into it (its code reads the fields,
    so a plain ``from_pretrained`` rebuilds them); the rest is returned to be saved by abcparam."""
    config = _config(model)
    left = {k: dict(v) for k, v in surviving.items()}
    if config is None or getattr(config, "model_type", None) not in CONFIG_FIELDS:
        return left
    own = model.__dict__.setdefault("_abcparam_own_config", {})
    scales = left.get("attention", {})
    values = {v.get("scaling") for v in scales.values()}
    if scales and len(values) == 1 and None not in values:
        config.attention_multiplier = values.pop()  # the modules hold it already
        del left["attention"]
    head = getattr(model, "lm_head", None)
    uses = left.get("uses", {})
    if head is not None and "lm_head.weight" in uses and hasattr(config, "logits_scaling"):
        base = own.setdefault("logits_scaling", float(config.logits_scaling))
        config.logits_scaling = base / uses.pop("lm_head.weight")  # logits / logits_scaling
        set_use_multiplier(head, "weight", 1.0)
        if not uses:
            del left["uses"]
    return left


def _config(model: nn.Module):
    config = getattr(model, "config", None)
    return config if config is not None and hasattr(config, "to_dict") else None


def attach(model: nn.Module, surviving: Mapping[str, Any]) -> None:
    """Store ``surviving`` with the model: its ``abcparam`` child (state_dict) and, for a Hugging
    Face model, ``config.abcparam`` and the guard of its ``save_pretrained``; nothing (and any
    earlier copy removed) when it is empty."""
    config = _config(model)
    model.__dict__.pop("save_pretrained", None)  # an earlier guard
    if surviving:
        model.add_module(CHILD, CheckpointState(surviving))
        if config is not None:
            config.abcparam = json.loads(json.dumps(dict(surviving)))
            if callable(getattr(type(model), "save_pretrained", None)):
                model.__dict__["save_pretrained"] = types.MethodType(save_pretrained, model)
        return
    if isinstance(getattr(model, CHILD, None), CheckpointState):
        delattr(model, CHILD)
    if config is not None and hasattr(config, "abcparam"):
        delattr(config, "abcparam")


def guard_text(surviving: Mapping[str, Any]) -> str:
    """The sentence a plain ``from_pretrained`` shows (as config.json's ``transformers_weights``,
    which transformers quotes when it is no weight file name)."""
    names = {"uses": "tied second use", "attention": "attention scale", "branch": "branch"}
    what = ", ".join(
        f"{len(v)} {names.get(k, k)}{'s' if len(v) > 1 else ''}" for k, v in surviving.items()
    )
    return (
        f"abcparam: this checkpoint keeps multipliers its weights cannot hold ({what}; "
        f"config.json's abcparam section), so a plain from_pretrained would give other outputs; "
        f"load it with abcparam.torch.load(path)"
    )


def save_pretrained(self: nn.Module, save_directory: str | os.PathLike, *args, **kwargs) -> None:
    """``save_pretrained`` of a model whose multipliers survive: the model class's own, then
    config.json's ``transformers_weights`` set to :func:`guard_text` (plain loading raises)."""
    if kwargs.get("push_to_hub"):
        raise ValueError(
            "push_to_hub=True: save this abcparam model locally, then upload the folder "
            "(huggingface_hub.upload_folder), so that the uploaded config.json keeps abcparam's guard"
        )
    own: Any = type(self)  # a transformers PreTrainedModel class
    own.save_pretrained(self, save_directory, *args, **kwargs)
    main = args[0] if args else kwargs.get("is_main_process", True)
    path = Path(save_directory) / "config.json"
    if main and path.is_file():
        config = json.loads(path.read_text())
        config[GUARD] = guard_text(getattr(self, CHILD).surviving)
        write_text(path, json.dumps(config, indent=2, sort_keys=True) + "\n")


def restore(model: nn.Module, surviving: Mapping[str, Any]) -> None:
    """Re-apply saved surviving multipliers to a freshly built model of the same architecture."""
    unknown = set(surviving) - set(SECTIONS)
    if unknown:
        raise ValueError(
            f"abcparam checkpoint state has sections {sorted(unknown)}; accepted: "
            f"{', '.join(SECTIONS)} (saved by a newer abcparam?)"
        )
    modules = dict(model.named_modules())

    def module(name: str) -> nn.Module:
        if name not in modules:
            raise ValueError(
                f"the checkpoint's abcparam state names module {name!r}, which this "
                f"{type(model).__name__} does not have: load it into the architecture it was "
                f"saved from"
            )
        return modules[name]

    for key, m in surviving.get("uses", {}).items():
        name, _, attr = key.rpartition(".")
        target = module(name)
        if isinstance(target, _SCALED):
            setattr(target, "multiplier" if attr == "weight" else "bias_multiplier", float(m))
        else:
            set_use_multiplier(target, attr, float(m))
    for name, values in surviving.get("attention", {}).items():
        target = module(name)
        for attr, value in values.items():
            own = target.__dict__.setdefault("_abcparam_own", {})
            own.setdefault(attr, getattr(target, attr))
            setattr(target, attr, float(value))
    for name, value in surviving.get("branch", {}).items():
        block = module(name)
        if not isinstance(block, ResidualBranch):
            raise ValueError(
                f"the checkpoint's abcparam state gives module {name!r} a branch multiplier, but "
                f"this {type(model).__name__}'s {name!r} has no branch_multiplier: load it into the "
                f"architecture it was saved from"
            )
        block.branch_multiplier = float(value)
    attach(model, surviving)


def load(
    source: nn.Module | str | os.PathLike,
    state_dict: Mapping[str, Any] | str | os.PathLike | None = None,
    *,
    model_class: Any = None,
    strict: bool = True,
    **from_pretrained: Any,
) -> nn.Module:
    """Load a checkpoint of a parametrized model with its surviving multipliers re-applied.

    ``load(model, state_dict)``: a fresh model of the same architecture (built plainly, not
    parametrized) and a state_dict (or the path ``torch.save`` wrote it to).  ``load(path)``: a
    Hugging Face directory written by ``save_pretrained`` (``model_class`` defaults to the
    config's ``architectures[0]``).  Returns the model, outputs equal to the saved one's."""
    if isinstance(source, nn.Module):
        if state_dict is None:
            raise ValueError("load(model, state_dict): give the state_dict (or its file) to load")
        if isinstance(state_dict, Mapping):
            state = dict(state_dict)
        else:
            state = dict(torch.load(state_dict, map_location="cpu", weights_only=True))
        if KEY in state:
            restore(source, decode(state[KEY]))
        elif isinstance(getattr(source, CHILD, None), CheckpointState):
            raise ValueError(
                f"this model carries abcparam multipliers ({KEY}) but the checkpoint has none: "
                f"load into a model built plainly, not parametrized"
            )
        source.load_state_dict(state, strict=strict)
        return source
    if state_dict is not None:
        raise ValueError("load(path): a Hugging Face directory takes no state_dict")
    return _load_pretrained(os.fspath(source), model_class, from_pretrained)


def _load_pretrained(path: str, model_class: Any, kwargs: dict) -> nn.Module:
    import transformers

    config = transformers.AutoConfig.from_pretrained(path)
    if str(getattr(config, GUARD, "") or "").startswith("abcparam:"):
        delattr(config, GUARD)  # the plain-loading guard, not a file name
    if model_class is None:
        names = getattr(config, "architectures", None) or []
        if not names or not hasattr(transformers, names[0]):
            raise ValueError(
                f"{path}: config.json names no transformers architecture ({names!r}); pass "
                f"model_class= (e.g. transformers.LlamaForCausalLM)"
            )
        model_class = getattr(transformers, names[0])
    surviving = getattr(config, "abcparam", None) or {}
    # the abcparam child is built before the weights load, so its key is expected, not stray
    cls = model_class
    if surviving:
        ignore = list(getattr(model_class, "_keys_to_ignore_on_load_unexpected", None) or [])
        keep = {"_keys_to_ignore_on_load_unexpected": ignore + [rf"^{CHILD}\."]}
        cls = type(model_class.__name__, (model_class,), keep)
    model, info = cls.from_pretrained(path, config=config, output_loading_info=True, **kwargs)
    if not surviving and KEY in set(info.get("unexpected_keys", ())):
        raise ValueError(
            f"{path}: the weights carry abcparam multipliers ({KEY}) but config.json has no "
            f"abcparam section to re-apply them; restore the config saved with the model"
        )
    if cls is not model_class:
        model.__class__ = model_class
    restore(model, surviving)
    return model
