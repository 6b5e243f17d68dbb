"""Published exponent tables, each value with its citation: the one place the tests and the book
read them from (the book page "Published tables and where they come from" renders this module).

The engine never imports this module: it derives every value, and the tests compare.  Tuples are
(embedding, hidden, readout); values are strings such as "1/2" so that nothing here is a float.
Conventions: ``W = n^-a w``, ``w ~ N(0, n^-2b)``, learning rate ``∝ n^-c``, Adam epsilon ``∝ n^-eps``.

How sure each value is (``Citation.confidence``):

- ``paper``: read in the paper's own pages;
- ``author``: the authors' slides or code;
- ``copy``: a third-party transcription of the paper's table (``copies`` says how many agree);
- ``derived``: computed from the paper's printed constraint system, not printed as a table.

To add a table: a module-level dict in the same form, and its :class:`Citation` in ``SOURCES``
under the dict's name (the test suite checks that every table has one).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paper:
    """A source: its BibTeX key in the book's references, short name, authors, year, arXiv id."""

    key: str
    short: str
    title: str
    authors: str
    year: int
    arxiv: str


@dataclass(frozen=True)
class Citation:
    """Where a published table comes from and how sure we are of each value."""

    paper: str  # a key of PAPERS
    where: str  # table / section / equation in the paper
    confidence: str  # "paper", "author", "copy" or "derived" (see the module docstring)
    note: str = ""
    copies: int = 0  # for "copy": how many independent transcriptions agree
    cells: dict = field(default_factory=dict)  # per-cell remarks, keyed like the table


CONFIDENCE = {
    "paper": "read in the paper itself",
    "author": "the authors' slides or code",
    "copy": "a third-party transcription of the paper's table",
    "derived": "computed from the paper's printed constraint system",
}

PAPERS = {
    "everett2024scaling": Paper(
        "everett2024scaling",
        "Everett et al. 2024",
        "Scaling Exponents Across Parameterizations and Optimizers (ICML 2024)",
        "Everett, Xiao, Wortsman, Alemi, Novak, Liu, Gur, Sohl-Dickstein, Kaelbling, Lee, "
        "Pennington",
        2024,
        "2407.05872",
    ),
    "yang2021tp4": Paper(
        "yang2021tp4",
        "TP-IV",
        "Feature Learning in Infinite-Width Neural Networks (Tensor Programs IV)",
        "Yang, Hu",
        2021,
        "2011.14522",
    ),
    "yang2022tp5": Paper(
        "yang2022tp5",
        "TP-V",
        "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer",
        "Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen, Gao",
        2022,
        "2203.03466",
    ),
    "blake2024umup": Paper(
        "blake2024umup",
        "u-μP",
        "u-μP: The Unit-Scaled Maximal Update Parametrization",
        "Blake, Eichenberg, Dean, Balles, Prince, Deiseroth, Cruz-Salinas, Luschi, Weinbach, Orr",
        2024,
        "2407.17465",
    ),
    "narayan2025munit": Paper(
        "narayan2025munit",
        "μnit Scaling",
        "μnit Scaling: Simple and Scalable FP8 LLM Training (ICML 2025)",
        "Narayan, Gupta, Paul, Blalock",
        2025,
        "2502.05967",
    ),
    "yang2023tp6": Paper(
        "yang2023tp6",
        "TP-VI",
        "Tensor Programs VI: Feature Learning in Infinite-Depth Neural Networks",
        "Yang, Yu, Zhu, Hayou",
        2023,
        "2310.02244",
    ),
    "dey2025completep": Paper(
        "dey2025completep",
        "CompleteP",
        "Don't be lazy: CompleteP enables compute-efficient deep transformers (NeurIPS 2025)",
        "Dey et al.",
        2025,
        "2505.01618",
    ),
    "wortsman2023small": Paper(
        "wortsman2023small",
        "Wortsman et al. 2023",
        "Small-scale proxies for large-scale Transformer training instabilities",
        "Wortsman et al.",
        2023,
        "2309.14322",
    ),
    "hu2021lora": Paper(
        "hu2021lora",
        "Hu et al. 2021",
        "LoRA: Low-Rank Adaptation of Large Language Models",
        "Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang, Chen",
        2021,
        "2106.09685",
    ),
    "kalajdzievski2023rslora": Paper(
        "kalajdzievski2023rslora",
        "Kalajdzievski 2023 (rsLoRA)",
        "A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA",
        "Kalajdzievski",
        2023,
        "2312.03732",
    ),
    "hayou2024loraplus": Paper(
        "hayou2024loraplus",
        "Hayou et al. 2024 (LoRA+)",
        "LoRA+: Efficient Low Rank Adaptation of Large Models",
        "Hayou, Ghosh, Yu",
        2024,
        "2402.12354",
    ),
}

# --- Everett et al. 2024 ------------------------------------------------------------------------

#: Per-layer learning-rate exponents c (Table 1), keyed (scheme, optimizer, alignment).
EVERETT_TABLE1_C = {
    ("sp", "sgd", "full"): ("-1/2", "1/2", "1"),
    ("sp", "sgd", "none"): ("-1/2", "0", "1/2"),
    ("sp", "adam", "full"): ("0", "1", "1"),
    ("sp", "adam", "none"): ("0", "1/2", "1/2"),
    ("sp", "adafactor", "full"): ("0", "1/2", "1/2"),
    ("sp", "adafactor", "none"): ("0", "0", "0"),
    ("ntp", "sgd", "full"): ("-1/2", "-1/2", "0"),
    ("ntp", "sgd", "none"): ("-1/2", "-1", "-1/2"),
    ("ntp", "adam", "full"): ("0", "1/2", "1/2"),
    ("ntp", "adam", "none"): ("0", "0", "0"),
    ("ntp", "adafactor", "full"): ("0", "1/2", "1/2"),
    ("ntp", "adafactor", "none"): ("0", "0", "0"),
    ("mup", "sgd", "full"): ("0", "0", "0"),
    ("mup", "adam", "full"): ("1/2", "1", "1/2"),
    ("mup", "adam", "none"): ("1/2", "1/2", "0"),
    ("mup", "adafactor", "full"): ("0", "1/2", "0"),
    ("mup", "adafactor", "none"): ("0", "0", "0"),
    ("mfp", "sgd", "full"): ("-1", "-1", "-1"),
    ("mfp", "adam", "full"): ("0", "1/2", "0"),
    ("mfp", "adam", "none"): ("0", "0", "-1/2"),
    ("mfp", "adafactor", "full"): ("0", "1/2", "0"),
    ("mfp", "adafactor", "none"): ("0", "0", "0"),
}

#: SGD without alignment, μP and MFP: the constraints give a front of equally maximal choices;
#: (printed end, the end where every layer is maximally updated).
EVERETT_SGD_NONE_FRONT = {
    "mup": (("0", "-1/2", "0"), ("1/2", "0", "-1/2")),
    "mfp": (("-1", "-3/2", "-1"), ("-1/2", "-1", "-3/2")),
}

#: (a, b) per layer: ((a_emb, b_emb), (a_hid, b_hid), (a_out, b_out)).
EVERETT_AB = {
    "sp": (("0", "0"), ("0", "1/2"), ("0", "1/2")),
    "ntp": (("0", "0"), ("1/2", "0"), ("1/2", "0")),
    "mup": (("-1/2", "1/2"), ("0", "1/2"), ("1/2", "1/2")),
    "mfp": (("0", "0"), ("1/2", "0"), ("1", "0")),
}

#: Gradient exponents at init = Adam epsilon exponents (eps_l ∝ n^-eps_l).
EVERETT_EPS = {
    "sp": ("1/2", "1/2", "0"),
    "ntp": ("1/2", "1", "1/2"),
    "mup": ("1/2", "1", "1/2"),
    "mfp": ("1", "3/2", "1"),
}

# --- Tensor Programs IV and V --------------------------------------------------------------------

#: One global SGD learning-rate exponent c and the resulting r (TP-IV Table 1), under TP-IV's
#: analysis (omega = 1 at the readout: alignment "tp4").
TP4_TABLE1 = {"sp": ("1", "1/2"), "ntp": ("0", "1/2"), "mfp": ("-1", "0"), "mup": ("0", "0")}

#: TP-V Table 3 (no multipliers): a, b and the SGD / Adam learning-rate exponents.
TPV_TABLE3 = {
    "a": ("0", "0", "0"),
    "b": ("0", "1/2", "1"),
    "sgd": ("-1", "0", "1"),
    "adam": ("0", "1", "1"),
}

#: TP-V Table 8 (multiplier only on the readout, whose init variance is 1).
TPV_TABLE8 = {
    "a": ("0", "0", "1"),
    "b": ("0", "1/2", "0"),
    "sgd": ("-1", "0", "-1"),
    "adam": ("0", "1", "0"),
}

#: TP-V Table 9 (= TP-IV's μP): Adam learning rates 1/sqrt(fan_out), 1/fan_in, 1/sqrt(fan_in).
TPV_TABLE9_ADAM = ("1/2", "1", "1/2")

# --- u-μP ----------------------------------------------------------------------------------------

#: Unit init b = 0, multipliers 1, 1/sqrt(fan-in), 1/fan-in; Adam LR eta/sqrt(fan-out) (embedding,
#: an empirical rule), eta/sqrt(fan-in), eta.
UMUP = {"a": ("0", "1/2", "1"), "b": ("0", "0", "0"), "adam": ("1/2", "1/2", "0")}

# --- μnit Scaling -------------------------------------------------------------------------------

#: Init variance 1 everywhere (b = 0); output multipliers 1 (input layer), 1/sqrt(fan_in)
#: (hidden), 1/fan_in (final); Adam-like LR 1 (input), 1/sqrt(fan_in) (hidden; their
#: eta*sqrt(d_base/d)), 1 (final).
MUNIT = {"a": ("0", "1/2", "1"), "b": ("0", "0", "0"), "adam": ("0", "1/2", "0")}

# --- Depth (a second symbol L = number of residual blocks) --------------------------------------
# Depth exponents e mean a factor L^-e (the engine's sign); "alpha" is the branch exponent
# (multiplier L^-alpha).  Values are strings in alpha, evaluated at the scheme's alpha.
#
# TP-VI (Yang, Yu, Zhu & Hayou 2023, arXiv 2310.02244), Table 1 [paper]: Depth-muP has branch
# multiplier a/sqrt(L) and LR eta (SGD), eta/sqrt(L) (Adam); no depth factor in init (Def. 6.2).
TPVI_TABLE1 = {"branch": "1/2", "init": "0", "sgd": "0", "adam": "1/2"}

# CompleteP (Dey et al. 2025, arXiv 2505.01618), Table 1 [paper], its depth column (alpha in
# {1/2, 1}; CompleteP = alpha 1); pre-LN transformer with AdamW.  (kind, in a block?) -> exponent.
COMPLETEP_TABLE1 = {
    "branch": "alpha",  # residual X + m_L^-alpha F(LN(X))
    "init": {"embedding": "0", "hidden": "0", "norm": "0", "readout": "0"},
    "lr": {
        ("embedding", False): "0",
        ("norm", True): "1 - alpha",  # pre-LN gain LR eta m_L^(alpha - 1)
        ("hidden", True): "1 - alpha",  # eta m_N^-1 m_L^(alpha - 1)
        ("bias", True): "1 - alpha",  # hidden bias LR eta m_L^(alpha - 1)
        ("norm", False): "0",  # final LN
        ("readout", False): "0",  # unembedding
    },
    "eps_in_blocks": "alpha",  # eps m_N^-1 m_L^-alpha, residual blocks only
    "hidden_weight_decay": "0",  # lambda m_N: no depth factor (table, both alpha)
}
# CompleteP's width column (muP, same table) in its own coordinates (readout forward XW^T m_N^-1):
# LR exponents embedding 0, hidden 1, readout 0; eps in blocks m_N^-1.
COMPLETEP_TABLE1_WIDTH = {"lr": ("0", "1", "0"), "eps_hidden": "1"}
# The authors' code (EleutherAI/nanoGPT-mup, branch completep, model.py) [code]: the same LR and
# residual factors, but eps x m_L^-alpha for EVERY parameter (embedding, final LN, unembedding too).
COMPLETEP_CODE_EPS_OUTSIDE = "alpha"
# The authors' toy-model notebook [code]: SGD LR lr N (L/L0)^(2 alpha - 1), Adam lr/sqrt(N)
# (L/L0)^(alpha - 1), eps (L/L0)^-alpha (hidden weights).
COMPLETEP_NOTEBOOK = {"sgd": "1 - 2*alpha", "adam": "1 - alpha", "eps": "alpha"}

# u-muP's depth rule [code: unit_scaling.optim.lr_scale_for_depth, every LR x depth^-1/2 for
# parameters under a depth container; core.functional.transformer_residual_scaling_rule: branch
# weights tau ~ 1/sqrt(L)].  The library applies the LR factor to SGD too (its SGD steps are
# unit-scaled, i.e. normalised); the paper's tables give Adam only.
UMUP_DEPTH = {"branch": "1/2", "adam": "1/2"}

# --- Weight decay, Muon, Lion ------------------------------------------------------------------

# Weight decay with width, written (embedding, hidden, readout) as exponents wd of lambda ~ n^-wd
# next to the LR exponent c, both in TP-V Table 8's readout-multiplier coordinates:
# - CompleteP (Dey et al. 2025, arXiv 2505.01618), Table 1 [paper + code]: hidden weight decay
#   lambda * m_N with learning rate eta * m_N^-1 (m_N = width multiplier): c = 1, wd = -1;
# - microsoft/mup `MuAdam` [code]: matrix-like parameters get lr / width_mult and
#   weight_decay * width_mult, vector-like ones (embedding, readout, biases, gains) keep both.
# Both keep the per-step decay lr * lambda width-independent: the "coupled" convention.
COMPLETEP_HIDDEN_ADAMW = {"c": "1", "wd": "-1"}
MUADAM_WD = {"c": ("0", "1", "0"), "wd": ("0", "-1", "0")}
# Wortsman et al. 2023 (arXiv 2309.14322) [copy]: independent weight decay 1e-4 at every size
# (p <- p(1 - lambda)): wd = 0 for every kind.
WORTSMAN_INDEPENDENT_WD = ("0", "0", "0")

# Muon (Keller Jordan 2024, blog "Muon: An optimizer for hidden layers") [copy]: with the
# shape factor sqrt(max(1, A/B)) ("original") the optimal LR "should be constant as a function
# of scale": hidden c = 0 under muP.
MUON_ORIGINAL_HIDDEN_C = "0"
# Liu et al. 2025 ("Muon is Scalable for LLM Training", arXiv 2502.16982), Lemma 1 [paper]: a
# full-rank [A, B] orthogonalised update has entry RMS sqrt(1 / max(A, B)); the factor
# 0.2 sqrt(max(A, B)) then gives entries of AdamW's size (RMS 0.2), width-independent: the
# entry exponent of the update equals Adam's, k = a + c, in every matrix kind.
MOONSHOT_ENTRY_RMS_EXPONENT = "1/2"  # RMS of a full-rank orthogonalised n x n matrix ~ n^-1/2

# muNit Scaling (Narayan et al. 2025, arXiv 2502.05967), App. A.4 [copy]: "Lion is an
# 'Adam-like' optimizer, so the muP rules with Adam are applicable to Lion as well".
LION_AS_ADAM = True

# LoRA (engine/lora.py derives these with the rank r as a symbol).  Exponents y of r^-y and x of
# n^-x, as strings.
# Hu et al. 2021, Sec. 4.1 [paper]: the adapter's output is scaled by alpha / r.
LORA_MULTIPLIER = {"rank": "1"}
# Kalajdzievski 2023, abstract and main theorem [paper]: alpha / sqrt(r) keeps learning
# rank-stable ("rank-stabilized" adapters).
RSLORA_MULTIPLIER = {"rank": "1/2"}
# Hayou et al. 2024, abstract [paper]: the two factors need different LRs, eta_B / eta_A =
# Theta(n), from a width-limit analysis of Adam (their toy model for SGD gives the same ratio).
LORAPLUS_LR_RATIO = {"width": "-1"}

# --- where each table comes from -----------------------------------------------------------------

SOURCES: dict[str, Citation] = {
    "EVERETT_TABLE1_C": Citation(
        "everett2024scaling",
        "Table 1 (per-layer learning-rate exponents, full and no alignment)",
        "copy",
        "Two transcriptions agree for Adam, one for SGD and Adafactor; every cell is also "
        "derived from the paper's printed constraint table. Adam-atan2 has Adam's exponents.",
        copies=2,
        cells={
            ("mfp", "adam", "none"): "one transcription prints +1/2 for the readout; the "
            "constraints, the symmetry from μP and a second transcription give -1/2",
            ("sp", "adafactor", "none"): "0 everywhere because of the printed bound c ≥ 0 (also "
            "in the paper's Table E1)",
        },
    ),
    "EVERETT_SGD_NONE_FRONT": Citation(
        "everett2024scaling",
        "Table 1, SGD / no alignment, μP and MFP",
        "copy",
        "The single transcription prints the first end of the front (smallest sum of c), where "
        "the logits are trivial (r_readout = 1/2); only the second end keeps every layer "
        "maximally updated, and abcparam returns it and reports the front.",
        copies=1,
    ),
    "EVERETT_AB": Citation(
        "everett2024scaling",
        "Sec. 2 / Table 1 rows: (a, b) of SP, NTK, μP, MFP",
        "copy",
        "Consistent with TP-IV Table 1.",
        copies=2,
    ),
    "EVERETT_EPS": Citation(
        "everett2024scaling",
        "Adam epsilon section (per-layer epsilon scaling)",
        "derived",
        "The paper shows per-layer epsilon scaling but prints no formula; these are the "
        "gradient exponents at initialisation, also found in one transcription.",
    ),
    "TP4_TABLE1": Citation(
        "yang2021tp4",
        "Table 1",
        "paper",
        "One global SGD learning rate (Def. 3.2, Thm 3.3). SP at its largest stable global rate is in the kernel regime (r = 1/2).",
    ),
    "TPV_TABLE3": Citation(
        "yang2022tp5",
        "Table 3 (μP without multipliers)",
        "paper",
        "Init variance 1/fan_in (input, hidden) and 1/fan_in² (output); SGD LR fan_out, 1, 1; "
        "Adam LR 1, 1/fan_in, 1/fan_in: Everett's μP after the abc-symmetry.",
    ),
    "TPV_TABLE8": Citation(
        "yang2022tp5",
        "Table 8 (readout multiplier 1/fan_in, as in microsoft/mup)",
        "paper",
    ),
    "TPV_TABLE9_ADAM": Citation(
        "yang2022tp5",
        "Table 9 (TP-IV's μP, Adam column)",
        "paper",
    ),
    "UMUP": Citation(
        "blake2024umup",
        "u-μP rules (the authors' slides and their unit-scaling library)",
        "author",
        "The embedding learning rate 1/sqrt(fan-out) is empirical: the paper offers no "
        "derivation, and it departs from maximal update (r_embedding = 1/2).",
    ),
    "MUNIT": Citation(
        "narayan2025munit",
        "Table 2",
        "copy",
        "u-μP without its embedding rule; also Res-Post-LayerNorm and FP8 hidden matmuls.",
        copies=1,
    ),
    "TPVI_TABLE1": Citation(
        "yang2023tp6",
        "Table 1 (Depth-μP)",
        "paper",
        "Branch multiplier a/sqrt(L); LR eta (SGD), eta/sqrt(L) (Adam); no depth factor in the "
        "init (Def. 6.2). Depth exponents e mean a factor L^-e.",
    ),
    "COMPLETEP_TABLE1": Citation(
        "dey2025completep",
        "Table 1, depth column (alpha in {1/2, 1}; CompleteP = alpha 1)",
        "paper",
        "Pre-LN transformer with AdamW; (kind, inside a residual block?) -> LR depth exponent.",
    ),
    "COMPLETEP_TABLE1_WIDTH": Citation(
        "dey2025completep",
        "Table 1, width column (μP in its own coordinates)",
        "paper",
    ),
    "COMPLETEP_NOTEBOOK": Citation(
        "dey2025completep",
        "the authors' toy-model notebook",
        "author",
        "SGD LR lr N (L/L0)^(2 alpha - 1), Adam lr/sqrt(N) (L/L0)^(alpha - 1), eps (L/L0)^-alpha.",
    ),
    "UMUP_DEPTH": Citation(
        "blake2024umup",
        "the unit-scaling library's depth rule (lr_scale_for_depth, residual scaling)",
        "author",
        "Every LR times depth^-1/2 under a depth container, SGD included; the paper's tables give "
        "Adam only.",
    ),
    "COMPLETEP_HIDDEN_ADAMW": Citation(
        "dey2025completep",
        "Table 1 (hidden weight decay lambda m_N with LR eta m_N^-1)",
        "paper",
        "c = 1, wd = -1 in TP-V Table 8's coordinates: the per-step decay lr * lambda is "
        "width-independent.",
    ),
    "MUADAM_WD": Citation(
        "yang2022tp5",
        "microsoft/mup's MuAdam (the authors' library)",
        "author",
        "Matrix-like parameters: lr / width_mult and weight_decay * width_mult; vector-like keep "
        "both.",
    ),
    "LORA_MULTIPLIER": Citation(
        "hu2021lora", "Sec. 4.1 (the alpha / r scaling of the adapter)", "paper"
    ),
    "RSLORA_MULTIPLIER": Citation(
        "kalajdzievski2023rslora",
        "abstract (alpha / sqrt(r))",
        "paper",
        "Read in the abstract only; the engine reproduces it with incoherent rank sums under "
        "Adam, or coherent ones under SGD.",
    ),
    "LORAPLUS_LR_RATIO": Citation(
        "hayou2024loraplus",
        "abstract (eta_B / eta_A = Theta(n))",
        "paper",
        "Read in the abstract only.",
    ),
    "WORTSMAN_INDEPENDENT_WD": Citation(
        "wortsman2023small",
        "training setup (independent weight decay 1e-4 at every size)",
        "copy",
        "wd = 0 for every kind.",
        copies=1,
    ),
}


def citation(name: str) -> Citation:
    """The citation of the table called ``name`` (a module-level dict or tuple of this module)."""
    if name not in SOURCES:
        raise ValueError(f"no published table {name!r}; accepted: {', '.join(SOURCES)}")
    return SOURCES[name]


def cite(name: str) -> str:
    """One line: paper, where in it, confidence.

    >>> cite("TP4_TABLE1")
    'TP-IV (Yang, Hu 2021, arXiv:2011.14522), Table 1 [paper]'
    """
    c = citation(name)
    p = PAPERS[c.paper]
    copies = f" ×{c.copies}" if c.copies else ""
    return f"{p.short} ({p.authors} {p.year}, arXiv:{p.arxiv}), {c.where} [{c.confidence}{copies}]"


def tables() -> dict[str, object]:
    """Every published table of this module by name (those with a citation in ``SOURCES``)."""
    return {name: globals()[name] for name in SOURCES if name in globals()}
