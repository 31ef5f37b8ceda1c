"""The two studies (porevae.studies) on tiny cases, through porevae.cli.study's parser: table,
files, KLE error falling with M; the spatial latent layout of a latent size d."""

from __future__ import annotations

import argparse
import json

import pytest

from porevae.cli import study as cli_study
from porevae.studies import latent_layout


def _run(argv) -> int:
    parser = argparse.ArgumentParser(prog="porevae")
    cli_study.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"porevae study: error: {exc}")
        return 2


def test_latent_layout():
    assert latent_layout(32, 256) == (1, 1)  # 16 x 16 cells, 1 channel
    assert latent_layout(32, 64) == (2, 1)
    assert latent_layout(32, 8) == (4, 2)  # 2 x 2 cells, 2 channels
    assert latent_layout(32, 96) == (3, 6)
    assert latent_layout(32, 7) == (5, 7)  # a 1 x 1 map: the vector latent as a special case
    with pytest.raises(ValueError, match="d = 1025 is not C"):
        latent_layout(8, 1025)


def test_study_dimension_cli(tmp_path, capsys):
    out = tmp_path / "study"
    assert _run(["study", "dimension", "--dims", "4", "32", "--covariances", "exponential",
                 "--n-train", "16", "--n-test", "8", "--n-generate", "16", "--steps", "3",
                 "--batch-size", "8", "--out", str(out), "--no-progress"]) == 0
    assert "| exponential | 32 |" in capsys.readouterr().out
    rows = json.loads((out / "study.json").read_text())["rows"]
    assert [r["dim"] for r in rows] == [4, 32]
    # the truncated KLE is the optimal linear code: its error falls as sqrt(1 - energy)
    assert rows[1]["kle_error"] < rows[0]["kle_error"] < 1
    for r in rows:
        assert abs(r["kle_error"] - (1 - r["energy"]) ** 0.5) < 0.15
    assert (out / "error_vs_dimension.png").stat().st_size > 0
    assert _run(["study", "dimension", "--dims", "0"]) == 2


def test_study_reconstruction_cli(tmp_path, capsys):
    out = tmp_path / "rec"
    assert _run(["study", "reconstruction", "--shape", "40", "40", "40", "--steps", "2",
                 "-n", "2", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "porosity" in text and "euler_density" in text
    report = (out / "reconstruction.md").read_text()
    assert "| specific_surface |" in report and (out / "summary.md").exists()


def test_study_reconstruction_cuts_as_generate_does():
    """By default the samples are cut as ``porevae generate`` cuts them: the connected cut at
    the training medium's porosity (to one voxel), where the mean cut keeps the model's own."""
    from porevae.studies import reconstruction_study

    kw = {"shape": (40, 40, 40), "steps": 2, "n_samples": 2, "size": 16}
    default = {t["statistic"]: t for t in reconstruction_study(**kw)["targets"]}
    mean = {t["statistic"]: t for t in reconstruction_study(cut="mean", **kw)["targets"]}
    assert abs(default["porosity"]["diff"]) <= 1 / 16**3
    assert abs(mean["porosity"]["diff"]) > 0.01
