"""The sandbox's gateway limits: a sliding-window spike arrest and a daily quota."""

from __future__ import annotations

from scenescout_cli.sandbox.limits import DailyQuota, SpikeArrest


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_spike_arrest_allows_five_per_sliding_second() -> None:
    """Five calls in a second pass, the sixth fails, and one more passes a second later."""
    clock = FakeClock()
    spike = SpikeArrest(5, 1.0, clock=clock)
    results = []
    for _ in range(6):
        results.append(spike.allow("k"))
        clock.now += 0.1
    assert results == [True] * 5 + [False]
    assert spike.allow("other")
    clock.now = 1000.0 + 1.0  # the first call leaves the window
    assert spike.allow("k")
    assert not spike.allow("k")


def test_daily_quota_counts_down_and_resets_after_a_day() -> None:
    """The quota reports what is left, refuses past the limit and resets 24 h later."""
    clock = FakeClock(1_700_000_000.0)
    quota = DailyQuota(3, clock=clock)
    states = [quota.take("k") for _ in range(3)]
    assert [s.available for s in states] == [2, 1, 0]
    assert states[0].reset_ms == (1_700_000_000 + 86_400) * 1000
    assert quota.take("k") is None
    assert quota.take("k") is None
    clock.now += 86_400
    fresh = quota.take("k")
    assert fresh is not None
    assert fresh.available == 2
