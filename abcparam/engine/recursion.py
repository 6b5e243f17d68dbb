"""The feature-change recursion (Everett et al. 2024, App. constraint table; book page "Conventions").

After an update, layer l's pre-activation changes by ``dz_l = dW z0 + W0 dz_{l-1} + dW dz_{l-1}``
with ``dz_l = Theta(n^-r_l)``:

    r_1     = k_1                                                   (embedding, fixed fan-in)
    r_l     = min(k_l - alpha_l, k_l + r_{l-1} - u_l, (a_l+b_l) + r_{l-1} - omega_l)   (l > 1)

Every ``min`` enters with a positive sign, so each ``r_l`` is a min over affine *forms*; ``r_l >= 0``
is a conjunction of linear inequalities.  Each form remembers which terms produced it, so a derived
exponent can say which constraint fixed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from .alignment import Triple
from .exponents import EMBEDDING, HIDDEN, READOUT, VECTOR_KINDS
from .minmax import smin

#: The terms a form can come from: the three width sums of a matrix layer, and the steps of the
#: embedding and the elementwise kinds (no width sum).
REASON_KINDS = ("dW·z0", "W0·dz", "dW·dz", "update dW·x", "r = k", "its own update", "passes on")


@dataclass(frozen=True)
class Reason:
    """Which term of which layer produced a form of r, and the reason of the form it builds on
    (``below``: the layer below's r, or the embedding's update); ``str`` is the sentence shown in
    a derived exponent's ``why``."""

    layer: str  # the chain position, e.g. "hidden[1]"
    kind: str  # one of REASON_KINDS
    alignment: sympy.Expr | None = None  # the exponent the term carries: alpha, omega or u
    below: Reason | None = None

    def __post_init__(self) -> None:
        if self.kind not in REASON_KINDS:
            raise ValueError(f"reason kind {self.kind!r}; accepted: {', '.join(REASON_KINDS)}")

    def path(self) -> tuple[tuple[str, str], ...]:
        """The (layer, term) steps this form went through, from the input upwards."""
        below = self.below.path() if self.below is not None else ()
        return below + ((self.layer, self.kind),)

    def __str__(self) -> str:
        below = "" if self.below is None else str(self.below)
        head = f"{self.layer}: "
        if self.kind == "r = k":
            return head + "r = k"
        if self.kind == "update dW·x":
            return head + f"update dW·x, r = k ({below})"
        if self.kind == "its own update":
            return head + "its own update, r = k"
        if self.kind == "passes on":
            return head + f"passes on r_prev from [{below}]"
        if self.kind == "dW·z0":
            return head + f"dW·z0 ~ n^(alpha - k), alpha = {self.alignment}"
        if self.kind == "dW·dz":
            return head + f"dW·dz ~ n^(u - k - r_prev), u = {self.alignment}; r_prev from [{below}]"
        return (
            head + f"W0·dz ~ n^(omega - a - b - r_prev), omega = {self.alignment}; "
            f"r_prev from [{below}]"
        )


#: An affine exponent and the reason that produced it (None for a given, unexplained form).
Form = tuple[sympy.Expr, "Reason | None"]


@dataclass(frozen=True)
class Chain:
    """The layers a signal passes through, in forward order: embedding, hidden..., readout."""

    kinds: tuple[str, ...]

    @classmethod
    def mlp(cls, hidden_layers: int = 2) -> Chain:
        if not isinstance(hidden_layers, int) or hidden_layers < 1:
            raise ValueError(f"hidden_layers = {hidden_layers!r}: need an int >= 1")
        return cls((EMBEDDING,) + (HIDDEN,) * hidden_layers + (READOUT,))

    @property
    def names(self) -> tuple[str, ...]:
        names: list[str] = []
        seen: dict[str, int] = {}
        for kind in self.kinds:
            seen[kind] = seen.get(kind, 0) + 1
            names.append(f"{kind}[{seen[kind]}]" if self.kinds.count(kind) > 1 else kind)
        return tuple(names)

    def positions(self, kind: str) -> list[int]:
        return [i for i, k in enumerate(self.kinds) if k == kind]


def _dedupe(forms: list[Form]) -> list[Form]:
    seen: dict[sympy.Expr, Form] = {}
    for expr, label in forms:
        key = sympy.expand(expr)
        if key not in seen:
            seen[key] = (key, label)
    return list(seen.values())


def r_forms(
    chain: Chain,
    k_forms: Sequence[Sequence[Form]],
    s: Sequence[sympy.Expr],
    triples: Sequence[Triple | None],
) -> list[list[Form]]:
    """Forms of r at every chain position.

    k_forms[i]: the update exponent of position i as a min over forms; s[i] = a_i + b_i;
    triples[i]: the alignment (alpha, omega, u) at position i (None for the embedding).
    """
    out: list[list[Form]] = []
    for pos, name in enumerate(chain.names):
        forms: list[Form]
        if pos == 0:
            forms = [
                (k, Reason(name, "update dW·x", below=kl) if kl else Reason(name, "r = k"))
                for k, kl in k_forms[0]
            ]
        elif chain.kinds[pos] in VECTOR_KINDS + (EMBEDDING,):
            # elementwise (bias add, norm gain): d(g*x) = dg*x + g*dx, no width sum
            forms = [(k, Reason(name, "its own update")) for k, _ in k_forms[pos]]
            forms += [(p, Reason(name, "passes on", below=pl)) for p, pl in out[pos - 1]]
        else:
            t = triples[pos]
            assert t is not None, "a matrix layer has an alignment triple"
            forms = _matrix_forms(name, k_forms[pos], s[pos], t, out[pos - 1])
        out.append(_dedupe(forms))
    return out


def _matrix_forms(
    name: str, k_forms: Sequence[Form], s: sympy.Expr, t: Triple, prev: list[Form]
) -> list[Form]:
    """The forms of a width-summing layer's r: dW·z0 and dW·dz per update form, W0·dz per form of
    the layer below."""
    forms: list[Form] = []
    for k, _kl in k_forms:
        forms.append((k - t.alpha, Reason(name, "dW·z0", t.alpha)))
        forms.extend((k + p - t.u, Reason(name, "dW·dz", t.u, pl)) for p, pl in prev)
    forms.extend((s + p - t.omega, Reason(name, "W0·dz", t.omega, pl)) for p, pl in prev)
    return forms


def change_terms(
    k: sympy.Expr, s: sympy.Expr, t: Triple, r_in: sympy.Expr, s_x: sympy.Expr = sympy.S.Zero
) -> dict[str, sympy.Expr]:
    """The r-exponent of each term of ``dz = dW z0 + W0 dz_in + dW dz_in`` (the recursion, book page "Conventions"):
    ``k - alpha - s_x``, ``a + b + r_in - omega``, ``k + r_in - u``; ``s_x`` is the input's own
    width slope (0 in a stable network; a measured one in a coordinate check)."""
    return {"alpha": k - t.alpha - s_x, "omega": s + r_in - t.omega, "u": k + r_in - t.u}


def r_terms(
    chain: Chain,
    ks: Sequence[sympy.Expr],
    s: Sequence[sympy.Expr],
    triples: Sequence[Triple | None],
    symbols=(),
    parents: Sequence[Sequence[int]] | None = None,
    input_r: Sequence[sympy.Expr | None] | None = None,
    input_scale: Sequence[sympy.Expr | None] | None = None,
) -> list[tuple[sympy.Expr, dict[str, sympy.Expr] | None]]:
    """(r, change terms) at every position for known update exponents ``ks``: the recursion of
    :func:`r_forms`, evaluated layer by layer (linear in depth, for long chains); the terms are
    None where there is no width sum (embedding, elementwise kinds).

    ``parents[i]`` lists the positions whose outputs feed position i (a residual stream sums
    several, so its change is the largest of theirs: r_in = min over parents); default i - 1.
    ``input_r[i]`` / ``input_scale[i]``, when given, replace that input's change exponent / its
    width slope at init (e.g. ones measured on the run)."""
    out: list[tuple[sympy.Expr, dict[str, sympy.Expr] | None]] = []
    for pos, kind in enumerate(chain.kinds):
        k = ks[pos]
        feeds = [pos - 1] if parents is None else list(parents[pos])
        if pos == 0 or not feeds:
            out.append((k, None))
            continue
        prev = smin([out[i][0] for i in feeds], symbols)
        if input_r is not None and input_r[pos] is not None:
            prev = input_r[pos]
        if kind in VECTOR_KINDS + (EMBEDDING,):
            out.append((smin([k, prev], symbols), None))
            continue
        s_x = (
            input_scale[pos]
            if input_scale is not None and input_scale[pos] is not None
            else sympy.Integer(0)
        )
        triple = triples[pos]
        assert triple is not None, "a matrix layer has an alignment triple"
        terms = change_terms(k, s[pos], triple, prev, s_x)
        r = smin(list(terms.values()), symbols)
        out.append((sympy.expand(r) if not r.has(sympy.Min, sympy.Max) else r, terms))
    return out


def r_values(
    chain: Chain,
    ks: Sequence[sympy.Expr],
    s: Sequence[sympy.Expr],
    triples: Sequence[Triple | None],
    symbols=(),
    parents: Sequence[Sequence[int]] | None = None,
    input_r: Sequence[sympy.Expr | None] | None = None,
) -> list[sympy.Expr]:
    """r at every position (see :func:`r_terms`)."""
    return [r for r, _ in r_terms(chain, ks, s, triples, symbols, parents, input_r)]
