"""The calculator's warnings are its answer's: each one raised is one of ``Transfer.warnings``, in
order, reported at the caller's line (not inside the calculator's helpers)."""

from __future__ import annotations

import math
import warnings

from abcparam.calculator import transfer
from abcparam.engine.fitted import OutsideFittedRange


def test_transfer_warnings_are_the_answers_and_point_at_the_caller():
    base = dict(width=256, batch=64, steps=100, lr=1e-3, beta2=0.99, sequence=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        far = transfer(base, dict(batch=64_000, width=10**6, steps=10**9), rules="sde-batch")
        law = transfer(base, dict(width=10**6, steps=10**9), rules="step-law")
    assert [str(w.message) for w in caught] == [*far.warnings, *law.warnings]
    assert len(far.warnings) == 2 and law.warnings  # 1 - beta1 and 1 - beta2 out of range
    assert {w.filename for w in caught} == {__file__}
    kinds = [w.category for w in caught]
    assert kinds[:2] == [UserWarning, UserWarning]
    assert all(issubclass(k, OutsideFittedRange) for k in kinds[2:])
    assert far.get("beta2").target == 0.0 and math.isfinite(far.get("lr", "hidden").target)
