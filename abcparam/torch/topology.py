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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from ..engine.exponents import CORE_KINDS
from .calling import call_model, tensors
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
    owned = _owned(params, kind_of, include)
    modules = dict(model.named_modules(remove_duplicate=False))
    layer_names = [h for h in owned if _is_layer(modules[h], set(owned), h)]
    raw = [n for h, names in owned.items() if h not in layer_names for n in names]
    calls, outputs = _record_calls(model, modules, layer_names, example_batch)
    ran = [n for n in layer_names if calls[n]["out"]]
    graph = _Graph.below(outputs, [calls[n]["in"] + calls[n]["out"] for n in ran])
    nodes = _Nodes()
    for name in ran:
        nodes.add_layer(name, owned[name], calls[name]["out"])
    for pname in raw:
        nodes.add_raw(pname, params[pname], graph)
    parents = _parents(nodes, graph, [calls[n]["in"] for n in ran])
    return _sorted_topology(nodes, parents, kind_of, include, kinds, modules, calls,
                            unused=tuple(n for n in layer_names if not calls[n]["out"]))  # fmt: skip


def _owned(params: Mapping[str, Any], kind_of: Mapping[str, str], include) -> dict[str, list]:
    """Module name -> its parameters whose kind is in ``include``; none: a clear error."""
    owned: dict[str, list[str]] = {}
    for name in params:
        if kind_of.get(name) in include:
            owned.setdefault(name.rpartition(".")[0], []).append(name)
    if not owned:
        raise ValueError(
            f"no parameter has a kind in {include}: pass the kinds of this model's parameters "
            f"(map_parameters(model, base) or the Spec parametrize returned)"
        )
    return owned


def _record_calls(model: nn.Module, modules: Mapping[str, nn.Module], layer_names, batch):
    """(per layer the tensors it read and wrote, the model's output tensors) from one forward
    pass with gradients on; the pass leaves no trace: buffers (batch-norm statistics) and the
    random state are restored."""
    calls: dict[str, dict[str, list]] = {n: {"in": [], "out": []} for n in layer_names}
    handles = []
    for name in layer_names:
        reads, writes = calls[name]["in"], calls[name]["out"]
        handles.append(
            modules[name].register_forward_pre_hook(
                lambda module, args, kwargs, reads=reads: reads.extend(tensors((args, kwargs))),
                with_kwargs=True,
            )
        )
        handles.append(
            modules[name].register_forward_hook(
                lambda module, args, output, writes=writes: writes.extend(tensors(output))
            )
        )
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    rng = torch.random.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        with torch.enable_grad():
            outputs = list(tensors(call_model(model, batch)))
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        torch.random.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
    return calls, outputs


def _sequence(fn) -> int:
    """The autograd node's creation number: the order in which the forward pass ran its op.

    torch has no public equivalent (``torch.autograd.graph.Node`` exposes the graph's edges, not
    its creation order): a topological order of the graph leaves parallel branches (q, k, v)
    unordered, and forward hooks see modules but not the op that first reads a raw parameter, so
    either would change the node order this private number gives."""
    return fn._sequence_nr()


@dataclass
class _Graph:
    """The autograd graph below a set of tensors: ``fns`` by id, each node's inputs
    (``children``), the nodes reading its output (``consumers``) and the parameters' gradient
    accumulators."""

    fns: dict[int, Any]
    children: dict[int, list]
    consumers: dict[int, list]
    #: a leaf tensor's id -> the id of the node accumulating its gradient
    accumulators: dict[int, int]

    @classmethod
    def below(cls, outputs: list, recorded: list[list]) -> _Graph:
        """The graph below the model's outputs and every tensor a layer read or wrote."""
        roots = [t.grad_fn for t in outputs if t.grad_fn is not None]
        for ts in recorded:
            roots += [t.grad_fn for t in ts if t.grad_fn is not None]
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
        accumulators = {
            id(fn.variable): key
            for key, fn in fns.items()
            if type(fn).__name__ == "AccumulateGrad" and hasattr(fn, "variable")
        }
        return cls(fns, children, consumers, accumulators)

    def accumulator(self, param: torch.Tensor) -> int | None:
        """The id of the node accumulating ``param``'s gradient (None: the pass never read it)."""
        return self.accumulators.get(id(param))


@dataclass
class _Nodes:
    """The topology's nodes in discovery order: layers that ran, then raw parameters the graph
    reaches; ``owner`` maps an autograd node to the topology node whose output it is, ``order``
    the forward position of each node, ``raw`` the (node, accumulator) of each raw parameter."""

    names: list[str] = field(default_factory=list)
    params: list[tuple[str, ...]] = field(default_factory=list)
    owner: dict[int, int] = field(default_factory=dict)
    order: list[float] = field(default_factory=list)
    raw: list[tuple[int, int]] = field(default_factory=list)

    def add_layer(self, name: str, owned: list[str], outputs: list[torch.Tensor]) -> None:
        idx = len(self.names)
        self.names.append(name)
        self.params.append(tuple(owned))
        outs = [t.grad_fn for t in outputs if t.grad_fn is not None]
        for fn in outs:
            self.owner[id(fn)] = idx
        self.order.append(min((_sequence(fn) for fn in outs), default=float("inf")))

    def add_raw(self, name: str, param: torch.Tensor, graph: _Graph) -> None:
        """A raw parameter, placed where the op first reading it ran (left out if none did)."""
        key = graph.accumulator(param)
        if key is None:
            return
        idx = len(self.names)
        self.names.append(name)
        self.params.append((name,))
        self.owner[key] = idx
        readers = graph.consumers.get(key)
        self.order.append(min(_sequence(c) for c in readers) if readers else 0)
        self.raw.append((idx, key))


def _parents(nodes: _Nodes, graph: _Graph, inputs: list[list]) -> list[set[int]]:
    """Per node, the nodes whose outputs reach its input: a layer's recorded inputs; a raw
    parameter's fellow operands in the ops that use it (not through a sum)."""
    reach = _reach(graph.fns, graph.children, nodes.owner)
    parents: list[set[int]] = [set() for _ in nodes.names]
    for idx, read in enumerate(inputs):
        for t in read:
            if t.grad_fn is not None:
                parents[idx] |= reach[id(t.grad_fn)]
    for idx, key in nodes.raw:  # a raw parameter reads the other operands of the op using it
        for op in _first_joins(key, graph.consumers, graph.children):
            if type(op).__name__ in _SUMS:
                continue
            for c in graph.children[id(op)]:
                if not _leads_to(c, key, graph.children):
                    parents[idx] |= reach[id(c)]
    for idx in range(len(parents)):
        parents[idx].discard(idx)
    return parents


def _sorted_topology(nodes, parents, kind_of, include, kinds, modules, calls, unused) -> Topology:
    """The nodes in forward order, each with its kind, parents, module and tied flag."""
    perm = sorted(range(len(nodes.names)), key=lambda i: (nodes.order[i], i))
    where = {old: new for new, old in enumerate(perm)}
    kinds_out = [
        next(kind_of[p] for p in nodes.params[i] if kind_of.get(p) in include) for i in perm
    ]
    module_of = {n: modules[n if n in calls else n.rpartition(".")[0]] for n in nodes.names}
    shared = {
        use.name.rpartition(".")[0]
        for spec in getattr(kinds, "params", ())
        if len(getattr(spec, "uses", ())) > 1
        for use in spec.uses
    }
    return Topology(
        names=tuple(nodes.names[i] for i in perm),
        kinds=tuple(kinds_out),
        parents=tuple(tuple(sorted(where[j] for j in parents[i])) for i in perm),
        params=tuple(nodes.params[i] for i in perm),
        modules=MappingProxyType(module_of),
        unused=unused,
        tied=tuple(nodes.names[i] for i in perm if nodes.names[i] in shared),
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
