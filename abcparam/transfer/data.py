"""Real data that ships locally (no downloads): digits for the MLP, Python's own docs for the LM.

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 64 features, 10
  classes), standardised; a fixed split of 1437 train / 360 validation images (seeded shuffle).
- ``pydoc_text``: the reference text that ships with CPython in ``pydoc_data.topics`` (the
  language reference sections ``help()`` shows, ~465k characters), concatenated in sorted key
  order; a character-level corpus with a fixed vocabulary; last 10 % held out for validation.
- ``corpus_ids``: the same split of any corpus in :mod:`.corpora` (``pydoc`` is the one above;
  ``stdlib``, the standard library's source, is ten times longer, for single-pass runs).
Both are deterministic: the same arrays on every machine with the same package versions.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .corpora import check_corpus, stdlib_source


@dataclass(frozen=True)
class Split:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def digits(seed: int = 0) -> Split:
    """sklearn's digits, standardised per feature, split 1437 / 360 with a seeded shuffle."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data.astype(np.float32)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = torch.from_numpy(x[order]), torch.from_numpy(data.target[order]).long()
    return Split(x[:1437], y[:1437], x[1437:], y[1437:])


#: environment variable naming another CPython's ``pydoc_data/topics.py`` to read the corpus
#: from instead of the running Python's (the topics differ between Python versions, so a device
#: with another Python trains on the same text as the CPU runs when given this file)
TOPICS_ENV = "ABCPARAM_PYDOC_TOPICS"


def _topics() -> dict[str, str]:
    """The ``topics`` dict: the running Python's, or the literal in the file ``$TOPICS_ENV``
    names (read with ``ast.literal_eval``, never executed)."""
    path = os.environ.get(TOPICS_ENV)
    if not path:
        from pydoc_data.topics import topics

        return topics
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "topics" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise ValueError(
        f"{TOPICS_ENV}={path!r} assigns no 'topics' dict; accepted: a pydoc_data/topics.py"
    )


@functools.cache
def text_fingerprint(corpus: str = "pydoc") -> str:
    """The corpus's identity in saved runs: its character count and the first 12 hex digits of
    its SHA-256 (runs on different texts are not comparable one-to-one)."""
    text = _text(corpus)
    return f"{len(text)}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


@functools.cache
def _text(corpus: str = "pydoc") -> str:
    """The corpus text, built once per process (the fingerprint and the ids share it)."""
    if check_corpus(corpus) == "stdlib":
        return stdlib_source()
    topics = _topics()
    return "".join(topics[key] for key in sorted(topics))


@functools.cache
def corpus_ids(corpus: str = "pydoc") -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(train ids, validation ids, vocabulary) of a character-level corpus, its last 10 % held
    out (built once per process; callers only read it)."""
    text = _text(corpus)
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = torch.tensor([index[ch] for ch in text], dtype=torch.long)
    cut = int(0.9 * len(ids))
    return ids[:cut], ids[cut:], vocab


def pydoc_text() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(train ids, validation ids, vocabulary) of the pydoc corpus."""
    return corpus_ids("pydoc")


@functools.cache
def pydoc_vocab_size() -> int:
    """The character vocabulary's size (the GPT's vocab), computed once per process."""
    return len(pydoc_text()[2])


def lm_batch(
    ids: torch.Tensor, batch: int, context: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows (inputs, next-character targets)."""
    starts = torch.randint(0, len(ids) - context - 1, (batch,), generator=generator)
    windows = torch.stack([ids[s : s + context + 1] for s in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]
