"""The one definition of a coordinate check's results.json: the typed rows that cross modules
(:class:`Record`, :class:`Fit`, :class:`AlignmentFit`, :class:`NonFinite`), how they are written
(:func:`to_json`: strict JSON, non-finite numbers as ``null``), checked (:func:`validate`) and
documented (:func:`describe`, the text the README shows).

Each field's documentation lives in its ``metadata["doc"]``; a field whose JSON key is not a valid
Python name (``pass``) names it in ``metadata["key"]``.  Rows also answer ``row["key"]`` and
``row.get(key)`` so that code written against the earlier dict rows keeps working.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Union

Number = Union[float, None]  # noqa: UP007 (runtime alias for python 3.10)

#: the record fields a width slope is fitted on
QUANTITIES = ("output", "delta", "update")
#: each alignment variable's ratio field in a Record (Everett et al. 2024's alpha, omega, u)
ALIGN = {"alpha": "align_alpha", "omega": "align_omega", "u": "align_u"}


def _doc(text: str, key: str | None = None) -> Any:
    return field(metadata={"doc": text, **({"key": key} if key else {})})


def _opt(text: str) -> Any:
    return field(default=None, metadata={"doc": text})


class _Row:
    """JSON conversion and dict-style reading for the schema's dataclasses."""

    #: set by @dataclass on each row type (so ``fields`` accepts a row class)
    __dataclass_fields__: ClassVar[dict[str, Any]]
    #: {JSON key: attribute name}, cached per row type by :meth:`keys_`
    _keys: ClassVar[dict[str, str]]

    @classmethod
    def keys_(cls) -> dict[str, str]:
        """{JSON key: attribute name} (computed once per class)."""
        cached = cls.__dict__.get("_keys")
        if cached is None:
            cached = {f.metadata.get("key", f.name): f.name for f in fields(cls)}
            cls._keys = cached
        return cached

    def __getitem__(self, key: str) -> Any:
        name = self.keys_().get(key)
        if name is None:
            raise KeyError(key)
        return getattr(self, name)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys_() and self[key] is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, self.keys_().get(key, ""), None)
        return default if value is None else value

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """The JSON keys that hold a value (so ``dict(row)`` and ``{**row}`` work)."""
        return [k for k in self.keys_() if self[k] is not None]

    def to_json(self, strict: bool = True) -> dict:
        """{JSON key: value}; ``strict``: non-finite numbers as None."""
        if not strict:
            return {key: getattr(self, name) for key, name in self.keys_().items()}
        return {key: _strict(getattr(self, name)) for key, name in self.keys_().items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Any:
        return cls(**{name: data.get(key) for key, name in cls.keys_().items()})


@dataclass(frozen=True)
class Record(_Row):
    """One layer's measurement at one width, seed and step (record.py)."""

    width: int = _doc("model width n")
    seed: int = _doc("seed of the run (init and data)")
    step: int = _doc("optimizer steps taken before the measurement (0 = init)")
    layer: str = _doc("module name in the model")
    kind: str = _doc("layer kind: embedding, hidden or readout")
    output: Number = _doc("RMS of the layer's output on the probe batch")
    delta: Number = _doc("RMS of the output's change since init")
    update: Number = _doc(
        "RMS of the effective weight change m (w_t - w_0), on the sketched output features"
    )
    input: Number = _opt("RMS of the layer's input at init (step 0, floating inputs only)")
    fan_in: int | None = _opt("fan-in of the layer (x of the alignment fits)")
    input_delta: Number = _opt("RMS of the input's change since init, on the probe rows")
    align_alpha: Number = _opt("rms(dW x0) / (rms(dW) rms(x0)): alpha's alignment ratio")
    align_omega: Number = _opt("rms(W0 dx) / (rms(W0) rms(dx)): omega's alignment ratio")
    align_u: Number = _opt("rms(dW dx) / (rms(dW) rms(dx)): u's alignment ratio")
    term_alpha: Number = _opt("RMS of dW x0")
    term_omega: Number = _opt("RMS of W0 dx")
    term_u: Number = _opt("RMS of dW dx")
    cos_alpha_omega: Number = _opt("cosine between dW x0 and W0 dx")
    cos_alpha_u: Number = _opt("cosine between dW x0 and dW dx")
    cos_omega_u: Number = _opt("cosine between W0 dx and dW dx")


@dataclass(frozen=True)
class DepthRecord(Record):
    """A record of the depth check (stream.py): whole tensors in float64, at one depth; the
    probed layer's change split into ``own`` (``term_own``) and ``inp`` (``term_omega``), and
    the "stream parts" row's fields.  Saved in the depth check's results.json by
    :func:`depth_row` under the keys that file has always used."""

    depth: int | None = _opt("number of residual blocks L")
    term_own: Number = _opt("RMS of own = m dW x_t plus the bias change (the layer's own term)")
    cos_own_omega: Number = _opt("cosine between own and W0 dx")
    embedding_out: Number = _opt("stream parts: RMS of the embedding (the first block's input)")
    blocks_out: Number = _opt("stream parts: RMS of the blocks' summed contributions")
    cos_out: Number = _opt("stream parts: cosine between the embedding and the blocks' sum")
    embedding_delta: Number = _opt("stream parts: RMS of the embedding's change")
    blocks_delta: Number = _opt("stream parts: RMS of the change of the blocks' sum")
    cos_delta: Number = _opt("stream parts: cosine between those two changes")
    depth_alignment_ratio: Number = _opt("stream parts: rms(sum d_l) / sqrt(sum rms(d_l)^2)")


#: the depth check's results.json keys of a DepthRecord's fields (the rest keep their names)
DEPTH_KEYS = {
    "output": "out",
    "input_delta": "in_delta",
    "term_own": "own",
    "term_omega": "inp",
    "cos_own_omega": "cos",
}
#: the order of a probed layer's and of the stream parts' keys in that file
_LAYER_ROW = ("out", "delta", "update", "in_delta", "own", "inp", "cos")
_PARTS_ROW = (
    "embedding_out",
    "blocks_out",
    "cos_out",
    "embedding_delta",
    "blocks_delta",
    "cos_delta",
    "depth_alignment_ratio",
)


def depth_row(record: DepthRecord, scheme: str) -> dict[str, Any]:
    """The depth check's results.json row of ``record`` (its keys and order since it began):
    scheme, width, depth, seed, step, layer, then the measured values (delta and update None
    where undefined, the own / input split only where measured)."""
    row: dict[str, Any] = {
        "scheme": scheme,
        "width": record.width,
        "depth": record.depth,
        "seed": record.seed,
        "step": record.step,
        "layer": record.layer,
    }
    values = {DEPTH_KEYS.get(f.name, f.name): getattr(record, f.name) for f in fields(record)}
    if record.layer == "stream parts":
        keys = _PARTS_ROW if record.step else _PARTS_ROW[:3]
        return {**row, **{k: values[k] for k in keys}}
    row.update({k: values[k] for k in _LAYER_ROW[:3]})
    row.update({k: values[k] for k in _LAYER_ROW[3:] if values[k] is not None})
    return row


@dataclass(frozen=True)
class Fit(_Row):
    """One fitted width slope and its predictions (compare.py)."""

    layer: str = _doc("module name")
    kind: str = _doc("layer kind")
    quantity: str = _doc("output, delta or update")
    step: int = _doc("step of the measurement")
    measured_slope: Number = _doc("mean over seeds of the log-log slope against width")
    slope_stderr: Number = _doc("standard error of that slope across seeds")
    predicted_slope: Number = _doc(
        "prediction under the measured alignment and input (the judged one)"
    )
    predicted_slope_preset: Number = _doc("prediction under the rules' named alignment")
    predicted_slope_asymptotic: Number = _doc(
        "measured-alignment prediction, largest term only (no finite-width blend)"
    )
    alignment_measured: dict | None = _doc(
        "measured alignment exponents {alpha, omega, u} at this layer and step (null at init)"
    )
    passed: bool = _doc("|measured - predicted| <= tolerance", key="pass")
    preset_pass: bool = _doc("|measured - preset prediction| <= tolerance")
    asymptotic_pass: bool = _doc("|measured - asymptotic prediction| <= tolerance")
    judged: bool = _doc("counted in the summary (trained outputs are reported only)")


@dataclass(frozen=True)
class AlignmentFit(_Row):
    """A fitted alignment exponent: slope of a ratio against fan-in."""

    layer: str = _doc("module name")
    variable: str = _doc("alpha, omega or u")
    step: int = _doc("step")
    exponent: Number = _doc("fitted exponent (1 aligned, 1/2 independent)")
    stderr: Number = _doc("standard error across seeds")


@dataclass(frozen=True)
class NonFinite(_Row):
    """Where a run produced a non-finite value (the run stops there; earlier data is kept)."""

    width: int = _doc("model width")
    seed: int = _doc("seed")
    step: int = _doc("step")
    layer: str = _doc("module name, or 'loss'")
    quantity: str = _doc("the quantity that was not finite")


#: top-level keys of results.json: (key, row type or JSON type, doc)
TOP: tuple[tuple[str, type[dict] | type[str] | type[_Row], str], ...] = (
    ("config", dict, "the check's configuration, with the rules used (rules.to_dict())"),
    ("versions", dict, "abcparam, torch, python and machine"),
    ("fits", Fit, "one row per (layer, quantity, step)"),
    ("alignment_fits", AlignmentFit, "one row per (layer, variable, step)"),
    ("flags", str, "preset misses, each with the assumption the measurement contradicts"),
    ("nonfinite", NonFinite, "non-finite values met"),
    ("records", Record, "every raw measurement"),
    ("summary", dict, "counts: fits, passed, preset_passed, asymptotic_passed, ..."),
)
#: keys a saved file may add (abcparam.records.save_json writes them)
EXTRA = (
    ("provenance", "command, package version, git commit, torch, device, date, wall time"),
    ("nulls", "where a value was written as null, and why"),
)
ROWS: dict[str, type[_Row]] = {key: kind for key, kind, _ in TOP if issubclass(kind, _Row)}


def _strict(value: Any) -> Any:
    """Non-finite floats -> None, recursively (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, _Row):
        return value.to_json()
    return value


def to_json(result: Any, strict: bool = True) -> dict:
    """results.json's payload for a CoordCheckResult, validated; ``strict=False`` keeps NaN for
    a writer that records where its nulls come from (abcparam.records.save_json)."""
    payload = {
        "config": result.config,
        "versions": result.versions,
        "fits": [f.to_json(False) for f in result.fits],
        "alignment_fits": [a.to_json(False) for a in result.alignment_fits],
        "flags": list(result.flags),
        "nonfinite": [n.to_json(False) for n in result.nonfinite],
        "records": [r.to_json(False) for r in result.records],
        "summary": result.summary(),
    }
    strict_payload = _strict(payload)
    validate(strict_payload)
    return strict_payload if strict else payload


def _accepts(annotation: Any, value: Any) -> bool:
    """Does ``value`` (from JSON) match a field annotation (str form, as postponed)?"""
    hint = (
        eval(annotation, {**vars(typing), **globals()})
        if isinstance(annotation, str)
        else annotation
    )
    options = (
        typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    )
    for option in options:
        if option is type(None) and value is None:
            return True
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return math.isfinite(value)
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option in (str, bool, dict) and isinstance(value, option):
            return True
    return False


def validate(payload: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first place where ``payload`` departs from the schema."""
    missing = [key for key, _, _ in TOP if key not in payload]
    if missing:
        raise ValueError(f"results.json lacks {missing}; expected keys: {[k for k, _, _ in TOP]}")
    unknown = set(payload) - {k for k, _, _ in TOP} - {k for k, _ in EXTRA}
    if unknown:
        raise ValueError(
            f"results.json has unknown keys {sorted(unknown)}; accepted: "
            f"{[k for k, _, _ in TOP] + [k for k, _ in EXTRA]}"
        )
    for key, kind, _ in TOP:
        value = payload[key]
        if kind is dict:
            if not isinstance(value, Mapping):
                raise ValueError(f"results.json {key!r} is {type(value).__name__}, not an object")
            continue
        if not isinstance(value, list):
            raise ValueError(f"results.json {key!r} is {type(value).__name__}, not a list")
        for i, row in enumerate(value):
            if not issubclass(kind, _Row):  # a list of strings
                if not isinstance(row, str):
                    raise ValueError(f"results.json {key}[{i}] = {row!r} is not a string")
                continue
            extra = set(row) - set(kind.keys_())
            if extra:
                raise ValueError(f"results.json {key}[{i}] has unknown keys {sorted(extra)}")
            for f in fields(kind):
                jkey = f.metadata.get("key", f.name)
                if jkey not in row and f.default is not None:
                    raise ValueError(f"results.json {key}[{i}] lacks {jkey!r}")
                if not _accepts(f.type, row.get(jkey)):
                    raise ValueError(
                        f"results.json {key}[{i}].{jkey} = {row.get(jkey)!r} is not {f.type}"
                    )


def load(payload: Mapping[str, Any]) -> dict:
    """Validate and turn the row lists back into typed rows (nulls stay None)."""
    validate(payload)
    out = dict(payload)
    for key, kind in ROWS.items():
        out[key] = [kind.from_json(row) for row in payload[key]]
    return out


def describe() -> str:
    """Markdown documentation of results.json, generated from the definitions above."""
    lines = ["results.json (strict JSON; `null` where a number is undefined or not finite):", ""]
    for key, kind, doc in TOP:
        what = "object" if kind is dict else ("list of strings" if kind is str else "list")
        lines.append(f"- `{key}` ({what}): {doc}")
        if issubclass(kind, _Row):
            for f in fields(kind):
                jkey = f.metadata.get("key", f.name)
                opt = ", optional" if f.default is None else ""
                lines.append(f"  - `{jkey}` ({f.type}{opt}): {f.metadata['doc']}")
    for key, doc in EXTRA:
        lines.append(f"- `{key}` (object, added when saved): {doc}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(describe(), end="")
