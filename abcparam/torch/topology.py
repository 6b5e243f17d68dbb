"""The network's graph, discovered from one forward pass: which layer outputs feed which inputs.

The feature-change recursion (Everett et al. 2024; the engine's ``recursion.r_terms``) needs, per
layer, the layers whose outputs reach its input: a plain chain for an MLP, every earlier residual
branch for a transformer's residual stream (a sum has several parents).  This module finds them on
any ``nn.Module`` with no hand-written graph: forward hooks record each layer's input and output
tensors during one forward pass, and the autograd graph joins them, since an input's ``grad_fn``
history leads back, through activations, norms, attention and sums, to the outputs it was computed
from.  Nodes are the layers holding a matrix parameter (embedding / hidden / readout by default);
everything else is transparent.  A raw ``nn.Parameter`` of a non-layer module (a learned positional
table, an ``x @ W`` weight) is a node of its own, placed where it is first used.

The one :class:`Topology` is what the slope predictor (``predict_slopes(rules, topology.kinds,
parents=topology.parents)``) and the coordinate-check recorder read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from ..engine.exponents import CORE_KINDS
from .layers import ScaledEmbedding, ScaledLinear
from .mapping import named_parameters
from .shapes import is_hf_conv1d

#: module types that are one layer even when they have children (MultiheadAttention's out_proj
#: is a child that its forward never calls)
_LAYERS = (
    nn.Linear,
    nn.Embedding,
    nn.EmbeddingBag,
    nn.MultiheadAttention,
    nn.modules.conv._ConvNd,
    ScaledLinear,
    ScaledEmbedding,
)


@dataclass(frozen=True)
class Topology:
    """Layers in forward order with their kinds and the layers feeding each one.

    ``parents[i]`` holds the indices of the nodes whose outputs reach node i's input (empty for a
    network input such as an embedding); ``params[i]`` the parameter names node i owns;
    ``modules[name]`` the module (for a raw-parameter node, the module holding the parameter)."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    parents: tuple[tuple[int, ...], ...]
    params: tuple[tuple[str, ...], ...]
    modules: Mapping[str, nn.Module] = field(compare=False, repr=False)
    unused: tuple[str, ...] = ()
    #: nodes reading a tensor that another node also reads (tied weights, from the Spec)
    tied: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of the node called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no node {name!r}; nodes: {', '.join(self.names)}") from None

    def chain(self) -> list[tuple[str, str]]:
        """(name, kind) per node in forward order (the form the recorder used to read)."""
        return list(zip(self.names, self.kinds))

    def parent_lists(self) -> list[list[int]]:
        """``parents`` as lists (the form ``predict_slopes(parents=...)`` takes)."""
        return [list(p) for p in self.parents]

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [
                {"name": n, "kind": k, "parents": list(p), "params": list(q)}
                for n, k, p, q in zip(self.names, self.kinds, self.parents, self.params)
            ],
            "unused": list(self.unused),
            "tied": list(self.tied),
        }

    def describe(self) -> str:
        """One line per node: index, name, kind and the names of its parents."""
        return "\n".join(
            f"{i:3d} {n} [{k}] <- {', '.join(self.names[j] for j in p) or 'input'}"
            for i, (n, k, p) in enumerate(zip(self.names, self.kinds, self.parents))
        )


def _tensors(obj: Any) -> Iterable[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, Mapping):
        for item in obj.values():
            yield from _tensors(item)


def _kinds_of(kinds: Any) -> Mapping[str, str]:
    if hasattr(kinds, "kinds") and isinstance(kinds.kinds, Mapping):
        return kinds.kinds
    if isinstance(kinds, Mapping):
        return kinds
    raise TypeError(
        f"kinds must map parameter names to layer kinds (map_parameters(...) or a Spec); got "
        f"{type(kinds).__name__}"
    )


#: ops that add a tensor to others rather than reading them
_SUMS = ("AddBackward0", "AddBackward1", "SubBackward0", "SubBackward1", "CatBackward0")


def _is_layer(module: nn.Module, owners: set[str], name: str) -> bool:
    if isinstance(module, _LAYERS) or is_hf_conv1d(module):
        return True
    prefix = name + "." if name else ""
    return name != "" and not any(o != name and o.startswith(prefix) for o in owners)


def _run(model: nn.Module, batch: Any):
    if isinstance(batch, Mapping):
        return model(**batch)
    if isinstance(batch, tuple):
        return model(*batch)
    return model(batch)


def discover_topology(
    model: nn.Module,
    example_batch: Any,
    kinds: Mapping[str, str] | Any,
    include: Sequence[str] = CORE_KINDS,
) -> Topology:
    """The :class:`Topology` of ``model`` from one forward pass on ``example_batch`` (a tensor, a
    tuple of positional arguments or a dict of keyword arguments).

    ``kinds`` maps parameter names to layer kinds (``map_parameters(...)`` or a ``Spec``); nodes
    are the layers owning a parameter whose kind is in ``include``.  The pass changes nothing:
    buffers and the random state are restored afterwards."""
    kind_of = _kinds_of(kinds)
    include = tuple(include)
    params = {n: p for n, p in named_parameters(model) if p.requires_grad}
    if not params:
        raise ValueError("the model has no trainable parameters: nothing to discover")
    owned: dict[str, list[str]] = {}
    for name in params:
        if kind_of.get(name) in include:
            owned.setdefault(name.rpartition(".")[0], []).append(name)
    if not owned:
        raise ValueError(
            f"no parameter has a kind in {include}: pass the kinds of this model's parameters "
            f"(map_parameters(model, base) or the Spec parametrize returned)"
        )
    modules = dict(model.named_modules(remove_duplicate=False))
    layer_names, raw = [], []
    for holder, names in owned.items():
        if _is_layer(modules[holder], set(owned), holder):
            layer_names.append(holder)
        else:
            raw.extend(names)
    calls: dict[str, dict[str, list]] = {n: {"in": [], "out": []} for n in layer_names}
    handles = []

    def pre(name):
        def hook(module, args, kwargs):
            calls[name]["in"].extend(_tensors((args, kwargs)))

        return hook

    def post(name):
        def hook(module, args, output):
            calls[name]["out"].extend(_tensors(output))

        return hook

    for name in layer_names:
        handles.append(modules[name].register_forward_pre_hook(pre(name), with_kwargs=True))
        handles.append(modules[name].register_forward_hook(post(name)))
    # the pass leaves no trace: buffers (batch-norm statistics) and the random state are restored
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    rng = torch.random.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        with torch.enable_grad():
            outputs = list(_tensors(_run(model, example_batch)))
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        torch.random.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
    ran = [n for n in layer_names if calls[n]["out"]]
    unused = tuple(n for n in layer_names if not calls[n]["out"])
    # the autograd graph below every recorded tensor
    roots = [t.grad_fn for t in outputs if t.grad_fn is not None]
    for n in ran:
        roots += [t.grad_fn for t in calls[n]["in"] + calls[n]["out"] if t.grad_fn is not None]
    children: dict[int, list] = {}
    fns: dict[int, Any] = {}
    stack = list(roots)
    while stack:
        fn = stack.pop()
        if id(fn) in fns:
            continue
        fns[id(fn)] = fn
        kids = [c for c, _ in fn.next_functions if c is not None]
        children[id(fn)] = kids
        stack.extend(kids)
    consumers: dict[int, list] = {}
    for key, kids in children.items():
        for c in kids:
            consumers.setdefault(id(c), []).append(fns[key])
    # nodes: layers that ran, and raw parameters reached by the graph
    node_names: list[str] = []
    node_params: list[tuple[str, ...]] = []
    owner: dict[int, int] = {}
    order: list[float] = []
    for name in ran:
        idx = len(node_names)
        node_names.append(name)
        node_params.append(tuple(owned[name]))
        outs = [t.grad_fn for t in calls[name]["out"] if t.grad_fn is not None]
        for fn in outs:
            owner[id(fn)] = idx
        order.append(min((fn._sequence_nr() for fn in outs), default=float("inf")))
    accum = {
        id(fn.variable): key
        for key, fn in fns.items()
        if type(fn).__name__ == "AccumulateGrad" and hasattr(fn, "variable")
    }
    raw_nodes = []
    for pname in raw:
        found = accum.get(id(params[pname]))
        if found is None:
            continue
        key = found
        idx = len(node_names)
        node_names.append(pname)
        node_params.append((pname,))
        owner[key] = idx
        first = min(c._sequence_nr() for c in consumers.get(key, [])) if key in consumers else 0
        order.append(first)
        raw_nodes.append((idx, key))
    reach = _reach(fns, children, owner)
    parents: list[set[int]] = [set() for _ in node_names]
    for idx, name in enumerate(ran):
        for t in calls[name]["in"]:
            if t.grad_fn is not None:
                parents[idx] |= reach[id(t.grad_fn)]
    for idx, key in raw_nodes:  # a raw parameter reads the other operands of the op using it
        for op in _first_joins(key, consumers, children):
            if type(op).__name__ in _SUMS:
                continue
            for c in children[id(op)]:
                if not _leads_to(c, key, children):
                    parents[idx] |= reach[id(c)]
    for idx in range(len(parents)):
        parents[idx].discard(idx)
    perm = sorted(range(len(node_names)), key=lambda i: (order[i], i))
    where = {old: new for new, old in enumerate(perm)}
    kinds_out = []
    for i in perm:
        kinds_out.append(next(kind_of[p] for p in node_params[i] if kind_of.get(p) in include))
    module_of = {n: modules[n if n in calls else n.rpartition(".")[0]] for n in node_names}
    shared = {
        use.name.rpartition(".")[0]
        for spec in getattr(kinds, "params", ())
        if len(getattr(spec, "uses", ())) > 1
        for use in spec.uses
    }
    return Topology(
        names=tuple(node_names[i] for i in perm),
        kinds=tuple(kinds_out),
        parents=tuple(tuple(sorted(where[j] for j in parents[i])) for i in perm),
        params=tuple(node_params[i] for i in perm),
        modules=MappingProxyType(module_of),
        unused=unused,
        tied=tuple(node_names[i] for i in perm if node_names[i] in shared),
    )


def _reach(fns: dict[int, Any], children: dict[int, list], owner: dict[int, int]):
    """Per autograd node: the topology nodes whose outputs it was computed from (stopping at the
    first owned node on every path), by an iterative post-order walk."""
    reach: dict[int, frozenset[int]] = {}
    for start in fns:
        if start in reach:
            continue
        stack = [(start, False)]
        while stack:
            key, done = stack.pop()
            if key in reach:
                continue
            if key in owner:
                reach[key] = frozenset((owner[key],))
                continue
            kids = [id(c) for c in children[key]]
            if not done:
                stack.append((key, True))
                stack.extend((k, False) for k in kids if k not in reach)
                continue
            acc: set[int] = set()
            for k in kids:
                acc |= reach[k]
            reach[key] = frozenset(acc)
    return reach


def _first_joins(key: int, consumers: dict[int, list], children: dict[int, list]) -> list:
    """The first ops above a parameter's accumulator that combine it with something else
    (climbing through views and other one-input ops)."""
    out, stack, seen = [], list(consumers.get(key, [])), set()
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        if len(children[id(op)]) > 1:
            out.append(op)
        else:
            stack.extend(consumers.get(id(op), []))
    return out


def _leads_to(fn, key: int, children: dict[int, list]) -> bool:
    """Whether ``fn`` is the accumulator ``key`` or a chain of one-input ops above it."""
    while True:
        if id(fn) == key:
            return True
        kids = children.get(id(fn), [])
        if len(kids) != 1:
            return False
        fn = kids[0]
