"""Published exponent tables used as test oracles, each with its citation.

Sources and confidence are recorded in ../shared/PUBLISHED.md: "copy" means a third-party
transcription of the paper's table, "paper" read in the paper itself.  Tuples are
(embedding, hidden, readout).  Values are strings so that nothing here is a float.
"""

# Everett et al. 2024 (arXiv 2407.05872), Table 1 [copy x2 for Adam, x1 for SGD / Adafactor]:
# per-layer learning-rate exponents c.
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
    # One copy prints +1/2 for the readout; the constraints, the symmetry from muP and a second
    # copy give -1/2 (PUBLISHED.md).
    ("mfp", "adam", "none"): ("0", "0", "-1/2"),
    ("mfp", "adafactor", "full"): ("0", "1/2", "0"),
    ("mfp", "adafactor", "none"): ("0", "0", "0"),
}

# Everett et al. 2024, SGD / no alignment for muP and MFP: the constraints give a front; the single
# copy prints its first end (trivial logits); abcparam returns the second (every r = 0).
EVERETT_SGD_NONE_FRONT = {
    "mup": (("0", "-1/2", "0"), ("1/2", "0", "-1/2")),
    "mfp": (("-1", "-3/2", "-1"), ("-1/2", "-1", "-3/2")),
}

# Everett et al. 2024, (a, b) per layer [copy x2, consistent with TP-IV Table 1].
EVERETT_AB = {
    "sp": (("0", "0"), ("0", "1/2"), ("0", "1/2")),
    "ntp": (("0", "0"), ("1/2", "0"), ("1/2", "0")),
    "mup": (("-1/2", "1/2"), ("0", "1/2"), ("1/2", "1/2")),
    "mfp": (("0", "0"), ("1/2", "0"), ("1", "0")),
}

# Everett et al. 2024, gradient exponents at init = Adam epsilon exponents [copy + derived].
EVERETT_EPS = {
    "sp": ("1/2", "1/2", "0"),
    "ntp": ("1/2", "1", "1/2"),
    "mup": ("1/2", "1", "1/2"),
    "mfp": ("1", "3/2", "1"),
}

# TP-IV (Yang & Hu 2021, arXiv 2011.14522), Table 1 [paper]: one global SGD learning rate c and
# the resulting r; stability per Thm 3.3 (omega = 1 at the readout: alignment "tp4").
TP4_TABLE1 = {"sp": ("1", "1/2"), "ntp": ("0", "1/2"), "mfp": ("-1", "0"), "mup": ("0", "0")}

# TP-V (Yang et al. 2022, arXiv 2203.03466) [paper], written (embedding, hidden, readout):
# Table 3 (no multipliers): b = (0, 1/2, 1); SGD LR fan_out, 1, 1/fan_in; Adam LR 1, 1/fan_in, 1/fan_in.
TPV_TABLE3 = {
    "a": ("0", "0", "0"),
    "b": ("0", "1/2", "1"),
    "sgd": ("-1", "0", "1"),
    "adam": ("0", "1", "1"),
}
# Table 8: output init var 1 (b = 0), multiplier 1/fan_in (a = 1); SGD LR fan_out, 1, fan_in;
# Adam LR 1, 1/fan_in, 1.
TPV_TABLE8 = {
    "a": ("0", "0", "1"),
    "b": ("0", "1/2", "0"),
    "sgd": ("-1", "0", "-1"),
    "adam": ("0", "1", "0"),
}
# Table 9 = TP-IV's muP: Adam LR 1/sqrt(fan_out), 1/fan_in, 1/sqrt(fan_in).
TPV_TABLE9_ADAM = ("1/2", "1", "1/2")

# u-muP (Blake et al. 2024, arXiv 2407.17465) [author: slides docs/u-muP_slides.pdf and the
# unit-scaling library]: unit init b = 0, multipliers 1, 1/sqrt(fan-in), 1/fan-in; Adam LR
# eta/sqrt(fan-out) (embedding, an empirical rule), eta/sqrt(fan-in), eta.
UMUP = {"a": ("0", "1/2", "1"), "b": ("0", "0", "0"), "adam": ("1/2", "1/2", "0")}

# μnit Scaling (Narayan, Gupta, Paul, Blalock 2025, arXiv 2502.05967, ICML 2025), Table 2 [copy]:
# init variance 1 everywhere (b = 0); output multipliers 1 (input layer), 1/sqrt(fan_in) (hidden),
# 1/fan_in (final); Adam-like LR 1 (input), 1/sqrt(fan_in) (hidden; their eta*sqrt(d_base/d)),
# 1 (final).  Written (embedding, hidden, readout).
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
