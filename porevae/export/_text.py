"""Numbers as text at disk speed: the GRDECL body of a flat array, compiled with Numba.

:func:`format_chunks` turns a flat array into the lines of a GRDECL keyword: tokens separated
by single spaces, lines of at most ``width`` characters, runs of equal values as ``n*value``. It
writes exactly what the plain Python formatting writes (``repr`` of a float64, NumPy's ``str``
of a float32, ``str`` of an integer; tests compare the two on millions of values), about 20 to
40 times faster, chunk by chunk (:data:`CHUNK` values, each on Numba's threads without the
GIL), each chunk written (:func:`porevae.export._io.write_parts`) while its text is in the
cache.

Shortest round-trip digits: the Ryu algorithm (Ulf Adams, "Ryu: fast float-to-string
conversion", PLDI 2018), ``d2d`` of the reference implementation with its full 125-bit tables of
powers of five (built here with Python integers at import). The same routine serves float32:
its 24-bit significands are far inside what the tables resolve. Digits ``d`` and exponent ``e``
with ``value = d * 10**e`` are the shortest that read back to the same binary number, and the
closest to it among those (ties to even), as Python's ``repr`` and NumPy's Dragon4 choose.

Layout of one token (``decpt`` = number of digits before the decimal point of ``d * 10**e``):

- float64 (Python's ``repr``): positional when ``-4 < decpt <= 16``, else ``1.5e-05`` form;
- float32 (NumPy's ``str``): positional when ``1e-4 <= |x| < 1e6``, else the same ``e`` form;
- positional integers keep ``.0`` (``3.0``), zero is ``0.0`` (``-0.0`` keeps its sign);
- exponents have a sign and at least two digits (``1e+16``, ``2.5e-310``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from porevae._threads import start_numba_threads

start_numba_threads()
_BUFFERS = threading.local()

BLOCK = 1 << 15   # values per parallel block of a chunk
CHUNK = 1 << 17   # values per chunk of format_chunks (about 2.4 MB of float64 text)
POW5_BITS = 125  # bits of the tables of 5**i and 2**k / 5**i (Ryu's DOUBLE_POW5_(INV_)BITCOUNT)
MAX_TOKEN = 48   # bytes: the longest token, "1234567890123456789*-1.2345678901234567e-308"


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Ryu's ``DOUBLE_POW5_SPLIT`` (5**i in its top 125 bits, i < 326) and
    ``DOUBLE_POW5_INV_SPLIT`` (floor(2**(bits(5**i) - 1 + 125) / 5**i) + 1, i < 342), as
    (low, high) 64-bit halves."""
    mask = (1 << 64) - 1
    pos = np.empty((326, 2), np.uint64)
    inv = np.empty((342, 2), np.uint64)
    for i in range(342):
        p = 5 ** i
        bits = p.bit_length()
        v = (1 << (bits - 1 + POW5_BITS)) // p + 1
        inv[i] = v & mask, v >> 64
        if i < 326:
            shift = bits - POW5_BITS
            v = p >> shift if shift >= 0 else p << -shift
            pos[i] = v & mask, v >> 64
    return pos, inv


POW5, POW5_INV = _tables()


def _f32_bits(x: float) -> np.uint64:
    """IEEE bits of the smallest float32 >= ``x`` (x > 0)."""
    f = np.float32(x)
    if float(f) < x:
        f = np.nextafter(f, np.float32(np.inf))
    return np.uint64(np.array(f).view(np.uint32))


# NumPy writes a float32 positionally when 1e-4 <= |x| < 1e6: on the bits of |x| (ordered as
# the values), |bits| in [_F32_LOW, _F32_HIGH)
_F32_LOW = _f32_bits(1e-4)
_F32_HIGH = _f32_bits(1e6)

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U4 = np.uint64(4)
_U5 = np.uint64(5)
_U10 = np.uint64(10)
_U32 = np.uint64(32)
_U64 = np.uint64(64)
_LO32 = np.uint64(0xFFFFFFFF)


@nb.njit(cache=True, inline="always")
def _umul128(a, b):
    """(high, low) 64-bit halves of the 128-bit product of two uint64."""
    a_lo = a & _LO32
    a_hi = a >> _U32
    b_lo = b & _LO32
    b_hi = b >> _U32
    b00 = a_lo * b_lo
    b01 = a_lo * b_hi
    b10 = a_hi * b_lo
    b11 = a_hi * b_hi
    mid1 = b10 + (b00 >> _U32)
    mid2 = b01 + (mid1 & _LO32)
    high = b11 + (mid1 >> _U32) + (mid2 >> _U32)
    low = (mid2 << _U32) | (b00 & _LO32)
    return high, low


@nb.njit(cache=True, inline="always")
def _shr128(low, high, dist):
    """(high * 2**64 + low) >> dist, low 64 bits, for 0 < dist < 64."""
    d = np.uint64(dist)
    return (high << (_U64 - d)) | (low >> d)


@nb.njit(cache=True, inline="always")
def _mul_shift_all(m2, mul_lo, mul_hi, j, mm_shift):
    """Ryu's ``mulShiftAll64``: ``(vr, vp, vm)`` = floor(x * mul / 2**j) for x = 4 m2,
    4 m2 + 2 and 4 m2 - 1 - mm_shift (mul: a 128-bit table entry, 64 < j < 128), from one
    192-bit product 2 m2 * mul."""
    m = m2 << _U1
    tmp, lo = _umul128(m, mul_lo)
    hi, low1 = _umul128(m, mul_hi)
    mid = tmp + low1
    if mid < tmp:
        hi += _U1
    lo2 = lo + mul_lo
    mid2 = mid + mul_hi + (_U1 if lo2 < lo else _U0)
    hi2 = hi + (_U1 if mid2 < mid else _U0)
    vp = _shr128(mid2, hi2, j - 65)
    if mm_shift == _U1:
        lo3 = lo - mul_lo
        mid3 = mid - mul_hi - (_U1 if lo3 > lo else _U0)
        hi3 = hi - (_U1 if mid3 > mid else _U0)
        vm = _shr128(mid3, hi3, j - 65)
    else:
        lo3 = lo + lo
        mid3 = mid + mid + (_U1 if lo3 < lo else _U0)
        hi3 = hi + hi + (_U1 if mid3 < mid else _U0)
        lo4 = lo3 - mul_lo
        mid4 = mid3 - mul_hi - (_U1 if lo4 > lo3 else _U0)
        hi4 = hi3 - (_U1 if mid4 > mid3 else _U0)
        vm = _shr128(mid4, hi4, j - 64)
    return _shr128(mid, hi, j - 65), vp, vm


@nb.njit(cache=True, inline="always")
def _pow5bits(e):
    return ((e * 1217359) >> 19) + 1


@nb.njit(cache=True, inline="always")
def _multiple_of_pow5(value, p):
    count = 0
    while value != _U0 and value % _U5 == _U0:
        value //= _U5
        count += 1
    return count >= p


@nb.njit(cache=True)
def shortest(mantissa, exponent, mbits, bias):
    """Ryu's ``d2d``: the shortest ``(digits, e10)`` with ``digits * 10**e10`` reading back to
    the finite, nonzero IEEE number of fields ``mantissa`` (uint64) and biased ``exponent``
    (int) of a format with ``mbits`` stored significand bits and exponent ``bias``."""
    if exponent == 0:
        e2 = 1 - bias - mbits - 2
        m2 = mantissa
    else:
        e2 = exponent - bias - mbits - 2
        m2 = (_U1 << np.uint64(mbits)) | mantissa
    accept = (m2 & _U1) == _U0
    mv = _U4 * m2
    mm_shift = _U1 if (mantissa != _U0 or exponent <= 1) else _U0
    vm_tz = False
    vr_tz = False
    if e2 >= 0:
        q = ((e2 * 78913) >> 18) - (1 if e2 > 3 else 0)
        e10 = q
        i = -e2 + q + POW5_BITS + _pow5bits(q) - 1
        vr, vp, vm = _mul_shift_all(m2, POW5_INV[q, 0], POW5_INV[q, 1], i, mm_shift)
        if q <= 21:
            if mv % _U5 == _U0:
                vr_tz = _multiple_of_pow5(mv, q)
            elif accept:
                vm_tz = _multiple_of_pow5(mv - _U1 - mm_shift, q)
            elif _multiple_of_pow5(mv + _U2, q):
                vp -= _U1
    else:
        q = ((-e2 * 732923) >> 20) - (1 if -e2 > 1 else 0)
        e10 = q + e2
        i = -e2 - q
        j = q - (_pow5bits(i) - POW5_BITS)
        vr, vp, vm = _mul_shift_all(m2, POW5[i, 0], POW5[i, 1], j, mm_shift)
        if q <= 1:
            vr_tz = True
            if accept:
                vm_tz = mm_shift == _U1
            else:
                vp -= _U1
        elif q < 63:
            vr_tz = (mv & ((_U1 << np.uint64(q)) - _U1)) == _U0
    removed = 0
    last = _U0
    if vm_tz or vr_tz:
        while vp // _U10 > vm // _U10:
            vm_tz = vm_tz and vm % _U10 == _U0
            vr_tz = vr_tz and last == _U0
            last = vr % _U10
            vr //= _U10
            vp //= _U10
            vm //= _U10
            removed += 1
        if vm_tz:
            while vm % _U10 == _U0:
                vr_tz = vr_tz and last == _U0
                last = vr % _U10
                vr //= _U10
                vp //= _U10
                vm //= _U10
                removed += 1
        if vr_tz and last == _U5 and vr % _U2 == _U0:
            last = _U4      # exactly halfway: round to even
        up = (vr == vm and (not accept or not vm_tz)) or last >= _U5
    else:
        up = False
        if vp // _U100 > vm // _U100:          # two digits at once first (Ryu: ~86 % of cases)
            up = vr % _U100 >= np.uint64(50)
            vr //= _U100
            vp //= _U100
            vm //= _U100
            removed += 2
        while vp // _U10 > vm // _U10:
            up = vr % _U10 >= _U5
            vr //= _U10
            vp //= _U10
            vm //= _U10
            removed += 1
        up = up or vr == vm
    return vr + (_U1 if up else _U0), e10 + removed


_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).copy()
_POW10 = np.array([10 ** k for k in range(20)], np.uint64)
_U100 = np.uint64(100)
_E4 = np.uint64(10**4)
_E8 = np.uint64(10**8)


@nb.njit(cache=True, inline="always")
def _n_digits(value):
    """Decimal digits of a uint64 (1 for 0)."""
    n = 19
    while n > 0 and value < _POW10[n]:
        n -= 1
    return n + 1


@nb.njit(cache=True, inline="always")
def _put_pairs(out, end, value, count):
    """Write ``2 * count`` digits of ``value`` (< 100**count, leading zeros kept) ending at
    ``out[end - 1]``."""
    k = end
    for _ in range(count):
        r = np.int64(value % _U100) * 2
        value //= _U100
        k -= 2
        out[k] = _PAIRS[r]
        out[k + 1] = _PAIRS[r + 1]


@intrinsic
def _store8(typingctx, out, pos, word):
    """Store the uint64 ``word`` at ``out[pos:pos + 8]`` (a uint8 array; any alignment), its
    low byte first (x86's byte order)."""
    sig = types.void(out, types.int64, types.uint64)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(64).as_pointer())
        builder.store(args[2], ptr).align = 1
        return context.get_dummy_value()
    return sig, codegen


_LITTLE = np.little_endian
_LANES_100 = np.uint64(0x0000007F0000007F)
_LANES_10 = np.uint64(0x000F000F000F000F)
_ZEROS8 = np.uint64(0x3030303030303030)


@nb.njit(cache=True, inline="always")
def _ascii8(v):
    """The eight ASCII digits of ``v`` < 10**8 (leading zeros kept) in one uint64, the first
    digit in the low byte: the two halves of four digits, then their hundreds and tens, side by
    side in the lanes of one word (multiplications by reciprocals: 10486 / 2**20 and
    103 / 2**10 divide by 100 and 10 exactly in these ranges)."""
    merged = (v // _E4) | ((v % _E4) << _U32)
    top = ((merged * np.uint64(10486)) >> np.uint64(20)) & _LANES_100
    hundreds = ((merged - _U100 * top) << np.uint64(16)) + top
    tens = ((hundreds * np.uint64(103)) >> np.uint64(10)) & _LANES_10
    return tens + ((hundreds - _U10 * tens) << np.uint64(8)) + _ZEROS8


@nb.njit(cache=True, inline="always")
def _put_digits(out, end, value):
    """Write ``value`` (uint64) in decimal so that its last digit is at ``out[end - 1]``; return
    the position of its first digit. Eight digits at a time in one store
    (:func:`_ascii8`; on a little-endian machine, else as two chains of four pairs)."""
    k = end
    while value >= _E8:
        high = value // _E8
        low = value - high * _E8
        k -= 8
        if _LITTLE:
            _store8(out, k, _ascii8(low))
        else:
            _put_pairs(out, k + 8, low % _E4, 2)
            _put_pairs(out, k + 4, low // _E4, 2)
        value = high
    while value >= _U100:
        r = np.int64(value % _U100) * 2
        value //= _U100
        k -= 2
        out[k] = _PAIRS[r]
        out[k + 1] = _PAIRS[r + 1]
    if value >= _U10:
        r = np.int64(value) * 2
        k -= 2
        out[k] = _PAIRS[r]
        out[k + 1] = _PAIRS[r + 1]
    else:
        k -= 1
        out[k] = 48 + np.uint8(value)
    return k


@nb.njit(cache=True, inline="always")
def _put_uint(out, pos, value, width):
    """Write ``value`` (uint64) in decimal at ``out[pos:]`` with at least ``width`` digits
    (leading zeros); return the new position."""
    n = _n_digits(value)
    if n < width:
        for k in range(pos, pos + width - n):
            out[k] = 48
        n = width
    _put_digits(out, pos + n, value)
    return pos + n


@nb.njit(cache=True)
def _put_float(out, pos, bits, is64):
    """Write the token of one float (``bits``: its IEEE bits as uint64, a float32's in the low
    32); return the new position."""
    if is64:
        negative = (bits >> np.uint64(63)) != _U0
        mantissa = bits & ((_U1 << np.uint64(52)) - _U1)
        exponent = np.int64((bits >> np.uint64(52)) & np.uint64(0x7FF))
        mbits, bias, emax = 52, 1023, 0x7FF
    else:
        negative = (bits >> np.uint64(31)) != _U0
        mantissa = bits & ((_U1 << np.uint64(23)) - _U1)
        exponent = np.int64((bits >> np.uint64(23)) & np.uint64(0xFF))
        mbits, bias, emax = 23, 127, 0xFF
    if negative:
        out[pos] = 45                                      # "-"
        pos += 1
    if exponent == emax:                   # NaN and inf: refused by the writers' checks
        out[pos] = 110 if mantissa != _U0 else 105         # "nan" / "inf"
        out[pos + 1] = 97 if mantissa != _U0 else 110
        out[pos + 2] = 110 if mantissa != _U0 else 102
        return pos + 3
    if exponent == 0 and mantissa == _U0:
        out[pos] = 48                                      # "0.0"
        out[pos + 1] = 46
        out[pos + 2] = 48
        return pos + 3
    digits, e10 = shortest(mantissa, exponent, mbits, bias)
    n = _n_digits(digits)
    decpt = n + e10
    if is64:
        positional = -4 < decpt <= 16
    else:
        a = bits & np.uint64(0x7FFFFFFF)
        positional = _F32_LOW <= a < _F32_HIGH
    if positional:
        if decpt <= 0:
            out[pos] = 48
            out[pos + 1] = 46
            pos += 2
            for _ in range(-decpt):
                out[pos] = 48
                pos += 1
            _put_digits(out, pos + n, digits)
            return pos + n
        if decpt >= n:
            _put_digits(out, pos + n, digits)
            pos += n
            for _ in range(decpt - n):
                out[pos] = 48
                pos += 1
            out[pos] = 46
            out[pos + 1] = 48
            return pos + 2
        # digits[:decpt] "." digits[decpt:]
        end = pos + 1 + n
        _put_digits(out, end, digits)
        for k in range(pos, pos + decpt):
            out[k] = out[k + 1]
        out[pos + decpt] = 46
        return end
    # d[.ddd]e(+|-)XX
    end = pos + 1 + n
    _put_digits(out, end, digits)
    out[pos] = out[pos + 1]
    if n > 1:
        out[pos + 1] = 46
        pos = end
    else:
        pos += 1
    out[pos] = 101                                         # "e"
    exp10 = decpt - 1
    out[pos + 1] = 45 if exp10 < 0 else 43
    return _put_uint(out, pos + 2, np.uint64(abs(exp10)), 2)


@nb.njit(cache=True)
def _put_token(out, pos, bits, kind):
    if kind == 2:                                          # int64, bits reinterpreted
        iv = np.int64(bits)
        if iv < 0:
            out[pos] = 45
            return _put_uint(out, pos + 1, np.uint64(-iv), 1)
        return _put_uint(out, pos, np.uint64(iv), 1)
    return _put_float(out, pos, bits, kind == 0)


@nb.njit(cache=True, inline="always")
def _put_run(out, pos, bits, kind, count):
    """Write the token of a run of ``count`` values ``bits`` (``count*value`` if count > 1)."""
    if count > 1:
        pos = _put_uint(out, pos, np.uint64(count), 1)
        out[pos] = 42                                      # "*"
        pos += 1
    return _put_token(out, pos, bits, kind)


@nb.njit(cache=True)
def _block_starts(bits, n_blocks, repeat):
    """``n_blocks + 1`` cut points of ``bits``, each at the start of a run (so that no run
    spans two blocks)."""
    n = bits.size
    cuts = np.empty(n_blocks + 1, np.int64)
    cuts[0] = 0
    for b in range(1, n_blocks):
        c = max(cuts[b - 1], (n * b) // n_blocks)
        while repeat and 0 < c < n and bits[c] == bits[c - 1]:
            c += 1
        cuts[b] = c
    cuts[n_blocks] = n
    return cuts


@nb.njit(cache=True, parallel=True, nogil=True)
def _format_parallel(bits, kind, repeat, width, cuts, scratch, lens, ends, line, final):
    """Format one chunk: two passes. (1) Blocks in parallel write their tokens, each followed
    by one separator byte (a space for now), from ``scratch[1 + cut * (MAX_TOKEN + 1)]`` on;
    the token's length goes to ``lens[index of its run's first value]`` (0 elsewhere) and the
    end of the block's text to ``ends[block]``. (2) One serial pass over ``lens`` replays the
    greedy wrap from ``line``, the length of the keyword's current line before this chunk (0 at
    its start), and turns into a newline each separator whose next token would pass
    ``width``; ``scratch[0]`` is the separator between the previous chunk's last token and
    this chunk's first one (when ``line > 0``). The separator after the chunk's last token is
    a newline when ``final``, else it is left to the next chunk (the caller drops it). The text
    is then the blocks' regions one after the other: no copy. Returns the line's length after
    the chunk."""
    n_blocks = cuts.size - 1
    for b in nb.prange(n_blocks):
        k = cuts[b]
        stop_block = cuts[b + 1]
        pos = 1 + k * (MAX_TOKEN + 1)
        while k < stop_block:
            v = bits[k]
            stop = k + 1
            if repeat:
                while stop < stop_block and bits[stop] == v:
                    stop += 1
            end = _put_run(scratch, pos, v, kind, stop - k)
            lens[k] = end - pos
            for i in range(k + 1, stop):
                lens[i] = 0
            scratch[end] = 32
            pos = end + 1
            k = stop
        ends[b] = pos
    scratch[0] = 32
    last = 0 if line > 0 else -1                # position of the previous token's separator
    for b in range(n_blocks):
        pos = 1 + cuts[b] * (MAX_TOKEN + 1)
        for k in range(cuts[b], cuts[b + 1]):
            t = np.int64(lens[k])
            if t == 0:
                continue
            if line == 0:
                line = t
            elif line + 1 + t > width:
                scratch[last] = 10
                line = t
            else:
                line += 1 + t
            last = pos + t
            pos = last + 1
    if final and last >= 0:
        scratch[last] = 10
    return line


def _buffer(name: str, size: int) -> np.ndarray:
    """This thread's kept uint8 buffer ``name`` of at least ``size`` bytes: reused from call to
    call, so that its pages are faulted in once, not per keyword."""
    buf = getattr(_BUFFERS, name, None)
    if buf is None or buf.size < size:
        buf = np.empty(size, np.uint8)
        setattr(_BUFFERS, name, buf)
    return buf


def format_chunks(values: np.ndarray, *, repeat: bool = True, width: int = 80) -> Iterator:
    """The lines of a GRDECL keyword's values, as bytes: uint8 arrays to be written one after
    the other (each line ends in ``\\n``; nothing for an empty input), made one chunk of
    :data:`CHUNK` values at a time as the iterator is consumed.

    ``values`` (n,): float64, float32 or an integer type (written as int64). Tokens are separated
    by one space and wrapped at ``width`` characters; with ``repeat``, runs of the same bit
    pattern are written ``count*value`` (chunks and parallel blocks are cut at the start of a
    run). The text is the same whatever the chunking.

    The arrays are views of a buffer that this thread reuses: valid until the next chunk is
    made (:func:`porevae.export._io.write_parts` writes each before it asks for the next).
    Bad input is refused at the call.
    """
    values = np.ascontiguousarray(values)
    if values.dtype == np.float64:
        kind, bits = 0, values.view(np.uint64)
    elif values.dtype == np.float32:
        kind, bits = 1, values.view(np.uint32).astype(np.uint64)
    elif np.issubdtype(values.dtype, np.integer):
        kind, bits = 2, values.astype(np.int64).view(np.uint64)
    else:
        raise TypeError(f"values must be float64, float32 or integers, got {values.dtype}")
    return _chunks(bits.reshape(-1), kind, bool(repeat), int(width))


def _chunks(bits, kind, repeat, width) -> Iterator:
    """The generator of :func:`format_chunks` (its checks run at the call, not at the first
    chunk)."""
    n = bits.size
    bounds = _block_starts(bits, max(1, -(-n // CHUNK)), repeat).tolist()
    line = 0
    for c0, c1 in zip(bounds[:-1], bounds[1:]):
        if c1 == c0:
            continue
        part = bits[c0:c1]
        cuts = _block_starts(part, max(1, -(-part.size // BLOCK)), repeat)
        scratch = _buffer("scratch", 1 + part.size * (MAX_TOKEN + 1))
        lens = _buffer("lens", part.size)
        ends = np.empty(cuts.size - 1, np.int64)
        final = c1 == n
        first = line > 0                  # the separator before this chunk: scratch[0]
        line = _format_parallel(part, kind, repeat, width, cuts, scratch, lens, ends, line,
                                final)
        starts = 1 + cuts[:-1] * (MAX_TOKEN + 1)
        if not final:                     # the last separator is the next chunk's scratch[0]
            ends[np.flatnonzero(ends > starts)[-1]] -= 1
        if first:
            starts[0] = 0
        for a, e in zip(starts.tolist(), ends.tolist()):
            if e > a:
                yield scratch[a:e]
