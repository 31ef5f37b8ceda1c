"""The compiled GRDECL formatter (porevae.export._text) against the plain Python one it replaces
(``repr`` of float64, NumPy's ``str`` of float32, ``str`` of integers, the greedy wrap), on
random bit patterns, scaled normals, every power of two and ten, runs across parallel blocks."""

import numpy as np
import pytest

from porevae.export import _text
from porevae.export.grdecl import format_values, keyword_block, wrap


def reference(values, repeat=True, width=80):
    lines = wrap(format_values(values, repeat=repeat), width)
    return "".join(line + "\n" for line in lines)


def compiled(values, repeat=True, width=80):
    parts = _text.format_chunks(values, repeat=repeat, width=width)
    return b"".join(p.tobytes() for p in parts).decode("ascii")


def assert_same(values, **kw):
    got, want = compiled(values, **kw), reference(values, **kw)
    if got != want:  # name the first token that differs
        for g, w in zip(got.split(), want.split()):
            assert g == w
    assert got == want


def random_bits(rng, n, dtype):
    width = np.dtype(dtype).itemsize * 8
    bits = rng.integers(0, 2 ** (width - 1), size=n, dtype=np.uint64)
    bits |= rng.integers(0, 2, size=n, dtype=np.uint64) << np.uint64(width - 1)
    values = bits.astype(f"u{width // 8}").view(dtype)
    return values[np.isfinite(values)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_random_bit_patterns_and_scaled_normals(rng, dtype):
    assert_same(random_bits(rng, 100_000, dtype))
    scale = 10.0 ** rng.integers(-30 if dtype == np.float64 else -12, 30, 100_000)
    assert_same((rng.standard_normal(100_000) * scale).astype(dtype))
    assert_same(np.exp(rng.standard_normal(50_000)).astype(dtype))     # permeability-like


def test_every_power_of_two_and_ten_and_the_layout_boundaries():
    p64 = np.r_[2.0 ** np.arange(-1074, 1024), 10.0 ** np.arange(-323, 309)]
    edges = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e16,
             9999999999999998.0, 1e-4, 0.00010000000000000002, 9.999999999999999e-05, 1e22,
             1e23, 0.1, 0.3, 2.0 / 3.0, 123.0, 5e-5]
    assert_same(np.r_[p64, -p64, edges])
    p32 = np.r_[np.float32(2.0) ** np.arange(-149, 128, dtype=np.float32),
                (10.0 ** np.arange(-45, 39)).astype(np.float32)]
    edges32 = np.array([0.0, -0.0, 1e-45, 1.1754944e-38, 3.4028235e38, 1e-4, 1.0001e-4,
                        999999.94, 1e6, 1000001.0, 16777216.0, 0.1, 2.0 / 3.0], np.float32)
    p32 = p32[np.isfinite(p32)]
    assert_same(np.r_[p32, -p32, edges32])
    # neighbours of the positional / scientific boundaries
    for edge in (1e-4, 1e6):
        f = np.float32(edge)
        near = [np.nextafter(f, np.float32(0)), f, np.nextafter(f, np.float32(np.inf))]
        assert_same(np.array(near, np.float32))
    for edge in (1e-4, 1e16):
        assert_same(np.array([np.nextafter(edge, 0), edge, np.nextafter(edge, np.inf)]))


def test_integers_and_repeats_across_parallel_blocks(rng):
    assert_same(rng.integers(-10**15, 10**15, 5000))
    assert_same(np.array([0, 1, -1, 7, 2**62, -2**62], np.int64))
    n = 3 * _text.BLOCK + 17
    runs = np.repeat(rng.standard_normal(n // 50), rng.integers(1, 100, n // 50))
    runs[_text.BLOCK - 5:_text.BLOCK + 5000] = 2.5          # one run over a block boundary
    for repeat in (True, False):
        assert_same(runs, repeat=repeat)
        assert_same(runs.astype(np.float32), repeat=repeat)
    assert_same(np.full(2 * _text.BLOCK + 1, 7.0))          # one run, one token
    assert_same(np.full(5, 0), width=3)                      # a token longer than the line


def test_empty_and_refusals():
    assert compiled(np.zeros(0)) == "" and keyword_block("PERMX", np.zeros(0)) == "PERMX\n/\n"
    with pytest.raises(TypeError, match="float64, float32 or integers"):
        _text.format_chunks(np.zeros(3, complex))


def test_chunks_give_the_same_text_whatever_the_chunking(rng, monkeypatch):
    # small chunks and blocks: the wrap carries over chunk boundaries, runs never span them,
    # a chunk may hold one run only (empty blocks), a token may be longer than the line
    values = np.repeat(rng.standard_normal(60) * 10.0 ** rng.integers(-5, 20, 60),
                       rng.integers(1, 5, 60))
    values[40:90] = 3.0
    for chunk, block in ((7, 3), (32, 5), (1000, 1000)):
        monkeypatch.setattr(_text, "CHUNK", chunk)
        monkeypatch.setattr(_text, "BLOCK", block)
        for repeat, width in ((True, 80), (False, 80), (True, 20), (False, 3)):
            assert_same(values, repeat=repeat, width=width)
        assert_same(np.full(20, 4), width=80)


def test_write_parts_keeps_reused_buffers_and_leaves_nothing_on_error(tmp_path):
    # a maker that reuses its buffers gets its bytes written intact; an error in the maker or
    # in a write leaves no file and no temporary behind
    from porevae.export._io import write_parts

    bufs = [np.empty(1 << 16, np.uint8) for _ in range(3)]

    def parts():
        for j in range(40):
            b = bufs[j % 3]
            b[:] = j
            yield b

    path = write_parts(tmp_path / "f.bin", parts())
    data = np.fromfile(path, np.uint8).reshape(40, -1)
    np.testing.assert_array_equal(data, np.repeat(np.arange(40, dtype=np.uint8)[:, None],
                                                  1 << 16, axis=1))

    def failing():
        yield b"abc"
        raise RuntimeError("maker failed")

    with pytest.raises(RuntimeError, match="maker failed"):
        write_parts(tmp_path / "g.bin", failing())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    with pytest.raises(TypeError):
        write_parts(tmp_path / "h.bin", [b"ok", 12345])  # a part that cannot be written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
