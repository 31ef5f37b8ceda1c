"""``porevae train`` and ``porevae generate`` end to end on a tiny case."""

import json

import numpy as np
import tifffile

from porevae.cli import main


def test_train_resume_generate(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "media.npy", (rng.random((2, 40, 40)) < 0.4).astype(np.uint8))
    (tmp_path / "c.toml").write_text(
        '[model]\nkind = "fisher"\nndim = 2\nsize = 32\ndepth = 2\nchannels = 4\n'
        'latent_dim = 4\ngamma = 0.1\n[train]\nsteps = 6\nbatch_size = 2\n'
        'checkpoint_every = 2\nprogress = false\n')
    out = tmp_path / "run"
    args = ["train", str(tmp_path / "media.npy"), "--config", str(tmp_path / "c.toml"),
            "--out", str(out), "--lr", "0.002"]
    assert main(args + ["--steps", "4"]) == 0
    assert main(args + ["--resume"]) == 0
    assert "step 6:" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["train"]["lr"] == 0.002
    assert (out / "log.csv").read_text().count("\n") == 7  # header + 6 steps
    for name in ("s.npy", "s.tif", "s.raw"):
        assert main(["generate", str(out), "--n", "3", "--seed", "1",
                     "--out", str(tmp_path / name)]) == 0
    a = np.load(tmp_path / "s.npy")
    assert a.shape == (3, 32, 32) and a.dtype == np.uint8 and set(np.unique(a)) <= {0, 1}
    assert np.array_equal(tifffile.imread(tmp_path / "s.tif"), a)
    meta = json.loads((tmp_path / "s.raw.json").read_text())
    raw = np.fromfile(tmp_path / "s.raw", dtype=meta["dtype"]).reshape(meta["shape"])
    assert np.array_equal(raw, a)
    assert main(["generate", str(out / "checkpoint.pt"), "--n", "2", "--binarize", "none",
                 "--out", str(tmp_path / "p.npy")]) == 0
    p = np.load(tmp_path / "p.npy")
    assert p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1
    # the default cut keeps each sample's mean pore probability as its porosity
    assert main(["generate", str(out / "checkpoint.pt"), "--n", "2",
                 "--out", str(tmp_path / "m.npy")]) == 0
    m = np.load(tmp_path / "m.npy")
    np.testing.assert_allclose(m.reshape(2, -1).mean(1), p.reshape(2, -1).mean(1),
                               atol=1 / p[0].size)
    assert main(["generate", str(out / "checkpoint.pt"), "--n", "2", "--binarize", "threshold",
                 "--out", str(tmp_path / "t.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "t.npy"), (p >= 0.5).astype(np.uint8))


def test_bad_values_name_the_parameter(tmp_path, capsys):
    np.save(tmp_path / "m.npy", np.zeros((40, 40), np.uint8))
    assert main(["train", str(tmp_path / "m.npy"), "--out", str(tmp_path / "o"), "--ndim", "2",
                 "--latent-dim", "0"]) == 2
    assert "latent_dim must be an integer in [1, 4096], got 0" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "o"), "--out", str(tmp_path / "x.png")]) == 2
    assert "--out must end in one of" in capsys.readouterr().err
