"""The one definition of a coordinate check's results.json: the typed rows that cross modules
(:class:`Record`, :class:`Fit`, :class:`AlignmentFit`, :class:`NonFinite`), how they are written
(:func:`to_json`: strict JSON, non-finite numbers as ``null``), checked (:func:`validate`) and
documented (:func:`describe`, the text the README shows).  One schema for both axes: a depth
check's file says ``"axis": "depth"`` and its rows are the subclasses :class:`DepthRecord`,
:class:`DepthFit` and :class:`DepthAlignmentFit` (the same keys and more; :data:`AXES`).

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
    #: {earlier key: attribute name}: keys a row type answers for code written before the rename
    _aliases: ClassVar[dict[str, str]] = {}

    @classmethod
    def keys_(cls) -> dict[str, str]:
        """{JSON key: attribute name} (computed once per class)."""
        cached = cls.__dict__.get("_keys")
        if cached is None:
            cached = {f.metadata.get("key", f.name): f.name for f in fields(cls)}
            cls._keys = cached
        return cached

    def _name(self, key: str) -> str | None:
        return self.keys_().get(key) or self._aliases.get(key)

    def __getitem__(self, key: str) -> Any:
        name = self._name(key)
        if name is None:
            raise KeyError(key)
        return getattr(self, name)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._name(key) is not None and self[key] is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, self._name(key) or "", None)
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

    def compact(self) -> dict:
        """:meth:`to_json` (not strict) without the optional fields (default None) that hold
        None: a file may leave them out."""
        optional = {f.metadata.get("key", f.name) for f in fields(self) if f.default is None}
        return {
            key: value
            for key, value in self.to_json(False).items()
            if value is not None or key not in optional
        }

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


#: the keys of a DepthRecord's fields in depth results.json files written before the one schema
#: (:func:`depth_row` writes them, :func:`depth_record` reads them; the rest keep their names)
DEPTH_KEYS = {
    "output": "out",
    "input_delta": "in_delta",
    "term_own": "own",
    "term_omega": "inp",
    "cos_own_omega": "cos",
}


@dataclass(frozen=True)
class DepthRecord(Record):
    """A record of the depth check (stream.py): whole tensors in float64, at one depth; the
    probed layer's change split into ``own`` (``term_own``) and ``inp`` (``term_omega``), and
    the "stream parts" row's fields.  ``layer`` is the probe's label (``first.fc1``, ``stream``,
    ...: relative positions, so layers match across depths).  Also answers the earlier keys
    (``row["out"]``, ``row.get("own")``: :data:`DEPTH_KEYS`)."""

    _aliases: ClassVar[dict[str, str]] = {old: new for new, old in DEPTH_KEYS.items()}

    scheme: str | None = _opt("the scheme whose rules the run used")
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


def depth_row(record: DepthRecord, scheme: str | None = None) -> dict[str, Any]:
    """The row of ``record`` in a depth results.json written before the one schema (its keys and
    order): scheme, width, depth, seed, step, layer, then the measured values (delta and update
    None where undefined, the own / input split only where measured)."""
    row: dict[str, Any] = {
        "scheme": record.scheme if scheme is None else scheme,
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


def probe_kind(label: str) -> str:
    """The layer kind of a depth probe's label (embedding, readout, stream, else hidden)."""
    return label if label in ("embedding", "readout", "stream") else "hidden"


def depth_record(row: Mapping[str, Any]) -> DepthRecord:
    """A DepthRecord from a row of a depth results.json written before the one schema."""
    names = {old: new for new, old in DEPTH_KEYS.items()}
    values = {names.get(key, key): value for key, value in row.items()}
    return DepthRecord(
        kind=probe_kind(row["layer"]), **{"output": None, "delta": None, "update": None, **values}
    )


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


#: a depth fit's quantity under its earlier name (depth results.json before the one schema)
_SHORT = {"output": "out"}


@dataclass(frozen=True)
class DepthFit(Fit):
    """A slope of the depth check (depth.py): against log L at one width (``axis`` depth) or,
    on the joint grid, against log n at one depth (``axis`` width).  ``predicted_slope_preset``
    and ``predicted_slope_asymptotic`` hold the engine's asymptotic slope, ``predicted_slope``
    the judged one (the finite-depth or finite-width one where there is one, else that)."""

    _aliases: ClassVar[dict[str, str]] = {
        "slope": "measured_slope",
        "err": "slope_stderr",
        "predicted": "predicted_slope_preset",
        "finite": "predicted_slope_finite",
    }

    axis: str = _doc("the size the slope is against, depth or width")
    scheme: str = _doc("the scheme whose rules the runs used")
    width: int | None = _opt("the width held fixed (a slope against depth)")
    depth: int | None = _opt("the depth held fixed (a slope against width)")
    predicted_slope_finite: Number = _opt(
        "the finite-depth (or finite-width) prediction from the measured sizes, "
        "angles and depth alignment"
    )

    @classmethod
    def from_legacy(cls, row: Mapping[str, Any], axis: str) -> DepthFit:
        """From a depth fit row as written before the one schema (``pass`` None: not judged)."""
        if (row["pass"] is None) != (row["preset_pass"] is None):
            raise ValueError(f"depth fit {row}: pass and preset_pass must be judged together")
        judged, fixed = row["pass"] is not None, "width" if axis == "depth" else "depth"
        target = row["finite"] if row["finite"] is not None else row["predicted"]
        return cls(
            layer=row["layer"],
            kind=probe_kind(row["layer"]),
            quantity={v: k for k, v in _SHORT.items()}.get(row["quantity"], row["quantity"]),
            step=row["step"],
            measured_slope=row["slope"],
            slope_stderr=row["err"],
            predicted_slope=target,
            predicted_slope_preset=row["predicted"],
            predicted_slope_asymptotic=row["predicted"],
            alignment_measured=None,
            passed=bool(row["pass"]),
            preset_pass=bool(row["preset_pass"]),
            asymptotic_pass=bool(row["preset_pass"]),
            judged=judged,
            axis=axis,
            scheme=row["scheme"],
            **{fixed: row[fixed]},
            predicted_slope_finite=row["finite"],
        )

    def legacy(self) -> dict[str, Any]:
        """The row as depth results.json wrote it before the one schema (summary and table)."""
        fixed = "width" if self.axis == "depth" else "depth"
        return {
            "scheme": self.scheme,
            fixed: getattr(self, fixed),
            "layer": self.layer,
            "quantity": _SHORT.get(self.quantity, self.quantity),
            "step": self.step,
            "slope": self.measured_slope,
            "err": self.slope_stderr,
            "predicted": self.predicted_slope_preset,
            "finite": self.predicted_slope_finite,
            "pass": self.passed if self.judged else None,
            "preset_pass": self.preset_pass if self.judged else None,
        }


@dataclass(frozen=True)
class DepthAlignmentFit(AlignmentFit):
    """The depth alignment exponent beta fitted from the stream parts' ratio
    ``rms(sum_l d_l) / sqrt(sum_l rms(d_l)^2) ~ L^(beta - 1/2)`` (layer ``stream``, variable
    ``beta``; CompleteP Fig. 7, TP-VI Sec. 4)."""

    scheme: str = _doc("the scheme whose rules the runs used")
    width: int = _doc("the width of the runs")


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
#: the axis key: which check wrote the file, and so which row types its lists hold
AXIS = (
    "axis",
    'the size the check varies: "width" (the default when the key is absent: the width check, '
    'coordcheck/check.py) or "depth" (coordcheck/depth.py; its rows add the fields below)',
)
ROWS: dict[str, type[_Row]] = {key: kind for key, kind, _ in TOP if issubclass(kind, _Row)}
#: the row types of each axis (a depth row type extends the width one: the same keys and more)
AXES: dict[str, dict[str, type[_Row]]] = {
    "width": ROWS,
    "depth": {
        **ROWS,
        "fits": DepthFit,
        "alignment_fits": DepthAlignmentFit,
        "records": DepthRecord,
    },
}


def axis_of(payload: Mapping[str, Any]) -> str:
    """The axis of a results.json payload (width when it has no ``axis`` key)."""
    axis = payload.get("axis", "width")
    if axis not in AXES:
        raise ValueError(f"results.json axis = {axis!r}; accepted: {', '.join(AXES)}")
    return axis


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
    accepted = [k for k, _, _ in TOP] + [k for k, _ in EXTRA] + [AXIS[0]]
    unknown = set(payload) - set(accepted)
    if unknown:
        raise ValueError(f"results.json has unknown keys {sorted(unknown)}; accepted: {accepted}")
    rows = AXES[axis_of(payload)]
    for key, kind, _ in TOP:
        kind = rows.get(key, kind)
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
    for key, kind in AXES[axis_of(payload)].items():
        out[key] = [kind.from_json(row) for row in payload[key]]
    return out


def _field_lines(kind: type[_Row], skip: type[_Row] | None = None) -> list[str]:
    """One line per field of ``kind`` (those of ``skip``, its base, left out)."""
    known = {f.name for f in fields(skip)} if skip else set()
    lines = []
    for f in fields(kind):
        if f.name not in known:
            jkey = f.metadata.get("key", f.name)
            opt = ", optional" if f.default is None else ""
            lines.append(f"  - `{jkey}` ({f.type}{opt}): {f.metadata['doc']}")
    return lines


def describe() -> str:
    """Markdown documentation of results.json, generated from the definitions above."""
    lines = ["results.json (strict JSON; `null` where a number is undefined or not finite):", ""]
    for key, kind, doc in TOP:
        what = "object" if kind is dict else ("list of strings" if kind is str else "list")
        lines.append(f"- `{key}` ({what}): {doc}")
        if issubclass(kind, _Row):
            lines += _field_lines(kind)
    for key, doc in EXTRA:
        lines.append(f"- `{key}` (object, added when saved): {doc}")
    lines.append(f"- `{AXIS[0]}` (str, optional): {AXIS[1]}")
    for key, kind in AXES["depth"].items():
        if kind is not ROWS[key]:
            lines.append(f"  - depth: `{key}` rows are {kind.__name__}s, adding to {key}:")
            lines += ["  " + line for line in _field_lines(kind, ROWS[key])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(describe(), end="")
