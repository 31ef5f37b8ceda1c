"""``porevae train`` and ``porevae generate`` end to end on tiny cases: kinds built with their
class defaults, every term in the log line, re-run protection, checkpoint integrity, any shape,
memory refusals, output formats."""

import json

import numpy as np
import pytest
import tifffile
import torch

from porevae.cli import dataclass_help, main
from porevae.vae import BetaVAE, FisherVAE, ModelConfig, TrainConfig, load_checkpoint, load_model

TOML = ('[model]\nsize = 16\ndepth = 2\nchannels = 3\nmax_channels = 6\n'
        'latent_channels = 2\nlatent_blocks = 1\n[train]\nbatch_size = 2\n'
        'checkpoint_every = 2\nprogress = false\n')


@pytest.fixture
def media(tmp_path, rng):
    np.save(tmp_path / "media.npy", (rng.random((40, 40)) < 0.4).astype(np.uint8))
    (tmp_path / "c.toml").write_text(TOML)
    return tmp_path


def _train(tmp, *extra, out="run"):
    return main(["train", str(tmp / "media.npy"), "--config", str(tmp / "c.toml"),
                 "--out", str(tmp / out), *extra])


def test_train_resume_generate(media, capsys):
    tmp = media
    assert _train(tmp, "--steps", "4", "--lr", "0.002", "--kind", "fisher") == 0
    assert _train(tmp, "--steps", "6", "--lr", "0.002", "--kind", "fisher") == 2
    assert "--resume" in capsys.readouterr().err  # a finished folder is not clobbered
    assert _train(tmp, "--steps", "6", "--lr", "0.002", "--kind", "fisher", "--resume") == 0
    text = capsys.readouterr().out
    assert "resuming from step 4 of 6" in text and "step 6:" in text
    out = tmp / "run"
    assert json.loads((out / "config.json").read_text())["train"]["lr"] == 0.002
    assert (out / "log.csv").read_text().count("\n") == 7  # header + 6 steps
    for name in ("s.npy", "s.tif", "s.h5"):
        assert main(["generate", str(out), "-n", "3", "--seed", "1", "--shape", "40", "24",
                     "--out", str(tmp / name), "--no-progress"]) == 0
    a = np.load(tmp / "s.npy")
    assert a.shape == (3, 40, 24) and a.dtype == np.uint8 and set(np.unique(a)) <= {0, 1}
    assert np.array_equal(tifffile.imread(tmp / "s.tif"), a)
    import h5py

    with h5py.File(tmp / "s.h5") as fh:
        assert np.array_equal(fh["volume"][()], a)
    assert main(["generate", str(out / "checkpoint.pt"), "-n", "2", "--cut", "none",
                 "--out", str(tmp / "p.npy"), "--no-progress"]) == 0
    p = np.load(tmp / "p.npy")
    assert p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1 and p.shape == (2, 16, 16)
    assert main(["generate", str(out), "-n", "2", "--out", str(tmp / "d.npy"),
                 "--no-progress"]) == 0
    d = np.load(tmp / "d.npy")  # the default cut: the training data's porosity, recorded
    porosity = load_checkpoint(out)["data"]["porosity"]
    assert porosity == np.load(tmp / "media.npy").mean()
    assert (d.reshape(2, -1).sum(1) == round(porosity * d[0].size)).all()
    assert main(["generate", str(out), "-n", "2", "--cut", "mean", "--out", str(tmp / "m.npy"),
                 "--no-progress"]) == 0
    m = np.load(tmp / "m.npy")  # --cut mean keeps each sample's mean probability
    np.testing.assert_allclose(m.reshape(2, -1).mean(1), p.reshape(2, -1).mean(1),
                               atol=1 / p[0].size)
    assert main(["generate", str(out), "-n", "2", "--cut", "half", "--out",
                 str(tmp / "t.npy"), "--no-progress"]) == 0
    assert np.array_equal(np.load(tmp / "t.npy"), (p >= 0.5).astype(np.uint8))
    assert main(["generate", str(out), "-n", "2", "--porosity", "0.25", "--out",
                 str(tmp / "q.npy"), "--no-progress"]) == 0
    assert (np.load(tmp / "q.npy").reshape(2, -1).sum(1) == 64).all()


@pytest.mark.parametrize("kind, cls", [("fisher", FisherVAE), ("beta", BetaVAE)])
def test_cli_kinds_build_the_class_loss(media, capsys, kind, cls):
    tmp = media
    assert _train(tmp, "--steps", "1", "--kind", kind, out=kind) == 0
    text = capsys.readouterr().out
    model = load_model(tmp / kind)
    ref = cls(**{k: v for k, v in model.config.to_dict().items()
                 if k not in ("kind", "beta", "gamma", "fisher_target", "fisher", "warmup")})
    assert type(model) is cls and model.config == ref.config
    assert ref.loss_formula() in text
    if kind == "fisher":
        assert model.config.gamma == 0.1 and "0.1 |mean_n F_n - 5|" in text
        assert "+ 0.1 x |fisher" in text  # the final line shows the Fisher term too
    else:
        assert model.config.beta == 4.0 and "4 mean_n KL_n" in text


def test_corrupt_foreign_and_truncated_checkpoints_refused(media, capsys):
    tmp = media
    assert _train(tmp, "--steps", "2", "--kind", "fisher") == 0
    ck = tmp / "run" / "checkpoint.pt"
    state = torch.load(ck, weights_only=True)
    name = next(k for k in state["model"] if k.startswith("decoder") and k.endswith("weight"))
    w = state["model"][name]
    w.view(-1)[: w.numel() // 2] = 0  # half a decoder weight zeroed, digest kept
    torch.save(state, tmp / "zeroed.pt")
    (tmp / "trunc.pt").write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    (tmp / "garbage.pt").write_bytes(bytes(range(256)) * 40)
    cases = {"zeroed.pt": "do not match their stored SHA-256", "trunc.pt": "not a readable",
             "garbage.pt": "not a readable", "media.npy": "not a readable"}
    for name, message in cases.items():
        capsys.readouterr()
        assert main(["generate", str(tmp / name), "--out", str(tmp / "x.npy")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("porevae generate: error:") and name in err and message in err
        assert len(err.splitlines()) == 1
    assert not (tmp / "x.npy").exists()


def test_generate_refuses_oversize_before_allocating(media, capsys):
    tmp = media
    assert _train(tmp, "--steps", "1") == 0
    assert main(["generate", str(tmp / "run"), "-n", "1000000000000", "--out",
                 str(tmp / "x.npy")]) == 2
    assert "bytes" in capsys.readouterr().err and not (tmp / "x.npy").exists()


def test_degenerate_data_refused(tmp_path, capsys):
    np.save(tmp_path / "pore.npy", np.ones((24, 24), np.uint8))
    (tmp_path / "c.toml").write_text(TOML)
    assert main(["train", str(tmp_path / "pore.npy"), "--config", str(tmp_path / "c.toml"),
                 "--out", str(tmp_path / "o"), "--steps", "1"]) == 2
    assert "all pore" in capsys.readouterr().err


def test_bad_values_name_the_parameter(media, capsys):
    tmp = media
    assert _train(tmp, "--latent-channels", "0") == 2
    assert "latent_channels must be in [1, 512], got 0" in capsys.readouterr().err
    assert main(["generate", str(tmp / "o"), "--out", str(tmp / "x.png")]) == 2
    assert "--out must end in one of" in capsys.readouterr().err


def test_every_config_field_has_a_flag_with_its_doc(capsys):
    for cls in (ModelConfig, TrainConfig):
        docs = dataclass_help(cls, defaults=False)
        for f in cls.__dataclass_fields__:
            assert docs.get(f), (cls.__name__, f)
    assert main(["train", "--help"]) == 0  # main returns argparse's status, never raises
    text = capsys.readouterr().out
    for flag in ("--latent-channels", "--s2-weight", "--prior-batch", "--logvar-min",
                 "--overwrite", "--no-augment", "--no-progress", "--dataset"):
        assert flag in text, flag
    assert "{vae,beta,fisher}" in text and "--ndim" not in text


def test_generate_chunk_flag_does_not_change_the_result(media):
    tmp = media
    assert _train(tmp, "--steps", "1") == 0
    for chunk in ("1", "3"):
        assert main(["generate", str(tmp / "run"), "--shape", "40", "44", "--chunk", chunk,
                     "--cut", "none", "--out", str(tmp / f"c{chunk}.npy"),
                     "--no-progress"]) == 0
    np.testing.assert_allclose(np.load(tmp / "c1.npy"), np.load(tmp / "c3.npy"), atol=1e-5)
    assert main(["generate", str(tmp / "run"), "--chunk", "0", "--out",
                 str(tmp / "c.npy")]) == 2


def test_dataset_flag_reads_and_writes_the_named_hdf5_dataset(media):
    import h5py

    tmp = media
    img = np.load(tmp / "media.npy")
    with h5py.File(tmp / "m.h5", "w") as fh:
        fh["rock"] = img
        fh["noise"] = np.full_like(img, 7)  # not binary: reading it would be refused
    assert main(["train", str(tmp / "m.h5"), "--dataset", "rock", "--config",
                 str(tmp / "c.toml"), "--out", str(tmp / "h"), "--steps", "1"]) == 0
    assert main(["train", str(tmp / "m.h5"), "--dataset", "noise", "--config",
                 str(tmp / "c.toml"), "--out", str(tmp / "h2"), "--steps", "1"]) == 2
    assert main(["generate", str(tmp / "h"), "--dataset", "samples", "-n", "2",
                 "--out", str(tmp / "g.h5"), "--no-progress"]) == 0
    with h5py.File(tmp / "g.h5") as fh:
        assert list(fh) == ["samples"] and fh["samples"].shape == (2, 16, 16)


def test_every_train_flag_sets_its_config_field():
    """Each flag generated from ModelConfig / TrainConfig reaches that field of the Config the
    command trains with (a valid value other than the kind's default, one flag at a time, on a
    Fisher VAE so that every loss field is allowed)."""
    import dataclasses

    from porevae.cli import build_parser
    from porevae.cli.train import build_config

    values = {"kind": "beta", "size": "48", "depth": "3", "channels": "6", "max_channels": "24",
              "latent_channels": "5", "blocks": "2", "latent_blocks": "3",
              "likelihood": "gaussian", "obs_std": "0.5", "beta": "2.5", "gamma": "0.3",
              "fisher_target": "3.0", "fisher": "mc", "warmup": "7", "logvar_min": "-9.0",
              "logvar_max": "3.0", "latent_backend": "torch", "s2_weight": "2.0", "s2_rmax": "9",
              "s2_cut": "porosity", "s2_size": "48", "euler_weight": "0.5",
              "flow_weight": "0.02", "surface_weight": "0.3", "steps": "11", "batch_size": "3",
              "prior_batch": "2",
              "lr": "0.004",
              "weight_decay": "0.01", "scheduler": "cosine", "min_lr_ratio": "0.2",
              "grad_clip": "1.5", "seed": "5", "checkpoint_every": "3", "log_every": "2",
              "amp": "off", "channels_last": "off", "device": "cpu"}
    parser = build_parser()
    default = build_config(parser.parse_args(["train", "x.npy", "--out", "o", "--kind",
                                              "fisher"]), ndim=3)
    checked = set()
    for table in ("model", "train"):
        for f in dataclasses.fields(getattr(default, table)):
            if f.name not in values:
                continue
            kind = [] if f.name == "kind" else ["--kind", "fisher"]
            if f.name == "euler_weight":  # a term of the descriptor loss: needs s2_weight
                kind += ["--s2-weight", "1.0"]
            if f.name in ("flow_weight", "surface_weight"):  # also need the porosity cut
                kind += ["--s2-weight", "1.0", "--s2-cut", "porosity"]
            argv = ["train", "x.npy", "--out", "o", *kind, "--" + f.name.replace("_", "-"),
                    values[f.name]]
            got = getattr(getattr(build_config(parser.parse_args(argv), ndim=3), table), f.name)
            before = getattr(getattr(default, table), f.name)
            shaped = f.name in ("size", "s2_size")
            want = (48, 48, 48) if shaped else \
                float(values[f.name]) if f.name == "obs_std" else type(before)(values[f.name])
            assert tuple(got) == want if shaped else got == want, (f.name, got)
            assert got != before, f.name
            checked.add(f.name)
    fields = {f.name for t in ("model", "train") for f in
              dataclasses.fields(getattr(default, t))}
    assert fields - checked == {"ndim", "betas", "progress", "augment"}  # not plain flags


def test_refused_resume_leaves_the_run_untouched(media, capsys):
    """Issue 22 item 4: --resume --kind beta on a VAE run is refused in one line before
    anything is written (config.json and the checkpoint keep their bytes)."""
    tmp = media
    assert _train(tmp, "--steps", "2", "--lr", "0.002") == 0
    run = tmp / "run"
    before = {n: (run / n).read_bytes() for n in ("config.json", "checkpoint.pt", "log.csv")}
    capsys.readouterr()
    assert _train(tmp, "--steps", "4", "--resume", "--kind", "beta", "--lr", "0.01") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--kind 'beta' (the run's: 'vae')" in err
    assert "--lr 0.01 (the run's: 0.002)" in err
    assert {n: (run / n).read_bytes() for n in before} == before
    # other data: refused by the checkpoint's data checksum, before anything is written
    np.save(tmp / "other.npy", 1 - np.load(tmp / "media.npy"))
    assert main(["train", str(tmp / "other.npy"), "--out", str(run), "--resume",
                 "--steps", "4"]) == 2
    assert "trained on other data" in capsys.readouterr().err
    assert {n: (run / n).read_bytes() for n in before} == before
    assert main(["train", str(tmp / "media.npy"), "--out", str(tmp / "none"), "--resume"]) == 2
    assert "holds no run to resume" in capsys.readouterr().err


def test_resume_takes_the_runs_own_configuration(media, capsys):
    """--resume with no --config and no flags but --steps continues the run as configured, and
    equals the uninterrupted run bit for bit."""
    tmp = media
    assert _train(tmp, "--steps", "4", "--lr", "0.002", "--kind", "fisher", out="full") == 0
    assert _train(tmp, "--steps", "2", "--lr", "0.002", "--kind", "fisher", out="part") == 0
    assert main(["train", str(tmp / "media.npy"), "--out", str(tmp / "part"), "--resume",
                 "--steps", "4", "--no-progress"]) == 0
    assert "resuming from step 2 of 4" in capsys.readouterr().out
    a, b = (load_checkpoint(tmp / n) for n in ("full", "part"))
    assert a["step"] == b["step"] == 4 and a["train_config"] == b["train_config"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def _pore_runs(tmp, name, volume, *extra):
    np.save(tmp / f"{name}.npy", volume)
    return main(["train", str(tmp / f"{name}.npy"), "--config", str(tmp / "c.toml"), "--out",
                 str(tmp / name), "--steps", "2", *extra])


def test_pore_value_conventions(media, capsys):
    """0/1 data: pore = 1, said; 0/255 data need --pore-value (one line); pore 0 in 0/255 data
    trains bit for bit as the same medium stored 1/0; grey levels cut at Otsu's threshold
    (printed); the data's porosity is recorded in the checkpoint."""
    tmp = media
    pore = np.load(tmp / "media.npy").astype(bool)
    assert _pore_runs(tmp, "ones", pore.astype(np.uint8)) == 0
    assert "pore = 1 (porevae's convention" in capsys.readouterr().out
    assert _pore_runs(tmp, "bytes", np.where(pore, 0, 255).astype(np.uint8)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--pore-value 0 or 255" in err
    assert not (tmp / "bytes").exists()
    assert _pore_runs(tmp, "bytes", np.where(pore, 0, 255).astype(np.uint8),
                      "--pore-value", "0") == 0
    a, b = load_checkpoint(tmp / "ones"), load_checkpoint(tmp / "bytes")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["data"]["porosity"] == b["data"]["porosity"] == pytest.approx(pore.mean(), abs=0)
    assert b["data"]["pore_value"] == "0" and "pore = 0" in b["data"]["segmentation"][0]
    rng = np.random.default_rng(3)
    grey = np.where(pore, 60, 180) + rng.integers(-20, 20, pore.shape)
    assert _pore_runs(tmp, "grey", grey.astype(np.int16), "--pore-value", "dark") == 0
    out = capsys.readouterr().out
    assert "Otsu's threshold" in out
    c = load_checkpoint(tmp / "grey")
    assert all(torch.equal(a["model"][k], c["model"][k]) for k in a["model"])
    assert _pore_runs(tmp, "grey2", grey.astype(np.int16)) == 2
    assert "dark or bright" in capsys.readouterr().err
    np.save(tmp / "f.npy", rng.standard_normal((40, 40)).astype(np.float32))
    assert main(["train", str(tmp / "f.npy"), "--config", str(tmp / "c.toml"), "--out",
                 str(tmp / "f"), "--likelihood", "gaussian", "--pore-value", "1"]) == 2
    assert "does not apply to --likelihood gaussian" in capsys.readouterr().err


def test_init_from_a_checkpoint_and_refused_for_another_architecture(media, capsys):
    tmp = media
    assert _train(tmp, "--steps", "2", "--kind", "fisher") == 0
    assert _train(tmp, "--steps", "1", "--kind", "beta", "--lr", "1e-9", "--init",
                  str(tmp / "run"), out="ft") == 0
    a, b = load_checkpoint(tmp / "run"), load_checkpoint(tmp / "ft")
    assert b["model_config"]["kind"] == "beta"
    name = "decoder.body.0.weight"  # one step at lr 1e-9 keeps the initial weights (to 1e-6)
    torch.testing.assert_close(a["model"][name], b["model"][name], atol=1e-6, rtol=0)
    capsys.readouterr()
    assert _train(tmp, "--steps", "1", "--latent-channels", "3", "--init", str(tmp / "run"),
                  out="bad") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another architecture: latent_channels 2" in err
    assert not (tmp / "bad" / "checkpoint.pt").exists()
    assert _train(tmp, "--steps", "1", "--init", "berea", out="bad2") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--init berea: another architecture: ndim 3" in err
