"""Statistics on hand-made images with known answers and against brute-force definitions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

import porevae.media as pm

ROW = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1, 0], bool)


def _rows(k=3):
    return np.tile(ROW, (k, 1))  # axes (x, y): every line along y is ROW


def test_lineal_path_hand_made():
    img = _rows()
    _, L = pm.lineal_path(img, axis=1, r_max=4)
    # segments of r+1 voxels fully in pore / start positions that fit (10 - r)
    assert np.allclose(L, [6 / 10, 3 / 9, 1 / 8, 0 / 7, 0 / 6])
    _, Lp = pm.lineal_path(img, axis=1, periodic=True, r_max=4)
    assert np.allclose(Lp, [0.6, 0.3, 0.1, 0.0, 0.0])
    _, Ls = pm.lineal_path(img, axis=1, r_max=2, phase="solid")
    assert np.allclose(Ls, [4 / 10, 1 / 9, 0 / 8])
    # along x every line is constant: L = porosity at every r
    _, Lx = pm.lineal_path(img, axis=0, r_max=2)
    assert np.allclose(Lx, 0.6)


def test_chord_lengths_hand_made():
    img = _rows(2)
    length, count = pm.chord_lengths(img, axis=1)
    assert dict(zip(length[count > 0], count[count > 0])) == {1: 2, 3: 2}
    _, with_edges = pm.chord_lengths(img, axis=1, include_edges=True)
    assert with_edges[1] == 2  # the chord of 2 touching the first face, once per line
    _, per = pm.chord_lengths(img, axis=1, periodic=True)
    assert dict(zip(np.nonzero(per)[0] + 1, per[per > 0])) == {1: 2, 2: 2, 3: 2}
    _, solid = pm.chord_lengths(img, axis=1, phase="solid", include_edges=True)
    assert dict(zip(np.nonzero(solid)[0] + 1, solid[solid > 0])) == {1: 4, 2: 2}
    # periodic lines entirely in the phase have no finite chord
    assert pm.chord_lengths(np.ones((4, 6), bool), axis=0, periodic=True)[1].sum() == 0


def _brute_s2(img, axis, d, periodic):
    if periodic:
        return (img & np.roll(img, -d, axis)).mean()
    n = img.shape[axis]
    return (np.take(img, range(n - d), axis) & np.take(img, range(d, n), axis)).mean()


def _brute_lineal(img, axis, r, periodic):
    ok = np.ones_like(img)
    for t in range(r + 1):
        ok &= np.roll(img, -t, axis)
    return (ok if periodic else np.take(ok, range(img.shape[axis] - r), axis)).mean()


@pytest.mark.parametrize("periodic", [False, True])
def test_s2_and_lineal_path_brute_force(periodic):
    rng = np.random.default_rng(3)
    img = rng.random((20, 17, 15)) < 0.6
    for axis in range(3):
        r, s2 = pm.two_point_correlation(img, axis=axis, periodic=periodic)
        assert np.allclose(s2, [_brute_s2(img, axis, int(d), periodic) for d in r])
        r, L = pm.lineal_path(img, axis=axis, periodic=periodic)
        assert np.allclose(L, [_brute_lineal(img, axis, int(d), periodic) for d in r])
    # radial: mean over the lag vectors of each unit shell
    rmax = 4
    r, s2 = pm.two_point_correlation(img, periodic=periodic, r_max=rmax)
    acc, cnt = np.zeros(rmax + 1), np.zeros(rmax + 1)
    for d in np.ndindex(9, 9, 9):
        d = np.array(d) - 4
        k = int(np.floor(np.linalg.norm(d) + 0.5))
        if k > rmax:
            continue
        if periodic:
            val = (img & np.roll(img, tuple(-d), (0, 1, 2))).mean()
        else:
            a = img[tuple(slice(max(0, -x), n - max(0, x)) for x, n in zip(d, img.shape))]
            b = img[tuple(slice(max(0, x), n - max(0, -x)) for x, n in zip(d, img.shape))]
            val = (a & b).mean()
        acc[k] += val
        cnt[k] += 1
    assert np.allclose(s2, acc / cnt)
    assert s2[0] == pytest.approx(pm.porosity(img))


def test_s2_torch_in_torch_out_and_validation():
    torch = pytest.importorskip("torch")
    img = torch.from_numpy(np.random.default_rng(0).random((16, 16)) < 0.5)
    _, s2 = pm.two_point_correlation(img, axis=0)
    assert isinstance(s2, torch.Tensor) and s2[0].item() == pytest.approx(img.float().mean())
    with pytest.raises(ValueError, match="binary"):
        pm.porosity(np.full((4, 4), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        pm.porosity(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="r_max"):
        pm.two_point_correlation(np.ones((8, 8), bool), axis=0, periodic=True, r_max=5)
    with pytest.raises(ValueError, match="2D or 3D"):
        pm.lineal_path(np.ones(8, bool))


def _ball(shape, centre, radius):
    g = np.indices(shape).astype(float)
    return sum((g[a] - centre[a]) ** 2 for a in range(len(shape))) <= radius**2


def test_euler_characteristic_known_shapes():
    shape = (33, 33, 33)
    ball = _ball(shape, (16, 16, 16), 10)
    assert pm.euler_characteristic(ball) == 1
    assert pm.euler_characteristic(ball, connectivity=6) == 1
    assert pm.euler_characteristic(ball | _ball(shape, (4, 4, 4), 2.5)) == 2  # two balls
    shell = ball & ~_ball(shape, (16, 16, 16), 5)  # a hollow ball: one cavity
    assert pm.euler_characteristic(shell) == 2
    g = np.indices(shape) - 16.0
    torus = (np.hypot(g[0], g[1]) - 9) ** 2 + g[2] ** 2 <= 9
    assert pm.euler_characteristic(torus) == 0
    assert pm.euler_characteristic(torus, connectivity=6) == 0
    # two voxels touching at a corner: one component with 26-, two with 6-adjacency
    corner = np.zeros((4, 4, 4), bool)
    corner[1, 1, 1] = corner[2, 2, 2] = True
    assert pm.euler_characteristic(corner) == 1
    assert pm.euler_characteristic(corner, connectivity=6) == 2
    # the full periodic box is a 3-torus: chi = 0
    assert pm.euler_characteristic(np.ones((5, 5, 5), bool), periodic=True) == 0
    disk = _ball((60, 60), (30, 30), 25) & ~_ball((60, 60), (20, 30), 4) & \
        ~_ball((60, 60), (40, 30), 4)
    assert pm.euler_characteristic(disk) == -1
    assert pm.euler_characteristic(disk, connectivity=4) == -1
    with pytest.raises(ValueError, match="connectivity"):
        pm.euler_characteristic(disk, connectivity=6)


@pytest.mark.parametrize("conn, bg", [(8, 1), (4, 2)])
def test_euler_2d_matches_label_counts(conn, bg):
    rng = np.random.default_rng(5)
    for _ in range(5):
        img = rng.random((30, 30)) < 0.5
        n_fg = ndi.label(img, ndi.generate_binary_structure(2, 2 if conn == 8 else 1))[1]
        n_bg = ndi.label(np.pad(~img, 1, constant_values=True),
                         ndi.generate_binary_structure(2, bg))[1]
        assert pm.euler_characteristic(img, connectivity=conn) == n_fg - (n_bg - 1)


def test_connected_fraction():
    img = np.zeros((10, 8, 6), bool)
    img[:, 2, 2] = True  # a channel along x: 10 voxels
    img[3:5, 5:7, 3:5] = True  # an isolated blob: 8 voxels
    assert pm.connected_fraction(img, axis=0) == pytest.approx(10 / 18)
    assert np.allclose(pm.connected_fraction(img), [10 / 18, 0, 0])
    diag = np.zeros((4, 4), bool)
    diag[np.arange(4), np.arange(4)] = True
    assert pm.connected_fraction(diag, axis=0) == 0.0
    assert pm.connected_fraction(diag, axis=0, connectivity=8) == 1.0
    assert pm.connected_fraction(np.zeros((4, 4), bool), axis=1) == 0.0


def test_distance_transform_and_local_thickness():
    img = pm.overlapping_spheres((22, 18, 16), 0.5, 3.0, periodic=False, seed=2)
    assert np.array_equal(pm.distance_transform(img), ndi.distance_transform_edt(img))
    a = np.rint(ndi.distance_transform_edt(img) ** 2).astype(int)
    pts = np.argwhere(img)
    for integer in (False, True):
        aa = np.floor(np.sqrt(a)) ** 2 if integer else a
        brute = np.zeros(img.shape)
        for c in pts:
            inside = pts[((pts - c) ** 2).sum(1) < aa[tuple(c)]]
            idx = tuple(inside.T)
            brute[idx] = np.maximum(brute[idx], np.sqrt(aa[tuple(c)]))
        assert np.allclose(pm.local_thickness(img, integer_radii=integer), brute, atol=1e-5)
    # periodic EDT: distances wrap around
    line = np.ones((12, 3), bool)
    line[0, :] = False
    assert pm.distance_transform(line, periodic=True)[6, 1] == 6
    assert pm.distance_transform(line)[11, 1] == 11


def test_local_thickness_slab_and_ball():
    slab = np.zeros((11, 6, 6), bool)
    slab[1:10] = True  # 9 voxels thick between two solid planes
    assert np.allclose(pm.local_thickness(slab)[slab], 5.0)  # (9 + 1) / 2
    ball = _ball((25, 25, 25), (12, 12, 12), 10)
    lt = pm.local_thickness(ball)
    # the nearest solid voxel centre to the centre is (10, 1, 0) away: one ball covers all
    assert np.allclose(lt[ball], np.sqrt(101.0))
    r, frac = pm.pore_size_distribution(ball)
    assert frac.sum() == pytest.approx(1.0) and r[np.argmax(frac)] == 10.5
    with pytest.raises(ValueError, match="no solid"):
        pm.local_thickness(np.ones((4, 4), bool))


def test_specific_surface_hand_made():
    img = np.zeros((10, 10, 10), bool)
    img[:5] = True  # one plane interface of area 100 in a volume of 1000
    assert pm.specific_surface(img, method="faces") == pytest.approx(100 / 1000)
    # s2 estimator: 4 * mean over axes of half the differing-pair fraction
    assert pm.specific_surface(img) == pytest.approx(4 * (0.5 * 100 / 900) / 3)
    assert pm.specific_surface(img, periodic=True, method="faces") == pytest.approx(0.2)
