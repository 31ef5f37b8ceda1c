"""The one table of bars (porevae.media.bars): the issue-25 tolerances, differences and standard
errors against hand-computed values, verdicts that say "noise" rather than a false "no", and
the demo and the reconstruction study judging by that table."""

import math

import numpy as np
import pytest

from porevae.media import bars


def test_the_table_is_the_issue_25_bars_and_the_only_one():
    assert bars.BARS == {"porosity": ("abs", 0.01), "specific_surface": ("rel", 0.05),
                         "mean_pore_chord": ("rel", 0.05), "mean_solid_chord": ("rel", 0.05),
                         "euler_density": ("rel", 0.20), "connected_fraction": ("abs", 0.05)}
    assert bars.S2_BAR == (32, 0.005)
    from porevae.studies import reconstruction
    from porevae.vae import demo

    assert reconstruction.TARGETS is bars.BARS and demo.BARS is bars.BARS
    assert [bars.describe(k) for k in ("porosity", "euler_density")] == ["±0.01", "±20%"]


def test_differences_and_standard_errors_by_hand(rng):
    m, r = rng.normal(0.2, 0.01, 5), rng.normal(0.19, 0.02, 9)
    row = bars.judge("porosity", m, r)
    assert row["diff"] == pytest.approx(m.mean() - r.mean(), rel=1e-12)
    s = max(math.sqrt(sum((x - m.mean()) ** 2 for x in m) / 4),
            math.sqrt(sum((x - r.mean()) ** 2 for x in r) / 8))  # the larger spread, both sides
    assert row["se"] == pytest.approx(s * math.sqrt(1 / 5 + 1 / 9), rel=1e-12)
    same = bars.judge("porosity", [0.2, 0.2, 0.2], r)  # agreeing samples do not shrink it
    assert same["se"] == pytest.approx(r.std(ddof=1) * math.sqrt(1 / 3 + 1 / 9), rel=1e-12)
    m, r = -rng.random(4) * 1e-4, -rng.random(6) * 1e-4
    row = bars.judge("euler_density", m, r)
    assert row["diff"] == pytest.approx((m.mean() - r.mean()) / abs(r.mean()), rel=1e-12)
    s = max(m.std(ddof=1), r.std(ddof=1))
    assert row["se"] == pytest.approx(s * math.sqrt(1 / 4 + 1 / 6) / abs(r.mean()), rel=1e-12)
    whole = bars.judge("porosity", [0.3, 0.3], [0.305])  # a whole medium: one value, no spread
    assert whole["se"] == 0 and whole["verdict"] == "yes"
    one = bars.judge("porosity", [0.30, 0.32], [0.305])  # the medium's term is dropped
    assert one["se"] == pytest.approx(np.std([0.30, 0.32], ddof=1) / math.sqrt(2), rel=1e-12)


@pytest.mark.parametrize("diff, se, want", [(0.004, 0.002, "yes"), (0.004, 0.0031, "noise"),
                                            (-0.03, 0.005, "no"), (0.016, 0.004, "noise"),
                                            (0.0101, 0.0, "no"), (-0.01, 0.0, "yes")])
def test_verdicts(diff, se, want):
    assert bars.verdict(diff, 0.01, se) == want


def test_s2_bar_by_hand(rng):
    m = 0.2 + 0.01 * rng.standard_normal((4, 33))
    r = 0.2 + 0.01 * rng.standard_normal((7, 33))
    got = bars.judge_s2(m, r)
    assert got["mad"] == pytest.approx(np.mean(np.abs(m.mean(0) - r.mean(0))), rel=1e-12)
    se = np.maximum(m.std(0, ddof=1), r.std(0, ddof=1)).mean() * math.sqrt(1 / 4 + 1 / 7)
    assert got["se"] == pytest.approx(se, rel=1e-12)
    assert got["verdict"] == ("yes" if got["mad"] <= 0.005 else "noise")
    far = bars.judge_s2(m + 0.05, r)
    assert far["verdict"] == "no" and not far["met"]
