"""Record what a coordinate check measures while a model trains (Everett et al. 2024, Sec. 3).

Per recorded layer and step: the RMS of the layer's output (and, at init, of its input), of its
change since init, and of the effective weight change ``W_t - W_0`` (``W = multiplier * w``, the
multiplier read from the layer or from a torch parametrization); and, on a few fixed probe rows
of the same forward's inputs, the three terms of the change ``dz = dW x0 + W0 dx + dW dx`` with
their alignment ratios ``rms(A v) / (rms(A) rms(v))`` (Everett et al.'s alpha, omega, u: they
grow as ``fan_in^x``, x = 1 aligned, 1/2 independent) and the cosines between them.

Speed: the hooks only keep references to the forward's tensors (and an aligned layer's probe rows
of its input); aligned layers of one shape are measured together, their alignment terms by batched
products over (layer, probe row, feature) (:class:`_Group`), so that a measurement costs a few
operations per shape rather than tens per layer; weight changes and the alignment terms are
measured on a sketch, ``SKETCH`` evenly spaced output features of each layer and
``ALIGN_ROWS`` probe rows of the forward's own inputs (small products whose cost does not grow
with the output width); every statistic stays a tensor on the model's device and one ``tolist``
per step reads them all.  Recorded modules: ``nn.Linear`` (abcparam's ``ScaledLinear`` included),
``nn.Embedding``, ``nn.Conv1d/2d/3d`` and Hugging Face's ``Conv1D`` (weight stored (in, out)); and,
given the layouts the forward showed, modules of raw parameters (a MoE router, expert banks:
:mod:`abcparam.coordcheck.raw`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..torch.calling import call_model  # noqa: F401 -- re-exported: check, run import it here
from ..torch.checkpoint import multiplier_of
from ..torch.fold import view_of
from ..torch.shapes import Layout
from .raw import RawUse, expert_outputs, raw_use
from .schema import Record

if TYPE_CHECKING:
    from .stream import WholeTensors

#: probe rows (token positions, or images for a convolution) used for the alignment terms
ALIGN_ROWS = 32
#: output features (a fixed, evenly spaced subset) on which weight changes and alignment terms
#: are measured: a sketch that keeps their cost independent of width
SKETCH = 128
#: the pairs of change terms whose cosine is recorded
PAIRS = (("alpha", "omega"), ("alpha", "u"), ("omega", "u"))
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def rms(t: torch.Tensor) -> float:
    return (torch.linalg.vector_norm(t.detach()) / math.sqrt(max(t.numel(), 1))).item()


def probe_rows(n: int, rows: int = ALIGN_ROWS, sequence: bool = False) -> torch.Tensor:
    """Indices of ``min(rows, n)`` probe rows out of ``n`` flattened rows.

    Without a sequence axis: evenly spaced rows.  With one (rows = sequences x positions), an
    evenly spaced stride can alias with the sequence length (a stride of 8 over 32 positions
    probes positions 0, 8, 16, 24 only), and positions are not alike: under causal attention
    the first position's value is read by every query, so its rows dominate the gradient and
    its change is more aligned with it than the batch's (the built-in GPT's first value
    projection measured alpha 1.00 on those rows, 0.85 on all of them).  So the stride is the
    smallest one at least ``n // rows`` that is coprime with ``n``, taken modulo ``n``: distinct
    rows that meet every position of the sequence equally often."""
    take = min(rows, n)
    step = max(n // max(rows, 1), 1)
    if not sequence:
        return torch.arange(0, step * take, step)
    while math.gcd(step, n) != 1:
        step += 1
    return (torch.arange(take) * step) % n


def _is_hf_conv1d(module: nn.Module) -> bool:
    """Hugging Face's GPT-2 ``Conv1D``: a linear layer whose weight is stored (in, out)."""
    return hasattr(module, "nf") and any(c.__name__ == "Conv1D" for c in type(module).__mro__)


def recordable(
    module: nn.Module, name: str = "", layouts: Mapping[str, Layout] | None = None
) -> bool:
    """Can the recorder measure this module?  A module of raw parameters only with the layouts
    the forward showed (``abcparam.torch.usage.raw_layouts``; ``name``: the module's name)."""
    return (
        isinstance(module, (nn.Linear, nn.Embedding, nn.MultiheadAttention) + _CONV)
        or _is_hf_conv1d(module)
        or raw_use(module, name, layouts) is not None
    )


def weight_of(module: nn.Module) -> torch.Tensor:
    """The layer's matrix: ``weight``, or an ``nn.MultiheadAttention``'s packed q/k/v projection
    (its output projection's hooks never run: the attention calls the functional form)."""
    w: torch.Tensor | None
    if isinstance(module, nn.MultiheadAttention):
        w = module.in_proj_weight if module.in_proj_weight is not None else module.q_proj_weight
    else:
        w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"{type(module).__name__} has no weight matrix to record")
    return w


def _effective_bias(module: nn.Module) -> torch.Tensor | None:
    """The bias the forward adds (times abcparam's ``bias_multiplier``), or None."""
    b = getattr(module, "bias", None)
    if b is None:
        return None
    gw, gx = view_of(module)  # a factor folded in from elsewhere (abcparam.torch.fold)
    m = getattr(module, "bias_multiplier", 1.0) * gw * gx
    return b.detach() * m if m != 1.0 else b.detach()


def _feature_axis(module: nn.Module) -> int:
    """The weight axis that indexes output features (dimension 1 for (in, out)-stored weights
    and for an embedding's (vocabulary, width) table)."""
    return 1 if _is_hf_conv1d(module) or isinstance(module, nn.Embedding) else 0


def _out_features(module: nn.Module) -> int:
    return weight_of(module).shape[_feature_axis(module)]


def fan_in(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, _CONV):
        return module.weight[0].numel()  # in channels / groups x kernel area
    if _is_hf_conv1d(module):
        return weight_of(module).shape[0]  # stored (in, out)
    if isinstance(module, nn.MultiheadAttention):
        return module.embed_dim
    return 1  # an embedding's fan-in is one row lookup


def _apply(module: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The layer's matrix product alone (no bias): ``x @ w.T``, ``x @ w`` or a convolution."""
    if isinstance(module, _CONV):
        return module._conv_forward(x, w, None)
    if _is_hf_conv1d(module):
        return x @ w
    return F.linear(x, w)


@dataclass(frozen=True)
class _Start:
    """A layer at init (Recorder.start): its sketched weight and its output."""

    w0: torch.Tensor
    z0: torch.Tensor


@dataclass(frozen=True)
class _AlignStart:
    """An aligned layer's references at init for the three terms of its change."""

    x0: torch.Tensor  # the probe rows of the input at init
    x0m: torch.Tensor  # m * x0 and m * W0: the multiplier folded in once
    w0m: torch.Tensor
    x0_rms: float
    w0_rms: float
    z0_rows: torch.Tensor  # the output's sketched features on the probe rows
    b0: torch.Tensor | None  # the sketched bias (None: no bias)


@dataclass
class _Layer:
    name: str
    kind: str
    module: nn.Module
    aligned: bool
    fan_in: int
    m: float = 1.0  # abcparam's multiplier (constant while training): W = m * weight
    stride: int = 1  # every stride-th output feature is in the sketch
    axis: int = 0  # the weight's output-feature axis
    raw: RawUse | None = None  # a module of raw parameters (router, expert banks)
    started: _Start | None = None
    align_started: _AlignStart | None = None

    def start(self) -> _Start:
        """The layer at init; the recorder measures changes only after :meth:`Recorder.start`."""
        if self.started is None:
            raise RuntimeError(f"layer {self.name!r}: call Recorder.start() before measure()")
        return self.started

    def align_start(self) -> _AlignStart:
        """The aligned layer's references at init (set by :meth:`Recorder.start`)."""
        if self.align_started is None:
            raise RuntimeError(f"layer {self.name!r}: no alignment references (start() first)")
        return self.align_started

    def matrix(self) -> torch.Tensor:
        """The weight as stored (a raw module's matrix, or its banks' sketched entries)."""
        return self.raw.weight(self.module) if self.raw is not None else weight_of(self.module)

    def apply(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The layer's matrix product alone (no bias)."""
        return self.raw.apply(x, w) if self.raw is not None else _apply(self.module, x, w)

    def bias(self) -> torch.Tensor | None:
        return None if self.raw is not None else _effective_bias(self.module)

    def weight(self, w: torch.Tensor) -> torch.Tensor:
        """The sketched rows (or columns) of a weight-shaped tensor."""
        return w[:: self.stride] if self.axis == 0 else w[:, :: self.stride]

    def features(self, z: torch.Tensor, conv: bool) -> torch.Tensor:
        """The sketched features of an output (channels of a convolution's)."""
        return z[:, :: self.stride] if conv else z[..., :: self.stride]

    def batched(self) -> bool:
        """An aligned layer whose product is ``x @ W^T`` (every aligned one but a convolution):
        its alignment terms are computed with the others of its shape (:class:`_Group`)."""
        return self.aligned and not isinstance(self.module, _CONV)

    def sketch(self) -> torch.Tensor:
        """The current sketched weight as (features, fan-in), whichever axis stores features."""
        w = self.weight(self.matrix().detach())
        return w if self.axis == 0 else w.T

    def stored(self, w: torch.Tensor) -> torch.Tensor:
        """A (features, fan-in) sketch back in the weight's stored orientation (a view)."""
        return w if self.axis == 0 else w.T


@dataclass(frozen=True)
class _Group:
    """Aligned layers of one shape whose product is ``x @ W^T`` (linear layers, Hugging Face's
    Conv1D, raw linear matrices): their alignment terms are computed together, by batched products
    over (layer, probe row, sketched feature), in a few operations for all of them instead of a
    few tens per layer.  Stacked references at init; each layer's are views of them."""

    at: tuple[int, ...]  # the layers' positions in Recorder.layers
    x0: torch.Tensor  # (G, R, K): the probe rows of the inputs at init
    x0m: torch.Tensor  # m * x0 and m * W0 (G, F, K): the multipliers folded in once
    w0: torch.Tensor  # (G, F, K): the sketched weights at init, features first
    w0m: torch.Tensor
    z0_rows: torch.Tensor  # (G, R, F): the outputs' sketched features on the probe rows
    b0: torch.Tensor | None  # (G, F): the sketched biases (zero for a layer without); None: none


class Recorder:
    """Forward hooks on the recorded layers: inside :meth:`capture` they keep each layer's input
    rows and output; :meth:`start` (init) and :meth:`measure` turn them into :class:`Record` s.

    ``layers``: (module name, kind) in forward order; ``layouts``: the raw parameters' layouts
    the forward showed (``abcparam.torch.usage.raw_layouts``), which make modules of raw
    parameters recordable.  Outside a capture the hooks do nothing, so the training steps in
    between pay nothing.  ``exact``: measure through it instead (whole tensors in float64, the
    depth check's probes and residual stream: stream.py); ``layers`` is then not used."""

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[tuple[str, str]],
        alignment: bool = True,
        align_rows: int = ALIGN_ROWS,
        width: int = 0,
        seed: int = 0,
        layouts: Mapping[str, Layout] | None = None,
        exact: WholeTensors | None = None,
    ) -> None:
        modules = dict(model.named_modules())
        self.model, self.alignment, self.active = model, alignment, False
        self.align_rows, self.width, self.seed = align_rows, width, seed
        self.layers: list[_Layer] = []
        self._out: dict[str, torch.Tensor] = {}
        self._in: dict[str, torch.Tensor] = {}
        self._routes: dict[str, list] = {}  # an expert bank's routing at init, held
        self._rerun = False
        self._handles = []
        self._row_index: dict[tuple, torch.Tensor] = {}  # (rows, sequence, device) -> indices
        self._groups: list[_Group] = []  # set by start(): the batched aligned layers
        self.exact = exact
        if exact is not None:  # the hook point of the whole-tensor measurements
            exact.recorder, layers = self, ()
        for name, kind in layers:
            if name not in modules:
                raise ValueError(f"no module named {name!r} in the model")
            module = modules[name]
            raw = raw_use(module, name, layouts)
            if raw is None and not recordable(module):
                raise TypeError(
                    f"module {name!r} is a {type(module).__name__}; the coordinate check records "
                    f"nn.Linear, nn.Embedding, nn.Conv1d/2d/3d, nn.MultiheadAttention and "
                    f"Hugging Face Conv1D layers, and (given layouts=) raw-parameter modules "
                    f"used as F.linear / x @ W or expert banks"
                )
            aligned = (
                alignment
                and kind != "embedding"
                and not isinstance(module, (nn.Embedding, nn.MultiheadAttention))
                and (raw is None or raw.form == "linear")  # a bank's experts change with routing
            )
            if raw is not None:
                layer = _Layer(
                    name,
                    kind,
                    module,
                    aligned,
                    raw.in_size,
                    stride=max(raw.out_size // SKETCH, 1) if raw.form == "linear" else 1,
                    axis=raw.out_dim if raw.form == "linear" else 0,
                    raw=raw,
                )
            else:
                layer = _Layer(
                    name,
                    kind,
                    module,
                    aligned,
                    fan_in(module),
                    stride=max(_out_features(module) // SKETCH, 1),
                    axis=_feature_axis(module),
                )
            self.layers.append(layer)
            conv = isinstance(module, _CONV)
            if raw is not None:
                hook = module.register_forward_hook(
                    self._raw_hook(name, aligned, raw), with_kwargs=True
                )
            else:
                hook = module.register_forward_hook(self._hook(name, aligned, conv))
            self._handles.append(hook)

    def remove(self) -> None:
        """Detach the hooks from the model."""
        for handle in self._handles:
            handle.remove()
        if self.exact is not None:
            self.exact.remove()

    def _rows(self, x: torch.Tensor, conv: bool, sequence: bool = False) -> torch.Tensor:
        """Fixed probe rows: the first images of a convolution's batch, else rows of the
        flattened input picked by :func:`probe_rows` (every position of a sequence equally;
        ``sequence``: the rows are tokens even when flattened already, as a router's are)."""
        if conv:
            return x[: self.align_rows]
        flat = x.reshape(-1, x.shape[-1])
        key = (flat.shape[0], sequence or x.dim() >= 3, flat.device)
        index = self._row_index.get(key)
        if index is None:  # made once per shape: every captured forward asks again
            index = probe_rows(key[0], self.align_rows, key[1]).to(key[2])
            self._row_index[key] = index
        return flat.index_select(0, index)  # a plain gather, faster than flat[index]

    def _raw_hook(self, name: str, aligned: bool, raw: RawUse):
        """The capture hook of a raw-parameter module: its output and input picked by size."""

        def capture(module, args, kwargs, output):
            if not self.active or self._rerun:
                return
            out = raw.output(output)
            x = raw.input(args, kwargs)
            if raw.form == "bank" and out is not None and x is not None:
                self._rerun = True  # the module runs again inside its own hook
                try:
                    out, self._routes[name] = expert_outputs(
                        module, raw, args, kwargs, self._routes.get(name)
                    )
                finally:
                    self._rerun = False
            if out is None or x is None:
                raise RuntimeError(
                    f"the recorder could not find {name!r}'s output (last dimension "
                    f"{raw.out_size}) or input (last dimension {raw.in_size}) among its tensors"
                )
            out = out.detach()
            self._out[name] = out if out.dtype == torch.float32 else out.float()
            if aligned:
                self._in[name] = self._rows(x.detach(), False, True).float()
            elif name not in self._in:
                self._in[name] = x.detach()

        return torch.compiler.disable(capture)

    def _hook(self, name: str, aligned: bool, conv: bool):
        def capture(module, inputs, output):
            if self.active:
                if isinstance(output, tuple):  # nn.MultiheadAttention: (output, weights)
                    output = output[0]
                output = output.detach()
                # statistics in float32 (a bfloat16 difference of two outputs loses the change)
                output = output if output.dtype == torch.float32 else output.float()
                # the layer in the rules' coordinates when a factor was folded into it
                gw, gx = view_of(module)
                self._out[name] = output * (gw * gx) if gw * gx != 1.0 else output
                if aligned:
                    rows = self._rows(inputs[0].detach(), conv).float()
                    self._in[name] = rows * gx if gx != 1.0 else rows
                elif name not in self._in and inputs and torch.is_tensor(inputs[0]):
                    x = inputs[0].detach()
                    self._in[name] = x * gx if gx != 1.0 and x.is_floating_point() else x

        # under torch.compile the hook runs eagerly (a graph break), so that it sees the tensors
        return torch.compiler.disable(capture)

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """Capture the layers during a forward pass the caller runs anyway (a training step on the
        probe batch), so that :meth:`start` / :meth:`measure` need no forward of their own."""
        self.active, self._out, self._in = True, {}, {}
        try:
            yield
        finally:
            self.active = False

    def _check_captured(self) -> None:
        """Every recorded layer's hook ran: torch.compile reuses a graph traced before the hooks
        were attached (it does not guard on module hooks), and the recorder would see nothing."""
        missing = [layer.name for layer in self.layers if layer.name not in self._out]
        if missing:
            raise RuntimeError(
                f"the recorder's forward hooks did not run for {len(missing)} layer(s) "
                f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): under "
                f"torch.compile attach the Recorder before the first compiled call (or call "
                f"torch._dynamo.reset() first), or record the eager model"
            )

    @torch.no_grad()
    def _probe(self, batch) -> None:
        with self.capture():
            call_model(self.model, batch)

    @torch.no_grad()
    def start(self, batch=None) -> list[Record]:
        """Measure at init (step 0) and keep the reference weights, outputs and input rows: runs
        the probe ``batch``, or uses what the last :meth:`capture` saw."""
        if batch is not None:
            self._probe(batch)
        if self.exact is not None:
            return self.exact.start()
        self._check_captured()
        for layer in self.layers:
            layer.m = multiplier_of(layer.module) * view_of(layer.module)[0]
        self._groups = self._group_starts()
        grouped = {i for group in self._groups for i in group.at}
        for i, layer in enumerate(self.layers):
            if i not in grouped:
                w0 = layer.weight(layer.matrix().detach()).clone()
                layer.started = _Start(w0, self._out[layer.name])
        singles = [i for i, layer in enumerate(self.layers) if layer.aligned and i not in grouped]
        refs = {i: self._single_start(self.layers[i]) for i in singles}
        outputs = [self._out[layer.name].float() for layer in self.layers]
        inputs = [self._in.get(layer.name) for layer in self.layers]
        floating = [x.float() for x in inputs if x is not None and x.is_floating_point()]
        # every norm read in one copy: outputs, inputs, then (|x0|, |m W0|) of each aligned layer
        norms = [torch.stack(torch._foreach_norm(outputs + floating))]
        norms += [torch.stack([x0, w0m]) for _, x0, w0m in refs.values()]
        norms += [torch.stack([_norms(g.x0), _norms(g.w0m)], 1) for g in self._groups]
        values = torch.cat([v.reshape(-1).float() for v in norms]).tolist()
        pairs = iter(values[len(outputs) + len(floating) :: 2])
        scales = iter(values[len(outputs) + len(floating) + 1 :: 2])
        for i in singles + [i for g in self._groups for i in g.at]:
            layer = self.layers[i]
            x0_rms = next(pairs) / math.sqrt(max(self._in[layer.name].numel(), 1))
            w0_rms = next(scales) / math.sqrt(max(layer.start().w0.numel(), 1))
            self._set_references(i, x0_rms, w0_rms, refs.get(i))
        in_norms = iter(values[len(outputs) :])
        records = []
        for layer, out, out_norm, x in zip(self.layers, outputs, values, inputs):
            x_rms = None
            if x is not None and x.is_floating_point():
                x_rms = next(in_norms) / math.sqrt(max(x.numel(), 1))
            records.append(
                Record(
                    self.width,
                    self.seed,
                    0,
                    layer.name,
                    layer.kind,
                    out_norm / math.sqrt(max(out.numel(), 1)),
                    0.0,
                    0.0,
                    input=x_rms,
                    fan_in=layer.fan_in if layer.aligned else None,
                )
            )
        self._in = {}
        return records

    def _group_starts(self) -> list[_Group]:
        """The batched aligned layers, grouped by shape, with their stacked references at init
        (each layer's :class:`_Start` a view of them)."""
        shapes: dict[tuple, list[int]] = {}
        for i, layer in enumerate(self.layers):
            if layer.batched():
                w, x = layer.sketch(), self._in[layer.name]
                key = (tuple(w.shape), w.dtype, tuple(x.shape), x.dtype, x.device)
                shapes.setdefault(key, []).append(i)
        groups = []
        for at in shapes.values():
            layers = [self.layers[i] for i in at]
            w0 = torch.stack([layer.sketch() for layer in layers])
            x0 = torch.stack([self._in[layer.name] for layer in layers])
            m = torch.tensor([layer.m for layer in layers], dtype=w0.dtype, device=w0.device)
            rows = [self._out_rows(i) for i in at]
            biases = [layer.bias() for layer in layers]
            b0 = None
            if any(b is not None for b in biases):
                b0 = torch.stack([self._bias_sketch(i, b, w0) for i, b in zip(at, biases)])
            groups.append(
                _Group(
                    tuple(at),
                    x0,
                    x0 * m.to(x0.dtype).reshape(-1, 1, 1),
                    w0,
                    w0 * m.reshape(-1, 1, 1),
                    torch.stack(rows),
                    b0,
                )
            )
            for j, layer in enumerate(layers):
                layer.started = _Start(layer.stored(w0[j]), self._out[layer.name])
        return groups

    def _single_start(self, layer: _Layer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(m W0, |x0|, |m W0|) of an aligned layer measured on its own (a convolution)."""
        w0m = layer.start().w0 * layer.m
        x0 = self._in[layer.name]
        return w0m, torch.linalg.vector_norm(x0.float()), torch.linalg.vector_norm(w0m.float())

    def _out_rows(self, i: int) -> torch.Tensor:
        """The sketched features of a batched layer's output on the probe rows (R, F)."""
        layer = self.layers[i]
        return layer.features(
            self._rows(self._out[layer.name], False, layer.raw is not None), False
        )

    def _bias_sketch(self, i: int, bias: torch.Tensor | None, w0: torch.Tensor) -> torch.Tensor:
        """A batched layer's sketched bias, zeros for a layer without one (``w0``: its group's
        stacked weights, (G, F, K))."""
        if bias is not None:
            return bias[:: self.layers[i].stride]
        return w0.new_zeros(w0.shape[1])

    def _set_references(self, i: int, x0_rms: float, w0_rms: float, single) -> None:
        """Layer ``i``'s :class:`_AlignStart`: views of its group's stacks, or its own tensors."""
        layer = self.layers[i]
        if single is not None:
            x0 = self._in[layer.name]
            conv = isinstance(layer.module, _CONV)
            b0 = layer.bias()
            layer.align_started = _AlignStart(
                x0=x0,
                x0m=x0 * layer.m,
                w0m=single[0],
                x0_rms=x0_rms,
                w0_rms=w0_rms,
                z0_rows=layer.features(
                    self._rows(layer.start().z0, conv, layer.raw is not None), conv
                ),
                b0=None if b0 is None else b0[:: layer.stride].clone(),
            )
            return
        group = next(g for g in self._groups if i in g.at)
        j = group.at.index(i)
        layer.align_started = _AlignStart(
            x0=group.x0[j],
            x0m=group.x0m[j],
            w0m=layer.stored(group.w0m[j]),
            x0_rms=x0_rms,
            w0_rms=w0_rms,
            z0_rows=group.z0_rows[j],
            b0=None if group.b0 is None or layer.bias() is None else group.b0[j],
        )

    @torch.no_grad()
    def measure(self, batch=None, *, step: int = 0) -> list[Record]:
        """One record per layer for the current weights: runs the probe ``batch``, or uses what
        the last :meth:`capture` saw (which must have been the probe batch)."""
        if batch is not None:
            self._probe(batch)
        if self.exact is not None:
            return self.exact.measure(step)
        self._check_captured()
        layers = self.layers
        outputs = [self._out[layer.name] for layer in layers]
        starts = [layer.start() for layer in layers]
        # each layer's output change is made and reduced in turn, so that each difference is
        # freed (its memory reused) before the next: a batched subtraction would hold a second
        # copy of every output at once
        delta = [torch.linalg.vector_norm(out - s.z0) for out, s in zip(outputs, starts)]
        pieces = [torch.stack(torch._foreach_norm(outputs)), torch.stack(delta)]
        # the weight changes (as stored: the multiplier m is a constant applied to the
        # statistics) and alignment terms: where each layer's numbers lie in ``values``
        size = 2 * len(layers)
        update_at, terms_at = [0] * len(layers), [0] * len(layers)
        entries = [layer.align_start().z0_rows.numel() if layer.aligned else 0 for layer in layers]
        grouped = {i for group in self._groups for i in group.at}
        for i, layer in enumerate(layers):
            if i in grouped:
                continue
            dw = layer.weight(layer.matrix().detach()) - starts[i].w0
            update_at[i], size = size, size + 1
            pieces.append(torch.linalg.vector_norm(dw).reshape(1))
            if layer.aligned:
                numbers, entries[i] = self._terms(layer, dw, self._in[layer.name], outputs[i])
                terms_at[i], size = size, size + 10
                pieces += numbers
        for group in self._groups:
            norms, group_terms = self._group_terms(group, outputs)
            for j, i in enumerate(group.at):
                update_at[i] = size + j
                terms_at[i] = size + len(group.at) + 10 * j
            size += 11 * len(group.at)
            pieces += [norms, group_terms.reshape(-1)]
        values = torch.cat([p.float() for p in pieces]).tolist()
        n = len(layers)
        records = []
        for i, layer in enumerate(layers):
            size_z = math.sqrt(max(outputs[i].numel(), 1))
            w_size = math.sqrt(max(starts[i].w0.numel(), 1))
            update = abs(layer.m) * values[update_at[i]] / w_size
            fields: dict = {}
            if layer.aligned:
                at = terms_at[i]
                fields = _alignment_fields(values[at : at + 10], layer, entries[i], update)
            records.append(
                Record(
                    self.width,
                    self.seed,
                    step,
                    layer.name,
                    layer.kind,
                    values[i] / size_z,
                    values[n + i] / size_z,
                    update,
                    **fields,
                )
            )
        self._in = {}
        return records

    def _group_terms(
        self, group: _Group, outputs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(|dW| of each layer, its 10 numbers as :meth:`_terms`'s) for a group of batched layers:
        ``dW x0`` and ``W0 dx`` as two batched products, ``dW dx`` what remains of the change."""
        layers = [self.layers[i] for i in group.at]
        dw = torch.stack([layer.sketch() for layer in layers]).sub_(group.w0)
        dx = torch.stack([self._in[layer.name] for layer in layers]).sub_(group.x0)
        alpha = torch.bmm(group.x0m, dw.transpose(1, 2))
        omega = torch.bmm(dx, group.w0m.transpose(1, 2))
        rows = [
            layer.features(self._rows(outputs[i], False, layer.raw is not None), False)
            for i, layer in zip(group.at, layers)
        ]
        u = torch.stack(rows).sub_(group.z0_rows).sub_(alpha).sub_(omega)
        if group.b0 is not None:
            bias = [
                self._bias_sketch(i, layer.bias(), group.w0) for i, layer in zip(group.at, layers)
            ]
            u = u.sub_((torch.stack(bias) - group.b0).unsqueeze(1))
        terms = torch.stack([alpha.flatten(1), omega.flatten(1), u.flatten(1)], 1).float()
        gram = torch.bmm(terms, terms.transpose(1, 2)).flatten(1)
        dx_norm = torch.linalg.vector_norm(dx.float(), dim=(1, 2)).unsqueeze(1)
        return torch.linalg.vector_norm(dw, dim=(1, 2)), torch.cat([gram, dx_norm], 1)

    def _terms(
        self, layer: _Layer, dw: torch.Tensor, xt: torch.Tensor, zt: torch.Tensor
    ) -> tuple[list[torch.Tensor], int]:
        """10 numbers on the probe rows: the 3x3 Gram matrix of (dW x0, W0 dx, dW dx) and |dx|
        (norms, ratios and cosines follow without another device read); and the number of
        entries of one term.  Two small products, ``dW x0`` and ``W0 dx`` (the multiplier folded
        into the stored x0 and W0); the third term is what remains of the output's change."""
        ref = layer.align_start()
        conv = isinstance(layer.module, _CONV)
        dx = xt - ref.x0
        alpha = layer.apply(ref.x0m, dw)
        omega = layer.apply(dx, ref.w0m)
        u = layer.features(self._rows(zt, conv, layer.raw is not None), conv) - ref.z0_rows
        u = u.sub_(alpha).sub_(omega)
        bias = layer.bias()
        if ref.b0 is not None and bias is not None:
            db = bias[:: layer.stride] - ref.b0
            u = u.sub_(db.reshape(-1, *[1] * (u.dim() - 2)) if conv else db)
        terms = torch.stack([alpha.reshape(-1), omega.reshape(-1), u.reshape(-1)])
        gram = terms.float() @ terms.float().T
        return [gram.reshape(-1), torch.linalg.vector_norm(dx.float()).reshape(1)], alpha.numel()


def _norms(stacked: torch.Tensor) -> torch.Tensor:
    """The 2-norm of each layer's slice of a stacked (layer, ...) tensor."""
    return torch.linalg.vector_norm(stacked.float(), dim=tuple(range(1, stacked.dim())))


def _div(p: float, q: float) -> float | None:
    """p / q; None when q is 0 (an alignment ratio of a zero update or input is undefined, not a
    divergence: a readout started at zero leaves the layers below it unmoved at step 1), nan when
    q is not finite."""
    if q == 0:
        return None
    return p / q if math.isfinite(q) else float("nan")


def _alignment_fields(v: Sequence[float], layer: _Layer, term_entries: int, update: float) -> dict:
    """Record fields from one layer's 10 numbers (Recorder._terms) and its update RMS."""
    ref = layer.align_start()
    x_size = math.sqrt(max(ref.x0.numel(), 1))
    t_size = math.sqrt(max(term_entries, 1))
    norms = [math.sqrt(max(v[4 * i], 0.0)) for i in range(3)]  # diagonal of the Gram matrix
    alpha, omega, u = (n / t_size for n in norms)
    dx, x0, w0 = v[9] / x_size, ref.x0_rms, ref.w0_rms
    out = {
        "fan_in": layer.fan_in,
        "input_delta": dx,
        "align_alpha": _div(alpha, update * x0),
        "align_omega": _div(omega, w0 * dx),
        "align_u": _div(u, update * dx),
        "term_alpha": alpha,
        "term_omega": omega,
        "term_u": u,
    }
    index = {"alpha": 0, "omega": 1, "u": 2}
    for first, second in PAIRS:
        i, j = index[first], index[second]
        denom = norms[i] * norms[j]
        out[f"cos_{first}_{second}"] = v[3 * i + j] / denom if denom > 0 else 0.0
    return out


def _ratio(
    product: torch.Tensor, matrix_rms: float | torch.Tensor, vector: torch.Tensor
) -> float | None:
    """rms(A v) / (rms(A) * rms(v)); ~ fan_in^x for alignment exponent x (nan if undefined)."""
    if isinstance(matrix_rms, torch.Tensor):
        matrix_rms = rms(matrix_rms)
    return _div(rms(product), matrix_rms * rms(vector))
