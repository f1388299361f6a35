"""The soak's leak criterion (bench/serve_soak.py): a steady leak is flagged, warm-up that levels off is not."""

from __future__ import annotations

from crossrec.benchmarks import serve_soak  # behind bench/serve_soak.py


def series(mb_at) -> list[tuple[float, float]]:
    """RSS samples every 5 s over 20 minutes."""
    return [(t, mb_at(t)) for t in range(0, 1200, 5)]


def test_steady_growth_is_a_suspected_leak() -> None:
    g = serve_soak.growth(series(lambda t: 400 + 2.0 * t / 60))  # +2 MiB/min throughout: +40 MiB
    assert g["growth_mb"] > 20 and g["growth_2nd_half_mb"] > 5 and type(g["growth_2nd_half_mb"]) is float
    assert serve_soak.leak_suspected(g, tolerance_mb=20) is True


def test_warm_up_that_levels_off_is_not() -> None:
    g = serve_soak.growth(series(lambda t: 400 + 25.0 * min(t, 240) / 240))  # +25 MiB in 4 min, then flat
    assert g["growth_mb"] > 20 and abs(g["growth_2nd_half_mb"]) < 1
    assert not serve_soak.leak_suspected(g, tolerance_mb=20)


def test_small_growth_is_noise() -> None:
    g = serve_soak.growth(series(lambda t: 400 + 0.5 * t / 60))  # 10 MiB in 20 min
    assert not serve_soak.leak_suspected(g, tolerance_mb=20)
