"""The ERT example (examples/ert) without ERT: the forward-model step PERMX_FIELD as ERT reads it,
and truth.py / evaluate.py on OPM Flow runs (skipped without `flow`). ERT itself runs the example
in `make integration` (its own environment, .venv-ert)."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from porevae.cli import main
from porevae.export import read_grdecl

CASE = Path(__file__).parents[1] / "examples" / "ert"
FLOW = shutil.which("flow")
needs_flow = pytest.mark.skipif(FLOW is None, reason="OPM Flow ('flow') is not installed")


@pytest.fixture
def example(monkeypatch):
    monkeypatch.syspath_prepend(str(CASE))
    import evaluate
    import truth

    return truth, evaluate


def ert_tokens(line: str) -> list[str]:
    """Words of one line of an ERT file: `--` outside quotes starts a comment, quotes go."""
    words, word, quote, i = [], "", None, 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == quote:
                quote = None
            else:
                word += c
        elif c in "\"'":
            quote = c
        elif line.startswith("--", i):
            break
        elif c.isspace():
            if word:
                words.append(word)
            word = ""
        else:
            word += c
        i += 1
    return words + ([word] if word else [])


def test_permx_field_step_passes_every_option(example, tmp_path):
    """ERT reads an unquoted `--kle` as a comment (the step then got `field` alone): the options
    are quoted; after the substitutions of kle_field.ert they are truth.py's transform."""
    truth, _ = example
    assert ert_tokens('A b -- c "--d" e--f') == ["A", "b"]
    assert ert_tokens('ARGLIST "--kle" <KLE> x') == ["ARGLIST", "--kle", "<KLE>", "x"]
    step = {w[0]: w[1:] for w in map(ert_tokens, (CASE / "PERMX_FIELD").read_text().splitlines())
            if w}
    assert step["EXECUTABLE"] == ["porevae"]
    config = [ert_tokens(line) for line in (CASE / "kle_field.ert").read_text().splitlines()]
    call = next(" ".join(w[1:]) for w in config if w[:1] == ["FORWARD_MODEL"]
                and w[1].startswith("PERMX_FIELD("))
    values = dict(re.findall(r"(<\w+>)=([^,)]+)", call))
    args = [values.get(a, a) for a in step["ARGLIST"]]
    assert "--parameters" in args and "--perm" in args, args
    assert args[0] == "field" and args[args.index("--perm"):] == truth.TRANSFORM
    kle = tmp_path / "kle.h5"
    assert main(["kle", "--shape", "20", "20", "--spacing", "10", "10", "--n-terms", "8",
                 "--length-scale", "80", "--out", str(kle), "--no-progress"]) == 0
    (tmp_path / "parameters.json").write_text(json.dumps({"XI_0000": {"value": 1.0}}))
    assert args[args.index("--kle") + 1] == "<KLE_FILE>"            # DEFINE'd in the config
    for option, value in (("--kle", kle), ("--parameters", tmp_path / "parameters.json"),
                          ("--out", tmp_path)):
        args[args.index(option) + 1] = str(value)
    assert main(args) == 0
    assert read_grdecl(tmp_path / "PERMX.GRDECL")["PERMX"].shape == (400,)


@needs_flow
def test_truth_observations_and_evaluation(example, tmp_path, capsys):
    """truth.py runs Flow and writes one SUMMARY_OBSERVATION per datum; evaluate.py reads run
    folders laid out as ERT's and fails unless the last iteration's data misfit is the lower."""
    truth, evaluate = example
    case, other = tmp_path / "case", tmp_path / "other"
    case.mkdir()
    assert main(["kle", "--shape", "20", "20", "--spacing", "10", "10", "--n-terms", "16",
                 "--length-scale", "80", "--out", str(case / "kle.h5"), "--no-progress"]) == 0
    assert truth.main(["--kle", str(case / "kle.h5"), "--out", str(case)]) == 0
    assert truth.main(["--kle", str(case / "kle.h5"), "--out", str(other), "--seed", "7"]) == 0
    obs = json.loads((case / "observations.json").read_text())["observations"]
    assert len(obs) == len(truth.OBS_DAYS) * len(truth.ERRORS)
    blocks = re.findall(r"SUMMARY_OBSERVATION (\w+)\n\{\n((?:    \w+ += [^;]+;\n)+)\};",
                        (case / "observations.txt").read_text())
    assert [b[0] for b in blocks] == [o["name"] for o in obs]
    first = dict(re.findall(r"(\w+) += ([^;]+);", blocks[0][1]))
    assert first["KEY"] == obs[0]["key"] and first["DATE"] == obs[0]["date"]
    assert float(first["VALUE"]) == pytest.approx(obs[0]["value"], rel=1e-5)
    member = evaluate.load_member(case / "truth", 16, obs)
    np.testing.assert_array_equal(member["sim"], [o["truth"] for o in obs])
    noise = (np.array([o["value"] for o in obs]) - member["sim"]) / [o["error"] for o in obs]
    assert 0.7 < evaluate.rms(noise) < 1.3            # N(0, 1) over 108 values

    def runs(prior, posterior):
        shutil.rmtree(case / "output", ignore_errors=True)
        for it, source in enumerate((prior, posterior)):
            for r in range(2):
                folder = case / "output" / f"realization-{r}" / f"iter-{it}"
                shutil.copytree(source / "truth", folder)
                (folder / "WATERFLOOD.OK").touch()

    runs(other, case)
    assert evaluate.main(["--case", str(case), "--json", str(tmp_path / "e.json")]) == 0
    table = json.loads((tmp_path / "e.json").read_text())["iterations"]
    assert table["1"]["misfit_mean"] == pytest.approx(evaluate.rms(noise))
    assert table["1"]["lnk_error"] == 0 and table["0"]["lnk_error"] > 0.1
    runs(case, other)
    assert evaluate.main(["--case", str(case)]) == 1
    assert "NOT down" in capsys.readouterr().out
