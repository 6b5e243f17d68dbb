"""Whole-tensor measurements of the depth check: probed layers and the residual stream.

The :class:`~abcparam.coordcheck.record.Recorder` given ``exact=WholeTensors(...)`` measures
through this class instead of its width sketch: on every probe row and output feature, in
float64, each probed layer's output, change and effective update, and the two parts of a
linear layer's change ``dz = own + inp`` (``own = m dW x_t`` plus the bias change, ``inp = m W0
dx``) with their cosine; and, from hooks on the residual blocks, the stream after the last
block and the stream's two parts (the embedding, depth-free, and the blocks' summed
contributions), with the depth alignment ratio ``rms(sum_l d_l) / sqrt(sum_l rms(d_l)^2) ~
L^(beta - 1/2)`` over the blocks' changes d_l (CompleteP Fig. 7; TP-VI Sec. 4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .schema import DepthRecord, Record, probe_kind

#: the record of the stream's two parts (finite-depth prediction of the stream)
PARTS = "stream parts"
#: the record of the stream after the last block
STREAM = "stream"


def rms64(t: torch.Tensor) -> float:
    """RMS of ``t`` in float64."""
    return float(t.detach().double().pow(2).mean().sqrt())


def cos64(u: torch.Tensor, v: torch.Tensor) -> float:
    """Cosine of two tensors flattened, in float64 (nan when either is zero)."""
    u, v = u.reshape(-1).double(), v.reshape(-1).double()
    den = float(u.norm() * v.norm())
    return float(u @ v) / den if den > 0 else float("nan")


#: the layer kind of a probe label (embedding, readout, stream, else hidden)
kind_of = probe_kind


@dataclass(frozen=True)
class _Init:
    """A probed layer at init: output, input and effective weight."""

    out: torch.Tensor
    inp: torch.Tensor | None
    weight: torch.Tensor | None


class WholeTensors:
    """Probed layers ({label: module}) and, given ``blocks``, the residual stream, measured on
    whole tensors in float64 while the recorder captures (the recorder's ``active`` flag)."""

    def __init__(
        self,
        layers: Mapping[str, nn.Module],
        blocks: Sequence[nn.Module] = (),
        width: int = 0,
        depth: int | None = None,
        seed: int = 0,
    ) -> None:
        self.layers, self.blocks = dict(layers), list(blocks)
        self.width, self.depth, self.seed = width, depth, seed
        self.recorder: object | None = None
        self._now: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._blocks: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._init: dict[str, _Init] = {}
        self._init_blocks: list[torch.Tensor] = []
        self._embedding0: torch.Tensor | None = None
        self._last: torch.Tensor | None = None  # the stream after the last block
        self._stream0: torch.Tensor | None = None
        self._handles = [m.register_forward_hook(self._layer(k)) for k, m in self.layers.items()]
        self._handles += [b.register_forward_hook(self._block(i)) for i, b in enumerate(blocks)]

    def _active(self) -> bool:
        return bool(getattr(self.recorder, "active", False))

    def _layer(self, label: str):
        def hook(module, inputs, output):
            if self._active():
                self._now[label] = (output.detach().clone(), inputs[0].detach().clone())

        return hook

    def _block(self, i: int):
        def hook(module, inputs, output):
            if self._active():
                self._blocks[i] = (inputs[0].detach().clone(), (output - inputs[0]).detach())
                if i == len(self.blocks) - 1:  # the stream after the last block
                    self._last = output.detach().clone()

        return hook

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()

    def _captured(self) -> tuple[dict, list[torch.Tensor]]:
        missing = [i for i in range(len(self.blocks)) if i not in self._blocks]
        if missing or set(self._now) != set(self.layers):
            raise RuntimeError(f"the forward pass skipped blocks {missing} or probed layers")
        now, blocks = dict(self._now), [self._blocks[i][1] for i in range(len(self.blocks))]
        self._now, self._blocks = {}, {}
        return now, blocks

    def start(self) -> list[Record]:
        """Step 0; keeps the init outputs, inputs, weights and block contributions."""
        first = self._blocks.get(0)
        now, blocks = self._captured()
        for label, module in self.layers.items():
            weight = getattr(module, "weight", None)
            keep = weight.detach().clone() if isinstance(weight, torch.Tensor) else None
            self._init[label] = _Init(now[label][0], now[label][1], keep)
        self._init_blocks = blocks
        self._embedding0 = first[0] if first is not None else None
        self._stream0 = self._last if self.blocks else None
        return self._records(0, now, blocks, self._embedding0)

    def measure(self, step: int) -> list[Record]:
        """Step ``step``: the probed layers' and the stream's records."""
        first = self._blocks.get(0)
        now, blocks = self._captured()
        return self._records(step, now, blocks, first[0] if first is not None else None)

    def _records(self, step, now, blocks, embedding) -> list[Record]:
        out: list[Record] = [self._layer_record(step, label, now[label]) for label in self.layers]
        if self.blocks:
            stream, stream0 = self._last, self._stream0
            assert stream is not None and stream0 is not None  # the last block's hook ran
            delta = rms64(stream - stream0) if step else None
            out.append(self._row(step, STREAM, output=rms64(stream), delta=delta))
            out.append(self._parts(step, embedding, blocks))
        return out

    def _row(self, step: int, label: str, **values) -> DepthRecord:
        return DepthRecord(
            self.width,
            self.seed,
            step,
            label,
            kind_of(label),
            values.pop("output", None),
            values.pop("delta", None),
            values.pop("update", None),
            depth=self.depth,
            **values,
        )

    def _layer_record(self, step: int, label: str, now) -> DepthRecord:
        init, module = self._init[label], self.layers[label]
        out, x_t = now
        if not step:
            return self._row(step, label, output=rms64(out))
        mult = float(getattr(module, "multiplier", 1.0))
        weight = getattr(module, "weight", None)
        values = {"output": rms64(out), "delta": rms64(out - init.out)}
        if init.weight is not None and isinstance(weight, torch.Tensor):
            values["update"] = rms64(mult * (weight.detach() - init.weight))
        if label != "embedding" and init.weight is not None and init.inp is not None:
            inp = mult * F.linear(x_t - init.inp, init.weight)
            own = out - init.out - inp
            values.update(
                input_delta=rms64(x_t - init.inp),
                term_own=rms64(own),
                term_omega=rms64(inp),
                cos_own_omega=cos64(own, inp),
            )
        return self._row(step, label, **values)

    def _parts(self, step: int, embedding, blocks) -> DepthRecord:
        """The stream's two parts: the embedding (the first block's input) and the blocks' sum."""
        emb0, blocks0 = self._embedding0, self._init_blocks
        total = sum(blocks)
        values = {
            "embedding_out": rms64(embedding),
            "blocks_out": rms64(total),
            "cos_out": cos64(embedding, total),
        }
        if step:
            changes = [b - b0 for b, b0 in zip(blocks, blocks0)]
            d_sum = sum(changes)
            spread = math.sqrt(max(sum(rms64(d) ** 2 for d in changes), 1e-300))
            values.update(
                embedding_delta=rms64(embedding - emb0),
                blocks_delta=rms64(d_sum),
                cos_delta=cos64(embedding - emb0, d_sum),
                depth_alignment_ratio=rms64(d_sum) / spread,
            )
        return self._row(step, PARTS, **values)
