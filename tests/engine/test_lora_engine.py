"""LoRA with the rank as a symbol: the published rules come out of the derivation (Hu et al. 2021,
rsLoRA, LoRA+), each under the assumption that produces it, and bad input is refused."""

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from abcparam import published
from abcparam.engine.lora import R, Scale, lora_rules

HALF = sympy.Rational(1, 2)
n = sympy.Symbol("n", positive=True)


def _exp(value: str) -> sympy.Expr:
    return sympy.sympify(value)


def test_lora_alpha_over_r_from_coherent_rank_sums_under_adam():
    """Hu et al. 2021's alpha/r: Adam's first steps build dB ~ g h^T from the h it multiplies."""
    r = lora_rules("adam", rank_alignment=1)
    assert r.multiplier.rank == _exp(published.LORA_MULTIPLIER["rank"])
    assert r.multiplier.width == 0 and r.B.lr == Scale(0, 0)


def test_rslora_sqrt_r_from_incoherent_rank_sums_under_adam_or_coherent_under_sgd():
    """rsLoRA's alpha/sqrt(r) comes out twice: Adam with rank sums as good as independent (1/2),
    and SGD with coherent ones (B's SGD step carries the multiplier, so s enters squared)."""
    want = _exp(published.RSLORA_MULTIPLIER["rank"])
    assert lora_rules("adam", rank_alignment="1/2").multiplier.rank == want
    assert lora_rules("sgd", rank_alignment=1).multiplier.rank == want


def test_loraplus_lr_ratio_is_theta_n_for_adam_on_a_hidden_layer():
    ratio = lora_rules("adam").lr_ratio
    assert ratio.width == _exp(published.LORAPLUS_LR_RATIO["width"]) and ratio.rank == 0
    # and under no width alignment the ratio shrinks to sqrt(n): the claim rests on alignment
    assert lora_rules("adam", alignment="none").lr_ratio.width == -HALF


def test_loraplus_sgd_toy_model_gives_the_same_ratio():
    """LoRA+'s SGD toy model: one adapted layer with a fixed-size output and the loss on it
    (backward exponent 0): eta_B / eta_A = Theta(n) again."""
    r = lora_rules("sgd", kind="readout", backward=0)
    assert r.lr_ratio.width == -1


@pytest.mark.parametrize("rank_alignment", [1, "1/2", "3/4"])
def test_lora_muon_needs_no_rank_factor_in_its_multiplier(rank_alignment):
    """Muon fixes operator norms: s dB h no longer sums r aligned entries, so the multiplier is
    rank-free at a rank-free LR (LoRA-Muon's transfer across rank); Keller's shape factor is 1 on
    the r x n factor A, whose LR then needs sqrt(r / n)."""
    r = lora_rules("muon", rank_alignment=rank_alignment)
    assert r.multiplier == Scale(0, 0)
    assert r.A.lr == Scale(HALF, -HALF)
    # Moonshot's RMS-matching factor makes entries Adam-sized again: rsLoRA's sqrt(r) returns
    assert lora_rules("muon-rms").multiplier.rank == HALF


@given(
    st.sampled_from(["adam", "adamw", "lion", "sgd", "muon", "muon-rms"]),
    st.sampled_from([1, "1/2", "2/3", "3/4", "5/6"]),
    st.sampled_from(["full", "none", "3/4"]),
)
def test_gauges_agree_the_lr_follows_a_given_multiplier(optimizer, rank_alignment, alignment):
    """Holding B's LR rank-free and deriving s, or giving that s and deriving the LR, is one
    parametrization: the same LRs come back."""
    free = lora_rules(optimizer, rank_alignment=rank_alignment, alignment=alignment)
    given_s = lora_rules(
        optimizer,
        rank_alignment=rank_alignment,
        alignment=alignment,
        gauge="multiplier",
        multiplier=free.multiplier.rank,
    )
    assert given_s.B.lr == free.B.lr and given_s.A.lr == free.A.lr


def test_a_fixed_alpha_over_r_under_incoherent_sums_moves_the_lr_with_rank():
    """With LoRA's alpha/r kept but rank sums at 1/2, B's LR must grow like sqrt(r): the
    LR drift across rank that a sweep can measure."""
    r = lora_rules("adam", rank_alignment="1/2", gauge="multiplier", multiplier="lora")
    assert r.B.lr == Scale(0, -HALF)
    assert r.B.lr.factor() == sympy.sqrt(R)


def test_init_and_decay_and_rendering():
    r = lora_rules("adamw")
    assert r.A.init == Scale(HALF, 0) and r.B.init is None
    assert r.A.wd == Scale(-1, 0) and r.B.wd == Scale(0, 0)  # coupled: lambda ~ 1 / lr
    assert lora_rules("adamw", weight_decay="independent").A.wd == Scale(0, 0)
    assert lora_rules("adam").A.wd is None  # Adam's decay is L2: no rule
    d = r.to_dict()
    assert d["multiplier"] == {"width": "0", "rank": "1"} and d["factors"]["B"]["init"] is None
    assert "zero init" in r.to_markdown() and "\\frac{1}{n}" in r.to_markdown()
    assert all(r.why[key] for key in ("h", "rank_alignment", "update", "multiplier", "lr_A"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rank_alignment": 2}, "rank_alignment = 2 lies outside the accepted range"),
        ({"alignment": "1/4"}, "alignment = '1/4' lies outside"),
        ({"kind": "bias"}, "kind 'bias' is not one"),
        ({"optimizer": "adafactor"}, "accepted for LoRA: sgd, adam"),
        ({"gauge": "both"}, "gauge = 'both'; accepted: lr, multiplier"),
        ({"gauge": "multiplier", "multiplier": "dora"}, "accepted: lora, rslora, none"),
        ({"optimizer": "muon", "kind": "readout"}, "LoRA-Muon is derived for hidden"),
        ({"weight_decay": "l2"}, "accepted: coupled, independent"),
        ({"optimizer": "adamax"}, "unknown optimizer"),
    ],
)
def test_bad_input_names_the_value_and_the_accepted_ones(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lora_rules(**kwargs)
