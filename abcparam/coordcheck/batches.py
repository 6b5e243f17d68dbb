"""Fixed, seeded batches of real data for coordinate checks on the model shortcuts: character
windows of CPython's pydoc text for language models, sklearn digits (8 x 8 images) for CNNs."""

from __future__ import annotations

import torch

from ..transfer.data import digits, lm_batch, pydoc_text

#: batch sizes: 4 windows of 32 characters; 32 digit images
TOKEN_BATCH, CONTEXT, IMAGE_BATCH = 4, 32, 32


def tokens(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, next-character targets), each (TOKEN_BATCH, CONTEXT), ids < 103."""
    ids = pydoc_text()[0]
    return lm_batch(ids, TOKEN_BATCH, CONTEXT, torch.Generator().manual_seed(10_000 + seed))


def images(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (IMAGE_BATCH, 1, 8, 8), labels) from a seeded shuffle of the digits train split."""
    split = digits(seed)
    return split.x_train[:IMAGE_BATCH].reshape(-1, 1, 8, 8), split.y_train[:IMAGE_BATCH]


BATCHES = {"tokens": tokens, "images": images}
