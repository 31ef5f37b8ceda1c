"""Transport of the pore space (TauFactor, optional): straight channels have tortuosity 1 and
D_eff = porosity; a blocked image has none; compare() adds the rows only when asked / available."""

from __future__ import annotations

import numpy as np
import pytest

import porevae.media as pm
from porevae.media import transport


def _channels(rng, shape=(24, 20, 20)):
    img = np.zeros(shape, bool)
    for _ in range(6):  # straight pore channels along axis 0
        y, z = rng.integers(2, shape[1] - 4), rng.integers(2, shape[2] - 4)
        img[:, y:y + 3, z:z + 3] = True
    return img


def test_straight_channels_and_blocked_image(rng):
    pytest.importorskip("taufactor")
    img = _channels(rng)
    got = transport.transport_statistics(img, axis=0)
    assert got["tortuosity_factor"] == pytest.approx(1.0, abs=0.02)
    assert got["effective_diffusivity"] == pytest.approx(img.mean(), rel=0.02)
    across = transport.transport_statistics(img, axis=1)  # channels do not cross axis 1
    assert across == {"tortuosity_factor": float("inf"), "effective_diffusivity": 0.0}
    wavy = img.copy()
    wavy[10] = False  # a wall: the channels end at it (dead ends carry no flux) ...
    wavy[:, :2, :2] = True  # ... and only a corner column crosses
    w = transport.transport_statistics(wavy)
    assert w["effective_diffusivity"] < wavy.mean() and w["tortuosity_factor"] > 1.05


def test_compare_transport_rows(monkeypatch, rng):
    img = _channels(rng)
    names = [r["statistic"] for r in pm.compare(img, [img], transport=False).table]
    assert "tortuosity_factor" not in names
    monkeypatch.setattr(pm.report, "transport_available", lambda: False)
    assert "tortuosity_factor" not in [r["statistic"] for r in pm.compare(img, [img]).table]
    with pytest.raises(ValueError, match="transport must be"):
        pm.compare(img, [img], transport="yes")
    if transport.transport_available():
        rows = {r["statistic"]: r for r in pm.compare(img, [img], transport=True).table}
        assert rows["tortuosity_factor"]["rel_diff"] == pytest.approx(0.0, abs=1e-9)
        assert rows["effective_diffusivity"]["reference"] == pytest.approx(img.mean(), rel=0.02)
