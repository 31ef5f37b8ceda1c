# porevae: `make demo` and `make test` set up .venv from nothing, then run.
# `make integration`: the ERT example (examples/ert) for real, ERT in its own .venv-ert.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench install clean integration

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The pinned CPU build of PyTorch lies on disk; a bare `torch` would pull a CUDA build.
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install -q torch==2.13.0; fi
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/porevae demo --out demo_out --overwrite

lint: $(STAMP)
	$(BIN)/ruff check porevae tests bench examples
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.run

# ERT (`pip install ert` from the registry: a few hundred MB of dependencies) lives in its own
# environment, not in porevae's. PV_BIN: the bin folder of the environment that has porevae
# (default .venv/bin, set up by $(STAMP); another one is taken as it is); `porevae` goes on
# ERT's PATH for the forward-model step PERMX_FIELD, and OPM Flow (`flow`) must be on PATH.
# ERT_MODE: ensemble_smoother (default, one update) or es_mda (weights 4, 2, 1).
ERT_VENV  ?= .venv-ert
ERT_STAMP := $(ERT_VENV)/.installed
ERT_MODE  ?= ensemble_smoother
PV_BIN    ?= $(BIN)
ERT_CASE  := examples/ert
ERT_PATH  := $(abspath $(ERT_VENV))/bin:$(abspath $(PV_BIN))

$(ERT_STAMP):
	test -x $(ERT_VENV)/bin/python || $(PYTHON) -m venv $(ERT_VENV)
	$(ERT_VENV)/bin/python -m pip install -q --upgrade pip
	$(ERT_VENV)/bin/python -m pip install -q "ert==23.0.1"  # the version measured (Python 3.11)
	touch $(ERT_STAMP)

# KLE (20 x 20 cells, 64 terms) -> GEN_KW priors -> synthetic truth and its observations ->
# ERT (30 realizations, porevae field + OPM Flow each) -> evaluate.py, which exits 1 unless the
# posterior's data misfit is below the prior's. About 2.7 min on 2 cores once ERT is installed.
integration: $(if $(filter $(BIN),$(PV_BIN)),$(STAMP)) $(ERT_STAMP)
	@command -v flow >/dev/null || { echo "OPM Flow ('flow') is not on PATH"; exit 1; }
	@start=$$(date +%s); set -e; cd $(ERT_CASE); \
	rm -rf output truth kle.h5 kle_priors.txt observations.txt observations.json; \
	$(abspath $(PV_BIN))/porevae kle --shape 20 20 --spacing 10 10 --cov exponential \
	    --length-scale 80 --n-terms 64 --out kle.h5 --no-progress; \
	$(abspath $(PV_BIN))/porevae field --kle kle.h5 --write-priors kle_priors.txt; \
	$(abspath $(PV_BIN))/python truth.py; \
	echo "ert $(ERT_MODE) ($$($(abspath $(ERT_VENV))/bin/ert --version)) ..."; \
	PATH="$(ERT_PATH):$$PATH" $(abspath $(ERT_VENV))/bin/ert --logdir output/logs \
	    $(ERT_MODE) --disable-monitoring kle_field.ert; \
	$(abspath $(PV_BIN))/python evaluate.py --json output/evaluation.json; \
	echo "make integration: $$(( $$(date +%s) - start )) s"

clean:
	rm -rf $(VENV) build *.egg-info demo_out
	cd $(ERT_CASE) && rm -rf output truth kle.h5 kle_priors.txt observations.txt observations.json
