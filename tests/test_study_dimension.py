"""`porevae study dimension`: covariance names from the registry; an existing --out is refused
before any work unless --overwrite."""

import time

from porevae.cli import main
from porevae.covariance import MODELS
from porevae.studies.dimension import DEFAULT_COVARIANCES


def test_existing_out_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "study"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    t0 = time.perf_counter()
    assert main(["study", "dimension", "--out", str(out), "--no-progress"]) == 2
    assert time.perf_counter() - t0 < 5
    err = capsys.readouterr().err
    assert "--out" in err and "exists" in err and "--overwrite" in err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_every_registered_model_is_a_choice(capsys):
    assert set(DEFAULT_COVARIANCES) <= set(MODELS)
    for name in MODELS:
        # parsed and accepted; the bad --dims is refused by the study before any training
        assert main(["study", "dimension", "--covariances", name.replace("_", "-"),
                     "--dims", "0"]) == 2
        assert "dims must be integers" in capsys.readouterr().err
