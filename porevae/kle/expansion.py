"""The Karhunen-Loeve expansion object: truncation, sampling, projection, persistence.

A realization is ``Y = mean + sum_{k <= M} sqrt(lambda_k) phi_k xi_k`` with ``xi_k ~ N(0, 1)``
i.i.d.; ``lambda_k`` are the eigenvalues of the cell-centre covariance matrix C (units of the
variance) and ``phi_k`` its orthonormal eigenvectors (length ``n_cells``, I-fastest order).
The energy of M terms is ``E(M) = sum_{k <= M} lambda_k / trace(C)`` with ``trace(C) = n sigma^2``.
With quadrature weights (``weights="volume"`` on a corner-point grid, :mod:`porevae.kle.weights`)
``lambda_k, u_k`` are the eigenpairs of ``A = W^(1/2) C W^(1/2)`` (``trace(A) = n sigma^2`` too)
and ``phi_k = W^(-1/2) u_k`` is W-orthonormal.
"""

from __future__ import annotations

import json
import math

import numpy as np

from porevae._files import FileIntegrityError, atomic_path, digest_arrays
from porevae._lazy import lazy_module
from porevae._progress import write
from porevae._validation import check_choice, check_int, check_levels
from porevae._version import __version__
from porevae.cornerpoint import CornerPointGrid
from porevae.covariance import CovarianceModel, model_from_dict
from porevae.grid import Grid
from porevae.kle import _device
from porevae.kle import weights as _weights
from porevae.kle._linalg import n_terms_for_energy
from porevae.kle.conditioning import ConditionalKLE, condition
from porevae.kle.sampling import CHUNK, DTYPES, DeviceSampler, draw
from porevae.kle.solvers import make_solver, plan

h5py = lazy_module("h5py")
torch = lazy_module("torch")


def _leading_for_energy(solver, level, trace, n_cells, known=0, vectors=False, progress=False):
    """``(w, v)``: leading pairs (``v`` None unless ``vectors``) of a leading-only solver that
    reach ``level``. A solver with its own growth (``for_energy``: ``fft``, sector by sector,
    from its estimated spectrum) does it; otherwise a first batch (twice what is ``known``, at
    least 64) grows by half until the energy is reached, each batch checked by the solver
    before it allocates."""
    if hasattr(solver, "for_energy"):
        return solver.for_energy(level, vectors=vectors, progress=progress)
    k = min(n_cells, max(64, 2 * known))
    while True:
        if progress:
            write(f"solver {solver.name!r}: {k} leading pairs for {level:.1%} of the energy")
        if vectors:
            w, v = solver.eigenpairs(k, progress=progress)
        else:
            w, v = solver.eigenvalues(k, progress=progress), None
        if n_terms_for_energy(w, level, trace, n_cells) is not None or k >= n_cells:
            return w, v
        k = min(n_cells, k + k // 2)


def _energy_table(solver, levels, trace, n_cells, known=None, progress=False):
    """``{level: M}``, computing only as much of the spectrum as the largest level < 1 needs."""
    levels = check_levels(levels)
    partial = [lv for lv in levels if lv < 1.0]
    w = np.asarray(known if known is not None else [])
    if partial and n_terms_for_energy(w, max(partial), trace, n_cells) is None:
        if solver.full_spectrum_cheap:
            w = solver.eigenvalues(progress=progress)
        else:
            w, _ = _leading_for_energy(solver, max(partial), trace, n_cells, len(w),
                                       progress=progress)
    table = {float(lv): n_terms_for_energy(w, lv, trace, n_cells) for lv in levels}
    return table, w


def energy_table(grid: Grid, cov: CovarianceModel, levels, solver: str = "auto",
                 progress: bool = False, weights=None) -> dict:
    """``{level: M}``: the smallest number of terms M with ``E(M) >= level`` for each level.

    ``levels`` are fractions in (0, 1]; 1.0 means the whole spectrum (``grid.n_cells``).
    Only as much of the spectrum as needed is computed (``kron`` and ``parity`` give the whole
    spectrum of eigenvalues cheaply). ``weights``: as for :class:`KLE`.
    """
    _check_grid_cov(grid, cov)
    s = make_solver(solver, _domain(grid), cov, weights=_weights.resolve(weights, grid))
    table, _ = _energy_table(s, levels, grid.n_cells * cov.variance, grid.n_cells,
                             progress=progress)
    return table


def _check_grid_cov(grid, cov):
    if not isinstance(grid, (Grid, CornerPointGrid)):
        raise TypeError(f"grid must be a porevae.Grid or CornerPointGrid, got "
                        f"{type(grid).__name__}")
    if not isinstance(cov, CovarianceModel):
        raise TypeError(f"cov must be a porevae covariance model, got {type(cov).__name__}")
    cov.length_scales(grid.ndim)


def _domain(grid):
    """What the solvers see: a regular Grid (its structure), or the active cells' centres of a
    corner-point grid (a point set: ``dense`` or ``matfree``)."""
    return grid if isinstance(grid, Grid) else grid.cell_centers()


class KLE:
    """Truncated Karhunen-Loeve expansion of a Gaussian random field on a regular grid or on the
    active cells of a corner-point grid.

    Parameters
    ----------
    grid : Grid or CornerPointGrid
        A regular grid (fields of ``grid.shape``), or a reservoir model's corner-point grid
        (fields of its ``n_active`` active cells in I-fastest order; the cells' centres are the
        collocation points, solved by ``dense`` or ``matfree``).
    cov : CovarianceModel
    n_terms : int, optional
        Number of terms M in [1, n_cells]. Give ``n_terms`` or ``energy``, not both.
    energy : float, optional
        Energy level in (0, 1]: M is the smallest with ``E(M) >= energy``.
    solver : {"auto", "dense", "parity", "kron", "fft", "matfree"}
    dtype : {"float64", "float32"}
        Storage of the eigenvectors and of sampled fields (eigenvalues stay float64).
    mean : float
        Mean of the Gaussian field (``mu``).
    device : str
        Torch device of the eigen-solve and of ``sample(..., as_tensor=True)`` (batched GEMM
        there). ``"cpu"`` (the default) solves on the host with NumPy/SciPy/Numba; a GPU runs
        the same solver on torch tensors there (:mod:`porevae.kle.solvers`). Eigenpairs are
        kept on the host as NumPy arrays.
    progress : bool
        Show progress bars for long solves and samplings.
    weights : None, "volume" or array (n_cells,)
        Quadrature weights of the cells (:mod:`porevae.kle.weights`): ``"volume"`` weights each
        active cell of a corner-point grid by its bulk volume, so that refined cells do not
        dominate the expansion; an array gives positive weights of any scale. They are
        normalised to ``w = v / mean(v)`` (``sum w = n_cells``) and kept in :attr:`weights`;
        the eigenpairs are those of ``W^(1/2) C W^(1/2)`` with ``eigenvectors = W^(-1/2) u``
        (``Phi^T W Phi = I``), and :meth:`project` uses the W inner product. Only ``dense`` and
        ``matfree`` take weights (``"auto"`` picks one of them). On a regular grid every cell
        has the same volume: ``"volume"`` is the unweighted expansion. Default None: unweighted.

    :meth:`from_eigenpairs` builds a KLE from eigenpairs computed elsewhere (it is what
    :meth:`load` and this constructor both end in).
    """

    def __init__(self, grid, cov, n_terms=None, energy=None, solver="auto", dtype="float64",
                 mean=0.0, device="cpu", progress=False, weights=None):
        _check_grid_cov(grid, cov)
        check_choice(dtype, "dtype", tuple(DTYPES))
        if (n_terms is None) == (energy is None):
            raise ValueError("give exactly one of n_terms (number of terms) or energy (fraction "
                             "in (0, 1])")
        if n_terms is not None:
            check_int(n_terms, "n_terms", 1, grid.n_cells)
        if energy is not None:
            energy = float(check_levels(energy, "energy")[0])
        if not math.isfinite(float(mean)):
            raise ValueError(f"mean must be finite, got {mean}")
        wts = _weights.resolve(weights, grid)
        solve_on = _device.solve_device(device)
        # the plan, checked against the memory of the device before any work (and before
        # torch loads when the solve runs on the host)
        p = plan(_domain(grid), cov, n_terms=n_terms, energy=energy, solver=solver,
                 device=solve_on, weights=wts)
        device = torch.device(device)
        if progress:
            write(str(p))
        s = p.solver
        trace = grid.n_cells * cov.variance
        known = None  # leading (or all) eigenvalues, for energy tables
        v = None
        if energy is not None and s.full_spectrum_cheap:
            table, known = _energy_table(s, [energy], trace, grid.n_cells, progress=progress)
            n_terms = table[energy]
        elif energy is not None:  # leading-only solver: its pairs for the energy, truncated
            known, v = _leading_for_energy(s, energy, trace, grid.n_cells, vectors=True,
                                           progress=progress)
            n_terms = n_terms_for_energy(known, energy, trace, grid.n_cells)
            w, v = known[:n_terms], v[:, :n_terms]  # a view when the solver gave n_terms
        if v is None:
            w, v = s.eigenpairs(n_terms, progress=progress)
        self._setup(grid, cov, w, _device.to_numpy(v), solver=s, dtype=dtype, mean=mean,
                    device=device, energy_requested=energy, known=known, weights=wts,
                    weighting=_weighting(weights, wts))

    @classmethod
    def from_eigenpairs(cls, grid, cov, eigenvalues, eigenvectors, *, solver="auto",
                        dtype="float64", mean=0.0, device="cpu", energy_requested=None,
                        known=None, weights=None) -> KLE:
        """A KLE from given eigenpairs: ``eigenvalues`` (M,) descending, ``eigenvectors``
        (n_cells, M) orthonormal columns in I-fastest order; ``solver`` names the solver that
        extends the spectrum for :meth:`energy_table` / :meth:`spectrum`; ``known``: leading
        eigenvalues beyond the kept ones, if any. ``weights``: ``"volume"`` or the normalised
        weights (n_cells,) (mean 1: :attr:`weights` of the expansion the pairs come from) for
        which the eigenvectors are W-orthonormal; kept as given."""
        _check_grid_cov(grid, cov)
        check_choice(dtype, "dtype", tuple(DTYPES))
        w = np.asarray(eigenvalues, dtype=np.float64)
        v = np.asarray(eigenvectors)
        if w.ndim != 1 or v.shape != (grid.n_cells, w.size) or w.size < 1:
            raise ValueError(f"eigenvalues (M,) and eigenvectors (n_cells={grid.n_cells}, M) "
                             f"expected, got shapes {w.shape} and {v.shape}")
        wts = _weights.resolve(weights, grid, normalised=True)
        device = torch.device(device)
        s = make_solver(solver, _domain(grid), cov, None if device.type == "cpu" else device,
                        n_terms=w.size, weights=wts)
        self = cls.__new__(cls)
        self._setup(grid, cov, w, v, solver=s, dtype=dtype, mean=mean, device=device,
                    energy_requested=energy_requested, known=known, weights=wts,
                    weighting=_weighting(weights, wts))
        return self

    def _setup(self, grid, cov, w, v, *, solver, dtype, mean, device, energy_requested, known,
               weights, weighting):
        """Every attribute of a KLE, set in one place (the constructor and the loader).
        ``weights``: normalised (n_cells,) or None; ``weighting``: None, "volume" or "given"
        (what :meth:`params` records)."""
        self.grid, self.cov = grid, cov
        self.dtype = dtype
        self.mean = float(mean)
        self.device = torch.device(device)
        self.energy_requested = energy_requested
        self._solver = solver
        self.solver = solver.name
        self.weights, self.weighting = weights, weighting
        self.trace = grid.n_cells * cov.variance  # trace(W^(1/2) C W^(1/2)) too: sum w = n
        self.eigenvalues = np.asarray(w, dtype=np.float64)
        self.eigenvectors = np.ascontiguousarray(v, dtype=DTYPES[dtype])
        self.n_terms = len(self.eigenvalues)
        self._known = self.eigenvalues if known is None or len(known) < self.n_terms else \
            np.asarray(known, dtype=np.float64)
        self._torch_cache = {}
        self._sampler = None

    @property
    def energy(self) -> float:
        """Energy ``E(M)`` captured by the kept terms."""
        return float(np.sum(self.eigenvalues) / self.trace)

    def energy_table(self, levels, progress=False) -> dict:
        """``{level: M}`` for this grid and covariance (computing more eigenvalues if needed)."""
        table, w = _energy_table(self._solver, levels, self.trace, self.grid.n_cells,
                                 known=self._known, progress=progress)
        if len(w) > len(self._known):
            self._known = w
        return table

    def spectrum(self, k: int | None = None, progress: bool = False) -> np.ndarray:
        """Descending eigenvalues of C beyond the kept terms: all (``k=None``) or the leading k.

        Computed once and cached (``parity`` and ``kron`` give the whole spectrum cheaply; the
        iterative solvers give leading eigenvalues only).
        """
        if k is not None:
            check_int(k, "k", 1, self.grid.n_cells)
        want = self.grid.n_cells if k is None else k
        if len(self._known) < want:
            self._known = np.asarray(self._solver.eigenvalues(k, progress=progress))
        return self._known[:want].copy()

    # ---- sampling ---------------------------------------------------------------------------
    def coefficients(self, n: int, seed=None, start: int = 0) -> np.ndarray:
        """Standard normal coefficients ``xi``, shape (n, n_terms), float64.

        Realization ``i`` (for ``i`` in ``start .. start + n - 1``) draws from its own stream
        ``SeedSequence(seed, spawn_key=(i,))``: it does not depend on how many are drawn at once,
        and its first ``m`` coefficients are the same for any ``n_terms >= m``.
        """
        check_int(n, "n", 0)
        check_int(start, "start", 0)
        if seed is None:
            seed = np.random.SeedSequence().entropy
        out = np.empty((n, self.n_terms))
        for r in range(n):
            ss = np.random.SeedSequence(seed, spawn_key=(start + r,))
            out[r] = np.random.Generator(np.random.PCG64(ss)).standard_normal(self.n_terms)
        return out

    def _tensors(self, device, dtype):
        key = (str(device), dtype)
        if key not in self._torch_cache:
            self._torch_cache[key] = (
                torch.as_tensor(self.eigenvectors, dtype=dtype, device=device),
                torch.as_tensor(np.sqrt(np.clip(self.eigenvalues, 0, None)), dtype=dtype,
                                device=device))
        return self._torch_cache[key]

    def field(self, xi):
        """Fields from coefficients: ``xi`` (n, M) or (M,) -> (n, *grid.shape) or grid.shape.

        NumPy in, NumPy out (``dtype``); a torch tensor in gives a differentiable torch tensor
        on its device (``mean + (xi * sqrt(lambda)) @ Phi^T``).
        """
        if xi.shape[-1] != self.n_terms:
            raise ValueError(f"xi must have {self.n_terms} coefficients in its last axis, got "
                             f"shape {tuple(xi.shape)}")
        _check_finite(xi, "xi")
        if isinstance(xi, torch.Tensor):
            phi, sq = self._tensors(xi.device, xi.dtype)
            y = (xi * sq) @ phi.T + self.mean
        else:
            xi = np.asarray(xi)
            sq = np.sqrt(np.clip(self.eigenvalues, 0, None)).astype(self.eigenvectors.dtype)
            y = (xi.astype(self.eigenvectors.dtype) * sq) @ self.eigenvectors.T
            y += self.mean
        return self.grid.unflatten(y)

    def sample(self, n: int, seed=None, start: int = 0, progress: bool = False,
               as_tensor: bool = False):
        """``n`` Gaussian realizations ``start .. start + n - 1``, shape (n, *grid.shape).

        Bit-for-bit reproducible per realization on a given machine and library: realization
        ``i`` has its own coefficient stream (:meth:`coefficients`) and its field is computed in
        the GEMM of the aligned chunk ``[i - i % CHUNK, ...)`` of ``CHUNK`` rows
        (:func:`porevae.kle.sampling.draw`, the loop of every sampler) at the same row,
        whatever ``start`` and ``n`` are. ``as_tensor=True`` returns a torch tensor computed on
        ``device`` (on a GPU: the same coefficients, equal to the CPU fields up to rounding).
        """
        if as_tensor and self.device.type == "cuda":
            return self._device_sampler().sample(n, seed, start, progress=progress)
        if as_tensor:
            tdt = torch.float64 if self.dtype == "float64" else torch.float32
            return draw(n, seed, start, grid=self.grid, n_terms=self.n_terms,
                        coefficients=self.coefficients, field=self.field, dtype=tdt,
                        device=self.device, progress=progress,
                        convert=lambda xi: torch.as_tensor(xi, dtype=tdt, device=self.device))
        return draw(n, seed, start, grid=self.grid, n_terms=self.n_terms,
                    coefficients=self.coefficients, field=self.field,
                    dtype=DTYPES[self.dtype], progress=progress)

    def _device_sampler(self):
        if self._sampler is None:  # uploads Phi sqrt(Lambda) once
            self._sampler = DeviceSampler(self, self.device, torch.float64 if self.dtype ==
                                          "float64" else torch.float32)
        return self._sampler

    def lognormal(self, n: int, seed=None, start: int = 0, **kwargs):
        """Log-normal realizations ``exp(Y)``, shape (n, *grid.shape) (e.g. permeability)."""
        y = self.sample(n, seed, start, **kwargs)
        return torch.exp(y) if isinstance(y, torch.Tensor) else np.exp(y, out=y)

    def project(self, fields):
        """Coefficients of fields: ``xi = Lambda^{-1/2} Phi^T W (y - mean)`` (``W = I`` without
        :attr:`weights`), so that ``project(field(xi)) = xi``.

        fields: (n, *grid.shape) or grid.shape -> (n, M) or (M,). NumPy or torch (differentiable).
        """
        _check_finite(fields, "fields")
        flat = self.grid.flatten(fields)
        if isinstance(flat, torch.Tensor):
            phi, sq = self._tensors(flat.device, flat.dtype)
            dev = flat - self.mean
            if self.weights is not None:
                dev = dev * torch.as_tensor(self.weights, dtype=flat.dtype, device=flat.device)
            return (dev @ phi) / sq
        dev = np.asarray(flat, dtype=np.float64) - self.mean
        if self.weights is not None:
            dev *= self.weights
        return (dev @ self.eigenvectors.astype(np.float64)) / np.sqrt(self.eigenvalues)

    def condition(self, locations, values, noise=0.0, *, cells=None) -> ConditionalKLE:
        """The expansion conditioned on point data (wells): ``values`` (m,) observed at
        ``locations`` (m, ndim coordinates; None when ``cells`` gives (m, ndim) cell indices) with
        Gaussian errors of standard deviation ``noise``. Exact Gaussian conditioning of the
        truncated prior in xi-space (:mod:`porevae.kle.conditioning`: its cost, its formulas, a
        noise per datum); the result samples (``sample``, ``lognormal``) seeded like this KLE, and
        gives ``mean()`` and ``std()``."""
        return condition(self, locations, values, noise, cells=cells)

    # ---- persistence ------------------------------------------------------------------------
    def params(self) -> dict:
        """All parameters, JSON-serialisable (kept in files and manifests)."""
        return {"grid": self.grid.to_dict(), "cov": self.cov.to_dict(), "n_terms": self.n_terms,
                "energy_requested": self.energy_requested, "solver": self.solver,
                "dtype": self.dtype, "mean": self.mean, "energy": self.energy,
                "porevae_version": __version__} | \
            ({} if self.weighting is None else {"weights": self.weighting})

    def _payload(self) -> dict:
        """The arrays of a KLE file, with the parameters as UTF-8 bytes (for the checksum); a
        corner-point grid adds its arrays (``grid_actnum``, ``grid_centers``, ``grid_volumes``),
        a weighted expansion its normalised ``weights``."""
        extra = {} if isinstance(self.grid, Grid) else \
            {f"grid_{k}": v for k, v in self.grid.arrays().items()}
        if self.weights is not None:
            extra["weights"] = self.weights
        return {"eigenvalues": self.eigenvalues, "eigenvectors": self.eigenvectors,
                "known_eigenvalues": self._known, **extra,
                "params": np.frombuffer(json.dumps(self.params()).encode(), np.uint8)}

    def save(self, path) -> None:
        """Write eigenpairs and parameters to HDF5, atomically (temporary file, then rename),
        with the SHA-256 of the arrays and parameters (``digest_arrays``) that :meth:`load`
        verifies."""
        payload = self._payload()
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["porevae_kle"] = bytes(payload["params"]).decode()
            f.attrs["sha256"] = digest_arrays(payload)
            for name, data in payload.items():
                if name != "params":
                    f.create_dataset(name, data=data)

    @classmethod
    def load(cls, path, device="cpu") -> KLE:
        """Read a file written by :meth:`save`, verifying its checksum.

        Raises :class:`~porevae._files.FileIntegrityError` (a ``ValueError``) naming the file
        and what failed: not HDF5 or truncated, not a porevae KLE file, a missing dataset or
        checksum, or arrays / parameters that do not match the checksum.
        """
        try:
            with h5py.File(path, "r") as f:
                if "porevae_kle" not in f.attrs:
                    raise FileIntegrityError(f"{path}: not a porevae KLE file (no "
                                             f"'porevae_kle' attribute)")
                text = f.attrs["porevae_kle"]
                stored = f.attrs.get("sha256")
                missing = [k for k in ("eigenvalues", "eigenvectors", "known_eigenvalues")
                           if k not in f]
                if missing:
                    raise FileIntegrityError(f"{path}: KLE file without dataset(s) "
                                             f"{', '.join(missing)}")
                arrays = {k: f[k][...] for k in f if isinstance(f[k], h5py.Dataset)}
        except FileIntegrityError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise FileIntegrityError(f"{path}: not a readable HDF5 KLE file (truncated, "
                                     f"corrupt or another format): {exc}") from None
        if stored is None:
            raise FileIntegrityError(f"{path}: KLE file without a checksum (written by an "
                                     f"older porevae); compute and save it again")
        text = text.decode() if isinstance(text, bytes) else str(text)
        arrays["params"] = np.frombuffer(text.encode(), np.uint8)
        if digest_arrays(arrays) != stored:
            raise FileIntegrityError(f"{path}: checksum mismatch: the eigenpairs or parameters "
                                     f"are not those that were saved (corrupted file)")
        try:
            p = json.loads(text)
            cov = model_from_dict(p["cov"])
            grid = CornerPointGrid.from_dict(p["grid"], {
                k.removeprefix("grid_"): v for k, v in arrays.items() if k.startswith("grid_")}) \
                if p["grid"].get("corner_point") else Grid(**p["grid"])
        except (ValueError, KeyError, TypeError) as exc:
            raise FileIntegrityError(f"{path}: unreadable KLE parameters: {exc}") from None
        return cls.from_eigenpairs(grid, cov, arrays["eigenvalues"], arrays["eigenvectors"],
                                   solver=p["solver"], dtype=p["dtype"], mean=p["mean"],
                                   device=device, energy_requested=p["energy_requested"],
                                   known=arrays["known_eigenvalues"],
                                   weights="volume" if p.get("weights") == "volume" else
                                   arrays.get("weights"))

    def __repr__(self):
        weights = "" if self.weighting is None else f", weights={self.weighting!r}"
        return (f"KLE(grid={self.grid.field_shape}, cov={self.cov!r}, n_terms={self.n_terms}, "
                f"energy={self.energy:.4f}, solver={self.solver!r}, dtype={self.dtype!r}"
                f"{weights})")


def _weighting(request, weights):
    """What :meth:`KLE.params` records: None (unweighted), ``"volume"`` or ``"given"``."""
    if weights is None:
        return None
    return request if isinstance(request, str) else "given"


def _check_finite(x, name):
    """Refuse NaN or infinite entries in an input array or tensor (one line, with the count)."""
    if isinstance(x, torch.Tensor):
        bad, size = int((~torch.isfinite(x.detach())).sum()), x.numel()
    else:
        x = np.asarray(x)
        size = x.size
        bad = int(np.count_nonzero(~np.isfinite(x))) if x.dtype.kind in "fc" else 0
    if bad:
        raise ValueError(f"{name} has {bad} NaN or infinite value(s) among {size}; they must "
                         f"be finite")




#: CHUNK: realizations per sampling GEMM (porevae.kle.sampling), aligned to their indices
__all__ = ["CHUNK", "DTYPES", "KLE", "energy_table", "n_terms_for_energy"]
