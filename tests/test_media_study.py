"""`porevae study dimension` on a tiny case: table, files, KLE error falling with M."""

from __future__ import annotations

import json

from porevae.cli import main


def test_study_dimension_cli(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["study", "dimension", "--dims", "4", "32", "--covariances", "exponential",
                 "--n-train", "16", "--n-test", "8", "--n-generate", "16", "--steps", "3",
                 "--batch-size", "8", "--out", str(out)]) == 0
    assert "| exponential | 32 |" in capsys.readouterr().out
    rows = json.loads((out / "study.json").read_text())["rows"]
    assert [r["dim"] for r in rows] == [4, 32]
    # the truncated KLE is the optimal linear code: its error falls as sqrt(1 - energy)
    assert rows[1]["kle_error"] < rows[0]["kle_error"] < 1
    for r in rows:
        assert abs(r["kle_error"] - (1 - r["energy"]) ** 0.5) < 0.15
    assert (out / "error_vs_dimension.png").stat().st_size > 0
    assert main(["study", "dimension", "--dims", "0"]) == 2


def test_study_reconstruction_cli(tmp_path, capsys):
    out = tmp_path / "rec"
    assert main(["study", "reconstruction", "--shape", "40", "40", "40", "--steps", "2",
                 "--n-samples", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "porosity" in text and "euler_density" in text
    report = (out / "reconstruction.md").read_text()
    assert "| specific_surface |" in report and (out / "summary.md").exists()
