"""Fields for ensembles: porevae's exact sampler and KLE against the tools reservoir teams use
(GSTools 1.7 SRF, gaussianfft 1.1, OpenTURNS), on the same grids and models, in one run.

    flock /tmp/porevae-heavy.lock python -m bench.bench_fields [--quick] [--cases 2d-exp ...]
        [--n 100] [--n-acc 1000] [--acc-tools exact-f32 exact] [--budget 30]
        [--peers /tmp/peers/bin/python]

Grids and models (variance 1, the unit square / cube):

* ``2d-exp``: 1000 x 1000, exponential ``exp(-r / 0.1)``;
* ``2d-gauss``: 1000 x 1000, Gaussian ``exp(-(r / 0.1)^2)``;
* ``3d``: 92 x 146 x 66 (the Drogon box, 886,512 cells), anisotropic exponential, lengths
  (0.2, 0.2, 0.1).

Each tool runs in its own child process (``python -m bench.bench_fields --worker TOOL CASE``):
the peers with the ``--peers`` interpreter (their own virtual environment: ``python3.11 -m venv
/tmp/peers && /tmp/peers/bin/pip install 'gstools==1.7.*' 'gaussianfft==1.1.*' openturns``),
porevae with this one. Per tool: set-up time (model and generator, the KLE's eigen-solve), the
time of the first realization, the time per realization over ``--n`` realizations (a tool
slower than ``--budget`` seconds for ``--n`` is timed over fewer, and one whose first
realization takes more than half the budget on that one alone; both so labelled), the peak
memory above the child's resident size after its imports, and the
**accuracy**: the empirical covariance of the realizations (the known mean 0; every pair of
cells at lag ``k`` along each grid axis, by FFT) against the model, as the RMS error (units of
the variance) at lags 1..L (L = 3 correlation lengths along that axis: 300 cells in 2-D, 3
lengths in 3-D) and at every lag 1..n-1 along the axes ("all lags": where an FFT method padded
less than twice the grid wraps around). An exact method has a sampling error only: the exact
sampler's error at the same number of realizations is that floor; its own bias is computed
exactly besides (``bias``: the largest difference between the covariance of its clipped
embedding, ``IDFT(max(lambda, 0))``, and the model over every offset of the grid, at most its
``clip_error``). Each of ``--acc-tools`` also draws ``--n-acc`` realizations (untimed) for the
2 % bar.

The speed bar compares each exact variant with the fastest peer; "equal or better covariance
error" is judged on the errors of the same number of realizations at both lag ranges.

Tools: ``exact`` (porevae.kle.exact.ExactSampler, float64, its default ``tol=1e-3``: the
covariance may differ from the model by at most 1e-3 of the variance, for less padding where
the minimal embedding is not positive definite), ``exact-f32`` (float32), ``exact-strict`` and
``exact-f32-strict`` (float64 and float32, ``tol=1e-10``: in practice no clipped
eigenvalue), ``exact-cond`` (float64, conditioned on 20 noise-free wells by kriging the
residuals), ``kle`` (porevae.KLE at the number of terms in :data:`KLE_TERMS`: its energy is
printed),
``gstools-rand`` (SRF, randomization, default ``mode_no=1000``), ``gstools-rand-tuned``
(``mode_no=100``: ten times fewer modes; the randomization's ensemble covariance is unbiased
for any number of modes, the fields are less Gaussian), ``gstools-fourier`` (the Fourier
generator, period twice the domain, ``mode_no=64`` per axis; isotropic only, so 2-D only),
``gaussianfft`` (its FFT simulation with its own padding), ``openturns`` (KL: refused at these
sizes, reported with the reason).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import scipy.fft

from bench.common import peak_rss_bytes, reset_peak_rss, rss_bytes

CASES = {
    "2d-exp": {"shape": (1000, 1000), "kind": "exponential", "lengths": (0.1, 0.1)},
    "2d-gauss": {"shape": (1000, 1000), "kind": "gaussian", "lengths": (0.1, 0.1)},
    "3d": {"shape": (92, 146, 66), "kind": "exponential", "lengths": (0.2, 0.2, 0.1)},
}
QUICK = {
    "2d-exp": {"shape": (200, 200), "kind": "exponential", "lengths": (0.1, 0.1)},
    "2d-gauss": {"shape": (200, 200), "kind": "gaussian", "lengths": (0.1, 0.1)},
    "3d": {"shape": (23, 37, 17), "kind": "exponential", "lengths": (0.2, 0.2, 0.1)},
}
TOOLS = ("exact", "exact-f32", "exact-strict", "exact-f32-strict", "exact-cond", "kle",
         "gstools-rand", "gstools-rand-tuned", "gstools-fourier", "gaussianfft", "openturns")
EXACT = {"exact", "exact-f32", "exact-strict", "exact-f32-strict", "exact-cond"}
STRICT = {"exact-strict", "exact-f32-strict"}
#: tol of ``exact-strict`` and ``exact-f32-strict`` (the others: the sampler's default)
STRICT_TOL = 1e-10
PEERS = {"gstools-rand", "gstools-rand-tuned", "gstools-fourier", "gaussianfft", "openturns"}
#: KLE terms per case: what a user affords at these sizes (energy printed beside)
KLE_TERMS = {"2d-exp": 200, "2d-gauss": 300, "3d": 300}
N_WELLS = 20


# ---- the model and the accuracy measure (NumPy only: runs in every child) ----------------------
def correlation(kind: str, r):
    """``rho(r)`` of the case's model on the scaled distance ``r = |h| / l``."""
    r = np.asarray(r, dtype=float)
    return np.exp(-r) if kind == "exponential" else np.exp(-r * r)


def lags(case) -> list:
    """Lags (cells) 1..L per axis, L = 3 correlation lengths (at most the axis size - 1)."""
    return [min(n - 1, round(3 * length * n)) for n, length in zip(case["shape"],
                                                                  case["lengths"])]


#: standard errors by which a peer's empirical covariance must differ from the model at a lag
#: (or on average over a band of lags) to count as its bias (``LagCovariance.bias_at_least``)
Z_BIAS = 4.0
#: bands of consecutive lags per axis for the bias bound
BANDS = 4


class LagCovariance:
    """The empirical covariance (known mean 0) of each field at every lag 0..n-1 along each
    axis: ``sum_x y(x) y(x + k e_a)`` over every pair in the grid (real FFTs padded to no
    wrap-around) divided by the number of pairs; kept per field (the fields are independent
    draws: their spread gives each lag's standard error)."""

    def __init__(self, case):
        self.case, self.max_lag = case, lags(case)
        self.per_field = [[] for _ in case["shape"]]
        self.count = 0

    def add(self, y) -> None:
        y = np.asarray(y, dtype=np.float64)
        for a, n in enumerate(y.shape):
            m = scipy.fft.next_fast_len(2 * n - 1, real=True)
            f = scipy.fft.rfft(y, n=m, axis=a, workers=-1)
            ac = scipy.fft.irfft(f.real ** 2 + f.imag ** 2, n=m, axis=a, workers=-1)
            other = tuple(b for b in range(y.ndim) if b != a)
            pairs = (n - np.arange(n)) * (y.size // n)
            self.per_field[a].append(np.take(ac, np.arange(n), axis=a).sum(axis=other) / pairs)
        self.count += 1

    def differences(self) -> list:
        """Per axis: empirical minus model covariance at lags 0..n-1 (units of the variance)."""
        out = []
        for a, n in enumerate(self.case["shape"]):
            model = correlation(self.case["kind"], np.arange(n) / n / self.case["lengths"][a])
            out.append(np.mean(self.per_field[a], axis=0) - model)
        return out

    def bias_at_least(self) -> float:
        """A lower bound on the generator's covariance bias (the largest ``|C - C_model|``)
        from its realizations:
        the largest ``|mean - model| - Z_BIAS * standard error`` over single lags 1..n-1 and
        over the means of :data:`BANDS` bands of consecutive lags on every axis (a band's mean
        bias is at most the largest; averaging over the band lowers the sampling error of
        the long lags, where few pairs are); 0 when nothing differs from the model by more
        than its sampling error."""
        low = 0.0
        for d, fields in zip(self.differences(), self.per_field):
            f = np.asarray(fields)[:, 1:] - (np.mean(fields, axis=0) - d)[1:]  # minus model
            stats = [f] + [f[:, band].mean(axis=1, keepdims=True) for band in np.array_split(
                np.arange(f.shape[1]), min(BANDS, f.shape[1]))]
            for x in stats:
                se = np.std(x, axis=0, ddof=1) / math.sqrt(self.count)
                low = max(low, float(np.max(np.abs(x.mean(axis=0)) - Z_BIAS * se)))
        return low

    def error(self, all_lags: bool = False) -> float:
        """RMS error at lags 1..L (``all_lags``: 1..n-1) over all axes."""
        d = self.differences()
        return float(np.sqrt(np.mean(np.concatenate(
            [e[1:] if all_lags else e[1:L + 1] for e, L in zip(d, self.max_lag)]) ** 2)))


def periodic_bias(case, period) -> float:
    """A lower bound on the covariance bias of a stationary generator whose fields are periodic
    with ``period`` cells along each axis (an FFT method on its padded grid): on a period ``m``
    the covariance at lag ``k`` equals the one at ``m - k``, so where both lags lie in the grid
    the error at one of them is at least ``|C(k) - C(m - k)| / 2``."""
    low = 0.0
    for n, m, length in zip(case["shape"], period, case["lengths"]):
        k = np.arange(max(m - n + 1, 0), n)
        if k.size:
            c = correlation(case["kind"], k / n / length)
            image = correlation(case["kind"], (m - k) / n / length)
            low = max(low, float(np.max(np.abs(c - image))) / 2)
    return low


def exact_bias(sampler) -> float:
    """Largest ``|C_sampled - C_model|`` over every offset of the grid (units of the variance):
    the sampler's clipped embedding ``IDFT(max(lambda, 0))`` (the covariance its fields have,
    float64) against the model, at offsets ``(k_1, .., k_d)``, ``|k_a| < n_a``."""
    from porevae.kle.exact import _nonnegative_spectrum, circulant_row

    emb, lam, _ = _nonnegative_spectrum(sampler.grid, sampler.cov, sampler.tol)
    row = scipy.fft.irfftn(lam, s=emb, workers=-1)
    model = circulant_row(sampler.grid, sampler.cov, emb)
    keep = tuple(np.r_[0:n, m - n + 1:m] if n > 1 else np.r_[0:1]
                 for n, m in zip(sampler.grid.shape, emb))
    return float(np.abs((row - model)[np.ix_(*keep)]).max() / sampler.cov.variance)


# ---- the tools (each imported in its own child) ------------------------------------------------
def _porevae_model(case):
    import porevae as pv

    ls = case["lengths"]
    if case["kind"] == "exponential":
        return pv.Exponential(ls[0] if len(set(ls)) == 1 else ls)
    return pv.SquaredExponential(ls[0] if len(set(ls)) == 1 else ls)


def _make_porevae(tool, case, name):
    """``(draw, info)``: ``draw(n, start)`` -> (n, *shape) fields."""
    import porevae as pv
    from porevae.kle.exact import ExactSampler

    grid, model = pv.Grid(case["shape"]), _porevae_model(case)
    if tool == "kle":
        kle = pv.KLE(grid, model, n_terms=KLE_TERMS[name])
        return (lambda n, start: kle.sample(n, seed=0, start=start)), {
            "energy": kle.energy, "n_terms": kle.n_terms, "solver": kle.solver}
    s = ExactSampler(grid, model, dtype="float32" if "f32" in tool else "float64",
                     **({"tol": STRICT_TOL} if tool in STRICT else {}))
    info = {"embedding": list(s.embedding), "clip_error": s.clip_error, "energy": 1.0,
            "dtype": s.dtype, "tol": s.tol}
    if tool == "exact-cond":
        rng = np.random.default_rng(1)
        cells = np.stack([rng.integers(0, n, N_WELLS) for n in case["shape"]], axis=1)
        s = s.condition(None, rng.normal(0.0, 1.0, N_WELLS), cells=cells)
        info["wells"] = N_WELLS
    def draw(n, start):
        return s.sample(n, seed=0, start=start)
    draw.sampler = s
    return draw, info


def _one_at_a_time(fn):
    """``draw(n, start)`` from a generator of one field ``fn(i)``."""
    def draw(n, start):
        return np.stack([fn(start + i) for i in range(n)])
    return draw


def _make_gstools(tool, case):
    import gstools as gs

    shape, ls = case["shape"], case["lengths"]
    d = len(shape)
    cls = gs.Exponential if case["kind"] == "exponential" else gs.Gaussian
    kw = {} if case["kind"] == "exponential" else {"rescale": 1.0}   # exp(-(r / l)^2)
    model = cls(dim=d, var=1.0, len_scale=list(ls) if len(set(ls)) > 1 else ls[0], **kw)
    axes = [(np.arange(n) + 0.5) / n for n in shape]
    if tool == "gstools-fourier":
        if len(set(ls)) > 1:
            raise NotImplementedError("GSTools' Fourier generator is isotropic only")
        srf = gs.SRF(model, generator="Fourier", period=[2.0] * d, mode_no=[64] * d)
    else:
        srf = gs.SRF(model, mode_no=1000 if tool == "gstools-rand" else 100)
    info = {"mode_no": getattr(srf.generator, "mode_no", None), "version": gs.__version__}
    if isinstance(info["mode_no"], np.ndarray):
        info["mode_no"] = info["mode_no"].tolist()
    return _one_at_a_time(lambda i: srf.structured(axes, seed=1000 + i)), info


def _make_gaussianfft(case):
    import gaussianfft as gf

    shape, ls = case["shape"], case["lengths"]
    # gaussianfft's ranges: where the correlation falls to exp(-3): 3 l (exponential),
    # sqrt(3) l (Gaussian); main range along y (azimuth 0), perpendicular along x
    f = 3.0 if case["kind"] == "exponential" else math.sqrt(3.0)
    ranges = {"main_range": f * ls[1], "perp_range": f * ls[0]}
    if len(shape) == 3:
        ranges["depth_range"] = f * ls[2]
    v = gf.variogram(case["kind"], **ranges)
    args = [a for n in shape for a in (n, 1.0 / n)]

    def one(i):
        gf.seed(1000 + i)
        return gf.simulate(v, *args).reshape(shape, order="F")
    return _one_at_a_time(one), {"padding": list(gf.simulation_size(v, *args))
                                 if hasattr(gf, "simulation_size") else None}


def _make_openturns(case):
    import openturns as ot

    n = math.prod(case["shape"])
    raise NotImplementedError(f"OpenTURNS {ot.__version__} KarhunenLoeveP1Algorithm / SVD "
                              f"need the dense covariance of the {n:,} vertices "
                              f"({8 * n * n / 1e12:.1f} TB): not run at this size")


def _import(tool):
    """The tool's package, imported before the clock and the memory baseline start."""
    import importlib

    name = {"gaussianfft": "gaussianfft", "openturns": "openturns"}.get(tool)
    if tool.startswith("gstools"):
        name = "gstools"
    for mod in [name] if name else ["porevae", "porevae.kle.exact"]:
        importlib.import_module(mod)


def worker(tool, name, case, n, budget, n_acc) -> dict:
    """Everything measured for one tool on one case, in this (child) process. A tool whose
    first realization takes more than half the ``budget`` is timed on that one only."""
    _import(tool)
    base = rss_bytes()
    reset_peak_rss()
    t0 = time.perf_counter()
    if tool in EXACT or tool == "kle":
        draw, info = _make_porevae(tool, case, name)
    elif tool.startswith("gstools"):
        draw, info = _make_gstools(tool, case)
    elif tool == "gaussianfft":
        draw, info = _make_gaussianfft(case)
    else:
        draw, info = _make_openturns(case)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = draw(1, 0)
    t1 = time.perf_counter() - t0
    if t1 > budget / 2:
        k, tk, fields = 1, t1, first[:0]
    else:
        k = n if t1 * n <= budget else max(2, min(n, int(budget / max(t1, 1e-9))))
        t0 = time.perf_counter()
        fields = draw(k, 1)
        tk = time.perf_counter() - t0
    peak = peak_rss_bytes() - base
    acc = LagCovariance(case)
    for y in (first[0], *fields):
        acc.add(y)
    row = {"tool": tool, "case": name, "setup_s": setup, "first_s": t1, "k": k,
           "per_real_s": tk / k, "peak_bytes": peak, "err": acc.error(),
           "err_all": acc.error(all_lags=True), "bias_at_least": acc.bias_at_least(),
           "n_err": acc.count,
           "var": float(np.mean([np.var(y) for y in (first[0], *fields)])), **info}
    if "clip_error" in info and tool != "exact-cond":       # untimed: the sampler's own bias
        row["bias"] = exact_bias(draw.sampler)
    if info.get("padding"):                                  # periodic on its padded grid
        row["bias_periodic"] = periodic_bias(case, info["padding"])
        row["bias_at_least"] = max(row["bias_at_least"], row["bias_periodic"])
    del fields
    if n_acc > acc.count:
        start = acc.count
        while acc.count < n_acc:
            m = min(100, n_acc - acc.count)
            for y in draw(m, start):
                acc.add(y)
            start += m
        row["err_acc"], row["n_acc"] = acc.error(), acc.count
        row["err_all_acc"] = acc.error(all_lags=True)
    return row


# ---- the parent ---------------------------------------------------------------------------
def run_child(python, tool, name, case, args) -> dict:
    cmd = [python, "-m", "bench.bench_fields", "--worker", tool, name, "--case-json",
           json.dumps(case), "--n", str(args.n), "--budget", str(args.budget), "--n-acc",
           str(args.n_acc if tool in args.acc_tools else 0)]
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    if not os.path.exists(python):
        return {"tool": tool, "case": name, "error": f"no interpreter {python} (--peers: the "
                                                     f"peers' virtual environment)"}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                             timeout=args.budget * 4 + 600)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "case": name, "error": "timed out"}
    for line in out.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)
    tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
    return {"tool": tool, "case": name, "error": tail[:160]}


def table(rows, n) -> str:
    head = (f"| grid | tool | set-up s | first s | per realization s (over k) | {n} "
            f"realizations s | peak MB | cov. error, lags <= 3 lengths (reals) | cov. error, "
            f"all lags | cov. bias | notes |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['tool']} | - | - | - | - | - | - | - | - | "
                         f"{r['error']} |")
            continue
        notes = []
        if "energy" in r and r["tool"] == "kle":
            notes.append(f"{r['n_terms']} terms, energy {r['energy']:.3f}, solver {r['solver']}")
        if "embedding" in r:
            notes.append(f"{r['dtype']}, tol {r['tol']:g}, embedding {tuple(r['embedding'])}, "
                         f"covariance change <= {r['clip_error']:.1e}")
        if "err_acc" in r:
            notes.append(f"**error {r['err_acc']:.4f} over {r['n_acc']} realizations** (all "
                         f"lags {r['err_all_acc']:.4f})")
        if r.get("mode_no") is not None:
            notes.append(f"mode_no {r['mode_no']}")
        if r.get("padding"):
            notes.append(f"padded to {tuple(r['padding'])}: periodic, bias >= "
                         f"{r['bias_periodic']:.4f} at the longest lags")
        if r.get("wells"):
            notes.append(f"{r['wells']} wells (the error is against the prior model: "
                         f"conditioned fields differ from it by design)")
        notes.append(f"field variance {r['var']:.3f}")
        label = "" if r["k"] == n else " (extrapolated)" if r["k"] > 1 else \
            " (extrapolated from the first)"
        lines.append(f"| {r['case']} | {r['tool']} | {r['setup_s']:.2f} | {r['first_s']:.3f} | "
                     f"{r['per_real_s']:.4f} ({r['k']}) | {r['setup_s'] + n * r['per_real_s']:.1f}"
                     f"{label} | {r['peak_bytes'] / 2**20:.0f} | {r['err']:.4f} ({r['n_err']}) | "
                     f"{r['err_all']:.4f} | {_bias(r)} | {'; '.join(notes)} |")
    return "\n".join(lines)


def _bias(r) -> str:
    """The exact sampler's bias (exact: max over every offset), a peer's lower bound."""
    if "bias" in r:
        return f"{r['bias']:.1e} (exact)"
    return f">= {r['bias_at_least']:.4f}"


def verdicts(rows, n) -> list:
    """The bars: each exact variant >= 2x faster than the fastest peer for ``n`` realizations
    at equal or better covariance error: its bias (computed exactly, over every offset) at
    most the peer's (a lower bound from the peer's realizations: ``bias_at_least``; a bias
    below 1e-10 counts as none); the error over --n-acc realizations
    <= 2 %."""
    out = []
    for name in dict.fromkeys(r["case"] for r in rows):
        ok = [r for r in rows if r["case"] == name and "error" not in r]
        peers = [r for r in ok if r["tool"] in PEERS]
        fast = min(peers, key=lambda r: r["per_real_s"]) if peers else None
        for ex in (r for r in ok if r["tool"] in EXACT - {"exact-cond"}):
            if fast is not None:
                ratio = fast["per_real_s"] / ex["per_real_s"]
                better = ex["bias"] <= max(fast["bias_at_least"], 1e-10)
                out.append(f"{name}: {ex['tool']} {ex['per_real_s']:.4f} s/realization (bias "
                           f"{ex['bias']:.1e}; error {ex['err']:.4f}, all lags "
                           f"{ex['err_all']:.4f}) vs fastest peer {fast['tool']} "
                           f"{fast['per_real_s']:.4f} s (bias >= {fast['bias_at_least']:.4f}; "
                           f"error {fast['err']:.4f}, all lags {fast['err_all']:.4f}): "
                           f"{ratio:.2f}x, covariance error "
                           f"{'equal or better' if better else 'not shown equal or better'} "
                           f"({'met' if ratio >= 2 and better else 'NOT met'} for >= 2x at "
                           f"equal or better error)")
            if "err_acc" in ex:
                out.append(f"{name}: {ex['tool']} error over {ex['n_acc']} realizations "
                           f"{ex['err_acc']:.4f} ({'met' if ex['err_acc'] <= 0.02 else 'NOT met'}"
                           f" for <= 0.02)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small grids: a smoke run")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    ap.add_argument("--n", type=int, default=100, help="realizations timed (default 100)")
    ap.add_argument("--n-acc", type=int, default=1000,
                    help="realizations of --acc-tool for the error bar (default 1000)")
    ap.add_argument("--acc-tools", nargs="*", default=["exact-f32", "exact"],
                    choices=sorted(EXACT), help="the exact variants that draw --n-acc "
                    "realizations (untimed; default exact-f32 exact: float32 and "
                    "float64)")
    ap.add_argument("--budget", type=float, default=30.0,
                    help="seconds a tool may take for --n realizations before it is timed "
                         "over fewer, or on its first alone past half of it (default 30)")
    ap.add_argument("--peers", default="/tmp/peers/bin/python",
                    help="Python of the peers' virtual environment")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--worker", nargs=2, metavar=("TOOL", "CASE"), help=argparse.SUPPRESS)
    ap.add_argument("--case-json", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        try:
            row = worker(*args.worker, json.loads(args.case_json), args.n, args.budget,
                         args.n_acc)
        except (NotImplementedError, ImportError, ValueError, MemoryError) as exc:
            row = {"tool": args.worker[0], "case": args.worker[1],
                   "error": " ".join(str(exc).split())}
        print(json.dumps(row), flush=True)
        return 0
    if args.quick:
        args.n, args.n_acc, args.budget = min(args.n, 10), min(args.n_acc, 50), 2.0
    cases = QUICK if args.quick else CASES
    from bench.common import machine

    print(f"{machine()}; peers: {args.peers}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    rows = []
    for name in args.cases:
        for tool in args.tools:
            python = args.peers if tool in PEERS else sys.executable
            t0 = time.perf_counter()
            row = run_child(python, tool, name, cases[name], args)
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(table(rows, args.n))
    print()
    for line in verdicts(rows, args.n):
        print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
