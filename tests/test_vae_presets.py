"""Presets: the rock recipe's stages are the configs their files name (and what flags change),
a multi-stage run resumed at any point equals an uninterrupted one bit for bit, and
``porevae train --preset rock`` runs every stage (tiny sizes and steps)."""

import json

import numpy as np
import pytest
import torch

from porevae.cli import main
from porevae.vae import load_checkpoint, load_config, load_model
from porevae.vae.presets import (
    Stage,
    describe,
    load_preset,
    preset_files,
    preset_names,
    train_stages,
)


def test_rock_stages_are_their_files_and_the_shipped_recipe():
    assert "rock" in preset_names()
    stages = load_preset("rock")
    assert [s.name for s in stages] == ["1-soft", "2-cut", "3-cut-fine"]
    for stage, path in zip(stages, preset_files("rock")):
        assert stage.config == load_config(path)  # --config FILE trains the same stage
    one, two, three = (s.config for s in stages)
    arch = {"kind": "fisher", "depth": 2, "channels": 8,
            "max_channels": 48, "latent_channels": 8, "blocks": 1, "latent_blocks": 4,
            "gamma": 1000.0, "s2_weight": 10.0}
    for cfg in (one, two, three):
        m = cfg.model
        assert {k: getattr(m, k) for k in arch} == arch
        t = cfg.train
        assert (t.batch_size, t.prior_batch, t.scheduler, t.min_lr_ratio, t.seed) == \
            (3, 3, "cosine", 0.1, 0)
    # progressive crops: stage 1 on 48^3 (0.45x the cost of a 64^3 step), stages 2-3 on 64^3
    assert [cfg.model.shape for cfg in (one, two, three)] == [(48,) * 3, (64,) * 3, (64,) * 3]
    assert (one.model.s2_cut, one.model.s2_rmax, one.train.steps, one.train.lr) == \
        ("soft", 24, 2000, 1e-3)
    assert (two.model.s2_cut, two.model.s2_rmax, two.train.steps, two.train.lr) == \
        ("porosity", 32, 400, 3e-4)
    assert (three.model.s2_cut, three.model.s2_rmax, three.train.steps, three.train.lr) == \
        ("porosity", 32, 300, 1e-4)
    # the log line names what the stage optimises: its own loss, with its weights
    line = describe(stages[1], 2, 3)
    assert line.startswith("stage 2/3 2-cut: 400 steps of 3 crops 64x64x64, lr 0.0003 cosine")
    assert "1000 |mean_n F_n - 5|" in line and "10 D" in line and "exact-porosity cut" in line
    assert "lags 0..32" in line
    # an override reaches every stage and changes what the line claims
    small = load_preset("rock", {"model": {"size": 16, "s2_rmax": 7, "gamma": 2.0},
                                 "train": {"steps": 3}})
    for s in small:
        assert s.config.model.shape == (16, 16, 16) and s.config.train.steps == 3
        assert "2 |mean_n F_n - 5|" in describe(s, 1, 3) and "lags 0..7" in describe(s, 1, 3)


def _tiny_stages():
    model = {"kind": "fisher", "ndim": 2, "size": 16, "depth": 2, "channels": 3,
             "max_channels": 6, "latent_channels": 2, "latent_blocks": 1, "gamma": 5.0,
             "s2_weight": 1.0, "s2_rmax": 5}
    train = {"steps": 3, "batch_size": 2, "prior_batch": 2, "scheduler": "cosine",
             "checkpoint_every": 1, "progress": False, "seed": 1}
    from porevae.vae.config import config_from_dict

    return [Stage("1-a", config_from_dict({"model": model, "train": train})),
            Stage("2-b", config_from_dict({"model": {**model, "s2_cut": "porosity"},
                                           "train": {**train, "lr": 3e-4, "seed": 2}}))]


@pytest.mark.parametrize("kill", [("1-a", 2), ("2-b", 1), ("2-b", 3)])
def test_resumed_multi_stage_run_equals_uninterrupted(tmp_path, rng, kill):
    """Killed at step k of a stage (after that step's checkpoint, or at the end of a stage
    before the next one starts), then resumed: the final weights equal the uninterrupted run's
    bit for bit."""
    img = (rng.random((40, 40)) < 0.4).astype(np.uint8)
    stages = _tiny_stages()
    lines = []
    full = train_stages(stages, img, tmp_path / "a", log=lines.append)
    assert len(lines) == 2 and lines[0].startswith("stage 1/2 1-a") and "optimises" in lines[0]

    def kill_at(trainer, step, terms):
        if trainer.label.endswith(kill[0]) and step == kill[1]:
            trainer.save_checkpoint()
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        train_stages(stages, img, tmp_path / "b", callbacks=[kill_at], log=lambda s: None)
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
    lines = []
    part = train_stages(stages, img, tmp_path / "b", resume=True, log=lines.append)
    if kill == ("2-b", 3):
        assert lines[0] == "stage 1/2 1-a: done (3 steps), kept"
    a, b = load_checkpoint(full), load_checkpoint(part)
    assert a["step"] == b["step"] == 3 and a["digest"] == b["digest"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["data"]["porosity"] == pytest.approx(img.mean(), abs=0)


def _volume(rng):
    from porevae.media import overlapping_spheres

    return overlapping_spheres((24, 24, 24), 0.4, 3.0, seed=int(rng.integers(100)))


def test_cli_preset_runs_every_stage_and_resumes(tmp_path, rng, capsys):
    np.save(tmp_path / "rock.npy", _volume(rng).astype(np.uint8))
    argv = ["train", str(tmp_path / "rock.npy"), "--out", str(tmp_path / "run"), "--preset",
            "rock", "--size", "16", "--s2-rmax", "7", "--steps", "2", "--batch-size", "2",
            "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    stage_lines = [line for line in out.splitlines() if line.startswith("stage ")]
    assert len(stage_lines) == 3 and all("optimises" in line for line in stage_lines)
    assert "pore = 1 (porevae's convention" in out
    # spheres of radius 3: a mean pore chord under 8 voxels, so the latent cell is 2, not 4
    assert "latent cell f = 2 voxels: the data's mean pore chord is " in out
    run = tmp_path / "run"
    record = json.loads((run / "preset.json").read_text())
    assert record["preset"] == "rock" and [s["name"] for s in record["stages"]] == \
        ["1-soft", "2-cut", "3-cut-fine"]
    assert [s["model"]["depth"] for s in record["stages"]] == [1, 1, 1]
    for name in ("1-soft", "2-cut", "3-cut-fine"):
        assert load_checkpoint(run / name)["step"] == 2
    model = load_model(run)
    assert model.config.s2_cut == "porosity" and model.config.shape == (16, 16, 16)
    assert 0 < model.data_info["porosity"] < 1
    assert main(argv) == 2  # a run is there: --resume or --overwrite
    assert "--resume" in capsys.readouterr().err
    assert main(argv[:6] + ["--resume", "--lr", "0.1"]) == 2  # contradicts every stage
    err = capsys.readouterr().err
    assert "--lr 0.1" in err and len(err.strip().splitlines()) == 1
    assert main(argv[:4] + ["--resume", "--no-progress"]) == 0  # the run's own settings
    assert capsys.readouterr().out.count("done (2 steps), kept") == 3


def test_latent_depth_fits_two_cells_in_the_mean_pore_chord():
    """The depth of a preset's model: the largest f = 2**d (d <= the stage files') with
    2 f <= the mean pore chord 4 phi / Sv, the judge's (scalar_statistics); pooled over
    volumes by their voxels; the CLI's --depth and --init keep the architecture."""
    from porevae.media import overlapping_spheres
    from porevae.media.report import scalar_statistics
    from porevae.vae.presets import latent_depth

    fine = overlapping_spheres((48, 48, 48), 0.4, 3.0, periodic=True, seed=1)
    coarse = overlapping_spheres((48, 48, 48), 0.4, 8.0, periodic=True, seed=2)
    for vol, most, want in ((fine, 2, 1), (coarse, 2, 2), (coarse, 3, 2), (coarse, 1, 1)):
        depth, chord = latent_depth([vol], most)
        assert chord == pytest.approx(scalar_statistics(vol)["mean_pore_chord"], rel=1e-12)
        assert depth == want and (depth == 1 or 2 * 2**depth <= chord < 4 * 2**depth
                                  or depth == most), (chord, depth)
    c_fine, c_coarse = latent_depth([fine], 2)[1], latent_depth([coarse], 2)[1]
    assert c_fine < 8 <= c_coarse  # the two media straddle the rule
    both = latent_depth([fine, coarse[:24]], 2)[1]
    assert c_fine < both < c_coarse
    assert latent_depth([np.ones((16, 16), bool)], 2) == (2, float("inf"))


def test_load_preset_for_sizes_the_cell_unless_told(rng):
    """load_preset_for: the rule in every stage with its line, the other overrides kept; a
    depth override leaves it and says nothing."""
    from porevae.vae.presets import load_preset_for

    fine = [_volume(rng)]
    stages, line = load_preset_for("rock", fine, {"model": {"size": 16, "s2_rmax": 7}})
    assert [(s.config.model.depth, s.config.model.shape) for s in stages] == [(1, (16,) * 3)] * 3
    assert line.startswith("latent cell f = 2 voxels: the data's mean pore chord is ")
    stages, line = load_preset_for("rock", fine, {"model": {"size": 16, "s2_rmax": 7,
                                                            "depth": 2}})
    assert [s.config.model.depth for s in stages] == [2, 2, 2] and line is None


def test_cli_preset_depth_flag_and_init_keep_the_architecture(tmp_path, rng, capsys):
    np.save(tmp_path / "rock.npy", _volume(rng).astype(np.uint8))
    base = ["train", str(tmp_path / "rock.npy"), "--preset", "rock", "--size", "16",
            "--s2-rmax", "7", "--steps", "1", "--batch-size", "1", "--prior-batch", "1",
            "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "a"), "--depth", "2"]) == 0
    assert "latent cell" not in capsys.readouterr().out
    assert load_model(tmp_path / "a").config.depth == 2
    assert main(base + ["--out", str(tmp_path / "b"), "--init", str(tmp_path / "a")]) == 0
    assert "latent cell" not in capsys.readouterr().out
    assert load_model(tmp_path / "b").config.depth == 2


def test_rock_preset_is_the_shipped_berea_models_recipe():
    """The shipped Berea model is the rock preset's last stage: the same architecture and loss
    (obs_std aside: a Bernoulli model has none) and the same training settings (device and
    progress aside), but for the number of steps: the weights predate the preset's faster
    schedule (their stage 3 ran 600 steps, the model card gives the commands), so the model card
    can cite ``porevae train ... --preset rock``."""
    from porevae.data import pretrained_path

    ck = load_checkpoint(pretrained_path("berea"))
    last = load_preset("rock")[-1].config
    model = {k: v for k, v in last.model.to_dict().items() if k != "obs_std"}
    # fields newer than the checkpoint (flow_weight) are read at their defaults, off
    saved = {**{k: v for k, v in model.items() if k not in ck["model_config"]},
             **ck["model_config"]}
    assert {k: saved[k] for k in model} == model and model["flow_weight"] == 0.0
    train = {k: v for k, v in last.train.to_dict().items()
             if k not in ("device", "progress", "steps")}
    assert {k: ck["train_config"][k] for k in train} == train
    assert (ck["train_config"]["steps"], last.train.steps) == (600, 300)


def test_flow_preset_is_rock_stage_3_plus_the_flow_term(tmp_path, capsys):
    """The flow preset is stage 3 of rock with the permeability and specific-surface terms (and
    a stronger S2 term to hold the texture), run twice, the second time at twice the rate; it
    continues a rock model, so the command refuses it without --init, in one line, before
    anything is written."""
    rock = load_preset("rock")[-1].config
    flow, close = (stage.config for stage in load_preset("flow"))
    changed = {"s2_weight": 40.0, "flow_weight": 0.1, "surface_weight": 0.1}
    assert {k: v for k, v in flow.model.to_dict().items() if k not in changed} == \
        {k: v for k, v in rock.model.to_dict().items() if k not in changed}
    assert {k: getattr(flow.model, k) for k in changed} == changed
    assert rock.model.flow_weight == rock.model.surface_weight == 0
    assert flow.train.steps == 200 and flow.train.lr == rock.train.lr
    # stage 2: stage 1 again at twice the rate
    assert close.model == flow.model and close.train.lr == 2 * flow.train.lr
    assert {**close.train.to_dict(), "lr": flow.train.lr} == flow.train.to_dict()
    np.save(tmp_path / "rock.npy", np.zeros((32, 32, 32), dtype=np.uint8))
    argv = ["train", str(tmp_path / "rock.npy"), "--out", str(tmp_path / "run"), "--preset",
            "flow"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--preset flow continues a model of --preset rock" \
        in err and "--init" in err
    assert not (tmp_path / "run").exists()
