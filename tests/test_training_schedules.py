"""Each schedule's value at known steps, as its formula says."""
import math
from types import SimpleNamespace

import pytest

from scaling_laws.config import LR_SCHEDULES
from scaling_laws.training.schedules import SCHEDULES, get_lr


def cfg(schedule, **fields):
    return SimpleNamespace(**{"lr_schedule": schedule, "learning_rate": 1.0, "warmup_fraction": 0.1,
                              "min_lr_ratio": 0.1, "hidden_dim": 64, **fields})


def test_config_offers_exactly_the_registered_schedules():
    assert set(LR_SCHEDULES) == set(SCHEDULES)


def test_inverse_sqrt_warms_up_then_falls_as_one_over_sqrt_step():
    c = cfg("inverse_sqrt")  # 100 steps: w = 10
    assert get_lr(0, c, 100) == pytest.approx(0.1)
    assert get_lr(9, c, 100) == pytest.approx(1.0)  # s = w: the peak
    assert get_lr(39, c, 100) == pytest.approx(math.sqrt(10 / 40))
    assert get_lr(99, c, 100) == pytest.approx(math.sqrt(10 / 100))


def test_transformer_schedule_is_vaswani_equation_3():
    c = cfg("transformer", hidden_dim=512, warmup_fraction=0.04)  # 100,000 steps: w = 4000, as the paper
    vaswani = lambda s: 512 ** -0.5 * min(s ** -0.5, s * 4000 ** -1.5)
    for step in (0, 999, 3999, 4000, 50_000, 99_999):
        assert get_lr(step, c, 100_000) == pytest.approx(vaswani(step + 1))
    assert get_lr(3999, c, 100_000) == pytest.approx(1 / math.sqrt(512 * 4000))  # the peak
    assert get_lr(3999, cfg("transformer", hidden_dim=512, warmup_fraction=0.04, learning_rate=2.0), 100_000) == \
        pytest.approx(2 / math.sqrt(512 * 4000))  # learning_rate is the factor


def test_one_cycle_rises_from_a_25th_to_the_peak_then_anneals_to_the_floor():
    c = cfg("one_cycle", warmup_fraction=0.3)  # 100 steps: w = 30
    start = 1.0 / 25
    assert get_lr(0, c, 100) == pytest.approx(start + (1 - start) * (1 - math.cos(math.pi / 30)) / 2)
    assert get_lr(29, c, 100) == pytest.approx(1.0)
    assert get_lr(64, c, 100) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 35 / 70)) / 2)  # halfway down
    assert get_lr(99, c, 100) == pytest.approx(0.1)
    lrs = [get_lr(s, c, 100) for s in range(100)]
    assert lrs.index(max(lrs)) == 29


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_warmup_schedules_keep_todays_values(schedule):
    c = cfg(schedule)
    assert [get_lr(s, c, 100) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    last = {"cosine": 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 89 / 90)), "linear": 0.1 + 0.9 / 90,
            "constant": 1.0}[schedule]
    assert get_lr(99, c, 100) == pytest.approx(last)
