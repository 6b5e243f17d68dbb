"""The Hugging Face Trainer with abcparam's optimizer groups (issue 27 item 4): trains, saves
checkpoints, and a run resumed from a checkpoint continues with the same losses."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
from checkpoint_models import batch, build, optimizer  # noqa: E402

pytest.importorskip("accelerate")
STEPS, SAVE = 4, 2


class Tokens(torch.utils.data.Dataset):
    """A fixed set of token sequences (inputs are their own labels: the model shifts them)."""

    def __init__(self, n: int = 32) -> None:
        x, y = batch(7, size=n)
        self.ids = torch.cat([x, y[:, -1:]], dim=1)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def _trainer(out: Path, steps: int = STEPS):
    from transformers import Trainer, TrainingArguments

    model, spec = build("llama")
    opt = optimizer(model, spec, lr=3e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=steps,
        save_steps=SAVE,
        per_device_train_batch_size=4,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model, args, train_dataset=Tokens(), optimizers=(opt, scheduler))
    return trainer, model, spec


def _losses(trainer) -> dict[int, float]:
    return {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}


def test_trainer_trains_checkpoints_and_resumes_to_the_same_loss(tmp_path):
    import transformers

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    first, model, spec = _trainer(tmp_path)
    first.train()
    full = _losses(first)
    assert sorted(full) == list(range(1, STEPS + 1)) and full[STEPS] < full[1]
    saved = tmp_path / f"checkpoint-{SAVE}"
    assert (saved / "model.safetensors").exists() and (saved / "optimizer.pt").exists()
    # per-layer LRs went through the Trainer and its scheduler untouched in their ratios
    lrs = [g["lr"] for g in first.optimizer.param_groups]
    assert len(set(lrs)) > 1
    resumed, _, _ = _trainer(tmp_path / "again")
    resumed.train(resume_from_checkpoint=str(saved))
    again = _losses(resumed)
    for step in range(SAVE + 1, STEPS + 1):
        assert again[step] == pytest.approx(full[step], abs=1e-5), (step, again, full)
