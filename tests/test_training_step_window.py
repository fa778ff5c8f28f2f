"""The step window: staged values come back in order, each step's wall time shared out, once each."""
import math

import pytest
import torch

from scaling_laws.training.step_window import StepWindow


def test_a_staged_window_is_collected_after_the_next_step_is_added():
    window = StepWindow()
    for step in (1, 2, 3):
        window.add(step, 0.1 * step, torch.tensor(4.0 - step), torch.tensor(float(step)))
    window.val_loss = 2.5
    window.stage()
    window.add(4, 0.4, torch.tensor(0.5), torch.tensor(4.0))  # the next step, queued behind the read
    records, elapsed_s = window.collect(100.0)
    assert [(r.step_done, r.lr, r.loss, r.grad_norm) for r in records] == [
        (1, 0.1, 3.0, 1.0), (2, 0.2, 2.0, 2.0), (3, pytest.approx(0.3), 1.0, 3.0)]
    assert [r.val_loss for r in records] == [None, None, 2.5]  # the pass belongs to the window's last step
    assert elapsed_s == pytest.approx(100.0 + 3 * records[0].step_s) and records[-1].elapsed_s == elapsed_s
    assert window.staged is None and window.val_loss is None
    later, _ = window.flush(elapsed_s)
    assert [(r.step_done, r.loss) for r in later] == [(4, 0.5)]


def test_staging_twice_without_collecting_is_refused():
    window = StepWindow()
    window.add(1, 0.1, torch.tensor(float("nan")), torch.tensor(1.0))
    window.stage()
    with pytest.raises(AssertionError, match="collect the staged window"):
        window.stage()
    records, _ = window.collect(0.0)
    assert math.isnan(records[0].loss)
