"""The assembly benchmark's timing order: in turn (ABCABC) by default, ``--grouped`` back to
back (AAABBB), one warm-up round each, a variant's untimed set-up before each of its runs, and
the system time reported beside the wall time."""

import pytest

from bench.bench_covariance import _timed


@pytest.mark.parametrize("grouped, order", [(False, "ababab"),
                                            (True, "aaa" + "bbb")])
def test_timed_order_and_fields(grouped, order):
    calls = []
    out = _timed({"a": lambda: calls.append("a"),
                  "b": (lambda: calls.append("s"), lambda: calls.append("b"))}, 2, grouped)
    assert "".join(calls) == order.replace("b", "sb")
    assert set(out) == {"a", "b"}
    for wall, system in out.values():
        assert wall >= 0.0 and system >= 0.0
