"""Width exponents of every tensor a low-precision format has to hold (per layer kind and role).

A number format fits a tensor when the tensor's RMS sits well inside the format's range.  abc rules
fix how each RMS moves with width ``n``; this module derives those exponents (RMS ~ n^e) from a
:class:`~abcparam.engine.rules.Rules` table: multiplier ``n^-a``, init ``n^-b``, update exponent
``k`` (the optimizer's update model) and feature change ``n^-r`` (Everett et al. 2024, Sec. 2 and
its constraint table; TP-IV Sec. 3).  Roles (``ROLES``):

- ``weight`` (trainable w, what an FP8 matmul reads): ``-b`` at init; ``max(-b, a - k)`` once
  updates have accumulated;  ``effective_weight`` (n^-a w): ``-(a + b)``, then ``max(., -k)``;
- ``input`` (activation into the matmul) and ``output`` (its result): the forward pass, summing
  n independent terms (exponent 1/2, the CLT) in hidden and readout layers, a fixed number in the
  embedding; after training ``output = max(init, -r)``;
- ``grad_output`` / ``grad_input`` (dL/d output, dL/d input): the backward pass from width-free
  logit gradients; ``grad_matmul`` = n^-a grad_output, the gradient of the product x w^T that a
  low-precision matmul with the multiplier as a static output scale back-propagates; ``grad_weight`` (dL/dw) = ``-a + grad_output + input`` (a batch sum only);
  at init it is minus the rules' epsilon exponent (the same quantity, derived independently);
- ``update`` (one step of w): ``a - k``;  Adam's ``adam_m`` and ``adam_sqrt_v`` track grad_weight,
  ``adam_v`` is its square (twice the exponent).

Attention queries and keys (``attention="qk"``) are hidden layers whose backward runs through the
logits ``q.k * d_head^-x`` (x = ``rules.attention_logit_exponent``): dL/dlogit sums the output
gradient against v over d_head (n^(1/2)), and dL/dq multiplies it by k and the scale n^-x, so
their output gradient (and their weight gradient and Adam moments) shifts by ``1/2 - x``
(TP-V Sec. 4 for the 1/d logits); zero for SP's 1/sqrt(d).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .exponents import EMBEDDING, HALF, HIDDEN, READOUT, fmt
from .formats import crossing_width, get_format, overflow_fraction, underflow_fraction
from .minmax import smax
from .optimizers import get_optimizer
from .recursion import Chain
from .rules_table import Rules
from .solve import update_exponents

ZERO = sympy.Integer(0)
FORWARD_ROLES = ("weight", "effective_weight", "input", "output")
GRADIENT_ROLES = ("grad_output", "grad_matmul", "grad_input", "grad_weight")
UPDATE_ROLES = ("update",)
MOMENT_ROLES = ("adam_m", "adam_sqrt_v", "adam_v")
ROLES = FORWARD_ROLES + GRADIENT_ROLES + UPDATE_ROLES + MOMENT_ROLES
MATRIX_KINDS = (EMBEDDING, HIDDEN, READOUT)
#: optimizers that keep Adam's first and second moments
MOMENT_OPTIMIZERS = ("adam", "adamw", "adam-atan2")

# A sum over the width-n dimension of independent terms grows as n^(1/2) (CLT); over a fixed
# dimension as n^0.  Forward: the embedding sums over its fixed fan-in; backward: the readout
# sums over its fixed fan-out.
_FORWARD_FAN = {EMBEDDING: ZERO, HIDDEN: HALF, READOUT: HALF}
_BACKWARD_FAN = {EMBEDDING: ZERO, HIDDEN: HALF, READOUT: ZERO}


@dataclass(frozen=True)
class RoleExponent:
    """RMS ~ n^exponent for one tensor role of one layer kind, with the reason."""

    kind: str
    role: str
    exponent: sympy.Expr
    why: str

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "role": self.role,
            "exponent": fmt(self.exponent),
            "why": self.why,
        }


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown tensor role {role!r}; accepted: {', '.join(ROLES)}")
    return role


def role_exponents(
    rules: Rules, trained: bool = False, attention: str | None = None
) -> dict[tuple[str, str], RoleExponent]:
    """Per (layer kind, role): the width exponent of the tensor's RMS, derived from ``rules``.

    ``trained=False`` describes initialisation; ``trained=True`` a few steps in, when updates of
    size n^-k have landed (alignment as in the rules).  Positions of one kind along the chain are
    pooled with the largest exponent (the one that leaves the range first at large width).
    ``attention="qk"``: the hidden kind is an attention query or key (see the module docstring).
    """
    if attention not in (None, "qk"):
        raise ValueError(f"attention = {attention!r}; accepted: None, 'qk'")
    syms = tuple(rules.alignment.symbols)
    opt = get_optimizer(rules.optimizer)
    chain = Chain.mlp(rules.hidden_layers)
    a, b, c = rules.exponents("a"), rules.exponents("b"), rules.exponents("c")
    ks = update_exponents(a, b, c, opt, chain, syms)
    r_chain = list(rules.r_chain) or [rules[k].r for k in chain.kinds]
    s = {kind: sympy.expand(a[kind] + b[kind]) for kind in MATRIX_KINDS}

    inputs, outputs = _forward(chain, s, r_chain if trained else None, syms)
    grad_in, grad_out = _backward(chain, s, ks if trained else None, rules.alignment, syms)
    result: dict[tuple[str, str], RoleExponent] = {}
    when = "after training" if trained else "at init"
    for kind in MATRIX_KINDS:
        pos_list = chain.positions(kind)

        def pooled(values, positions=pos_list):
            return sympy.expand(smax([values[p] for p in positions], syms))

        k = pooled(ks)
        x_in, g_out = pooled(inputs), pooled(grad_out)
        qk = ""
        if attention == "qk" and kind == HIDDEN:
            g_out = sympy.expand(g_out + HALF - rules.attention_logit_exponent)
            qk = f"; through the attention logits d_head^-{fmt(rules.attention_logit_exponent)}"
        rows = _rows(kind, a[kind], b[kind], k, trained, x_in, pooled(outputs), g_out, syms)
        rows["grad_output"] = (g_out, "backward from width-free logit gradients" + qk)
        rows["grad_input"] = (
            pooled(grad_in),
            "grad_output x W^T summed over "
            + ("the width (n^1/2)" if _BACKWARD_FAN[kind] else "a fixed fan-out"),
        )
        rows["update"] = (
            sympy.expand(a[kind] - k),
            f"{opt.name} moves n^-a w by n^-k (k = {fmt(k)}), so w by n^(a-k)",
        )
        if opt.name in MOMENT_OPTIMIZERS:
            grad_w = rows["grad_weight"][0]
            rows["adam_m"] = (grad_w, "an average of dL/dw")
            rows["adam_sqrt_v"] = (grad_w, "the RMS of dL/dw")
            rows["adam_v"] = (sympy.expand(2 * grad_w), "the mean square of dL/dw")
        for role in _ROLE_ORDER + tuple(r for r in rows if r not in _ROLE_ORDER):
            expr, why = rows[role]
            result[(kind, role)] = RoleExponent(kind, role, sympy.expand(expr), why + f" ({when})")
    return result


#: The order of the roles in a result (as the rows were first written).
_ROLE_ORDER = (
    "weight",
    "effective_weight",
    "input",
    "output",
    "grad_output",
    "grad_matmul",
    "grad_input",
    "grad_weight",
    "update",
)


def _forward(chain: Chain, s: dict, r_chain: list | None, syms) -> tuple[list, list]:
    """(input, output) exponents per chain position; with ``r_chain`` (trained) each output is
    also at least its feature change n^-r.  Data enter at a fixed scale."""
    inputs, outputs = [], []
    x = ZERO
    for pos, kind in enumerate(chain.kinds):
        inputs.append(x)
        y = sympy.expand(-s[kind] + _FORWARD_FAN[kind] + x)
        if r_chain is not None:
            y = smax([y, -r_chain[pos]], syms)
        outputs.append(y)
        x = y  # an elementwise nonlinearity keeps the exponent
    return inputs, outputs


def _backward(chain: Chain, s: dict, ks: list | None, alignment, syms) -> tuple[list, list]:
    """(grad_input, grad_output) exponents per position, from width-free logit gradients
    (softmax minus one-hot); with ``ks`` (trained) dW^T g adds n^-k entries aligned with g over
    the width sum (alpha)."""
    grad_out = [ZERO] * len(chain.kinds)
    grad_in = [ZERO] * len(chain.kinds)
    g = ZERO
    for pos in reversed(range(len(chain.kinds))):
        kind = chain.kinds[pos]
        grad_out[pos] = g
        terms = [-s[kind] + _BACKWARD_FAN[kind]]
        if ks is not None:
            alpha = alignment.at(kind).alpha if kind == HIDDEN else ZERO
            terms.append(-ks[pos] + alpha)
        g = sympy.expand(smax(terms, syms) + g)
        grad_in[pos] = g
    return grad_in, grad_out


def _rows(kind, a, b, k, trained: bool, x_in, y_out, g_out, syms) -> dict[str, tuple]:
    """The weight, input and output rows of one kind: (exponent, why)."""
    s = sympy.expand(a + b)
    when = "after training" if trained else "at init"
    w = -b if not trained else smax([-b, a - k], syms)
    w_eff = -s if not trained else smax([-s, -k], syms)
    return {
        "weight": (
            w,
            f"w has init std n^-b (b = {fmt(b)})"
            + ("" if not trained else f"; updates of n^(a-k) = n^{fmt(a - k)}"),
        ),
        "effective_weight": (
            w_eff,
            f"n^-a w: n^-(a+b) = n^-{fmt(s)}"
            + ("" if not trained else f"; updates n^-k = n^-{fmt(k)}"),
        ),
        "input": (x_in, f"output of the layer below {when} (data for the embedding)"),
        "output": (
            y_out,
            "n^-(a+b) x input, summed over "
            + ("the width (n^1/2)" if _FORWARD_FAN[kind] else "a fixed fan-in")
            + ("" if not trained else ", max with the feature change n^-r"),
        ),
        "grad_matmul": (
            sympy.expand(-a + g_out),
            "n^-a x grad_output: what reaches x w^T when n^-a scales its result",
        ),
        "grad_weight": (
            sympy.expand(-a + g_out + x_in),
            "dL/dw = n^-a x grad_output x input, a batch sum",
        ),
    }


def role_exponent(rules: Rules, kind: str, role: str, trained: bool = False) -> sympy.Expr:
    """One entry of :func:`role_exponents`, with clear errors for an unknown kind or role."""
    _check_role(role)
    if kind not in MATRIX_KINDS:
        raise ValueError(f"unknown layer kind {kind!r}; accepted: {', '.join(MATRIX_KINDS)}")
    table = role_exponents(rules, trained)
    if (kind, role) not in table:
        raise ValueError(f"role {role!r} does not exist for optimizer {rules.optimizer!r}")
    return table[(kind, role)].exponent


@dataclass(frozen=True)
class Prediction:
    """One tensor's predicted RMS and Gaussian out-of-range fractions across widths."""

    layer: str
    kind: str
    role: str
    exponent: sympy.Expr
    rms_base: float
    format: str
    widths: tuple[int, ...]
    rms: tuple[float, ...]
    underflow: tuple[float, ...]
    overflow: tuple[float, ...]
    underflow_1pct_width: float | None
    overflow_1pct_width: float | None

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "kind": self.kind,
            "role": self.role,
            "exponent": fmt(self.exponent),
            "rms_base": self.rms_base,
            "format": self.format,
            "widths": list(self.widths),
            "rms": list(self.rms),
            "underflow": list(self.underflow),
            "overflow": list(self.overflow),
            "underflow_1pct_width": self.underflow_1pct_width,
            "overflow_1pct_width": self.overflow_1pct_width,
        }


def predict(
    rules: Rules,
    measured: dict[tuple[str, str, str], float],
    base_width: float,
    widths,
    forward_format: str = "e4m3",
    gradient_format: str | None = None,
    trained: bool = False,
    level: float = 0.01,
    qk_layers=(),
) -> list[Prediction]:
    """Predicted RMS and out-of-range fractions at ``widths`` for tensors measured at the base.

    ``measured`` maps (layer name, layer kind, role) to the RMS at ``base_width``; the RMS at
    width n is ``measured * (n / base_width)^e`` with e from :func:`role_exponents`.  Gradient
    roles use ``gradient_format`` (default: the forward one).  The fractions assume zero-mean
    Gaussian entries (:mod:`abcparam.engine.formats`).  ``qk_layers``: attention queries/keys.
    """
    fwd = get_format(forward_format)
    grad = get_format(gradient_format) if gradient_format is not None else fwd
    table = role_exponents(rules, trained)
    table_qk = role_exponents(rules, trained, attention="qk")
    qk_layers = set(qk_layers)
    widths = tuple(int(w) for w in widths)
    out = []
    for (layer, kind, role), rms_base in measured.items():
        _check_role(role)
        if (kind, role) not in table:
            continue
        e = (table_qk if layer in qk_layers else table)[(kind, role)].exponent
        if e.free_symbols:
            raise ValueError(
                f"{kind} {role} has a symbolic exponent {fmt(e)}; derive with a numeric alignment"
            )
        f = grad if role in GRADIENT_ROLES else fwd
        rms = tuple(float(rms_base) * (w / base_width) ** float(e) for w in widths)
        out.append(
            Prediction(
                layer,
                kind,
                role,
                e,
                float(rms_base),
                f.name,
                widths,
                rms,
                tuple(underflow_fraction(s, f) for s in rms),
                tuple(overflow_fraction(s, f) for s in rms),
                crossing_width(rms_base, base_width, e, f, level, "underflow"),
                crossing_width(rms_base, base_width, e, f, level, "overflow"),
            )
        )
    return out
