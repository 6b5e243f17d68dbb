"""torch.compile on a parametrized model (issue 27 item 2): 3 compiled training steps give the
eager losses; the coordinate check's recorder records a compiled model or says why it cannot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parents[1]))
from checkpoint_models import batch, build, optimizer, train  # noqa: E402

from abcparam.coordcheck.record import Recorder  # noqa: E402
from abcparam.coordcheck.train import train as check_train  # noqa: E402

TOL = 1e-5
LAYERS = [
    ("embed", "embedding"),
    ("blocks.0", "hidden"),
    ("blocks.1", "hidden"),
    ("head", "readout"),
]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch.set_num_threads(1)
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _losses(name: str, backend: str | None) -> list[float]:
    model, spec = build(name)
    run = model if backend is None else torch.compile(model, backend=backend)
    return train(run, optimizer(model, spec), 3)


def test_compiled_training_matches_eager():
    """The tied readout's multiplier (a forward hook) and the folded weights compile."""
    eager = _losses("user", None)
    assert _losses("user", "aot_eager") == pytest.approx(eager, abs=TOL)
    assert eager[-1] < eager[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["user", "llama-tied"])
def test_inductor_training_matches_eager(name):
    assert _losses(name, "inductor") == pytest.approx(_losses(name, None), abs=TOL)


def _loss(out, y):
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def _records(compiled: bool):
    model, spec = build("user")
    recorder = Recorder(model, LAYERS, True, width=64, seed=0)  # before the first compiled call
    run = torch.compile(model, backend="aot_eager") if compiled else model
    records: list = []
    check_train(run, optimizer(model, spec), _loss, [batch(0)] * 3, recorder, records, [])
    recorder.remove()
    return records


def test_recorder_records_a_compiled_model_like_the_eager_one():
    eager, compiled = _records(False), _records(True)
    assert [(r.layer, r.step) for r in compiled] == [(r.layer, r.step) for r in eager]
    for a, b in zip(eager, compiled):
        assert b.output == pytest.approx(a.output, rel=1e-4, abs=1e-6)
        assert b.delta == pytest.approx(a.delta, rel=1e-4, abs=1e-6)


def test_recorder_says_when_compile_skipped_its_hooks():
    """A graph compiled before the recorder's hooks existed is reused without them (dynamo does
    not guard on module hooks): a clear error, not empty records."""
    _losses("user-untied", "aot_eager")  # compiles TinyLM.forward without any hook
    model, spec = build("user-untied")
    run = torch.compile(model, backend="aot_eager")
    recorder = Recorder(model, LAYERS, True, width=64, seed=0)
    with pytest.raises(RuntimeError, match="hooks did not run.*torch.compile"):
        check_train(run, optimizer(model, spec), _loss, [batch(0)] * 3, recorder, [], [])
