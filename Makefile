# The README's two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DATA := data/synth
DEMO_RUN := runs/demo

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip's "Location ... is ignored" notes about this machine's local indexes are noise
QUIET_PIP := { grep -v "^WARNING: Location" || true; }

.PHONY: demo test lint venv clean strip-notebooks notebooks docs

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[train,dev,distill,tts,docs]' 2>&1 | $(QUIET_PIP)
	@# TensorFlow's C++ start-up lines go to a log, shown only when the import fails
	$(PY) -c "import speechgru, tensorflow, librosa, ai_edge_litert" 2>$(VENV)/import-check.log \
		|| { cat $(VENV)/import-check.log; exit 1; }
	touch $@

demo: $(STAMP)
	rm -rf $(DEMO_DATA)  # the demo's own synthetic set, made again (synth never writes into a folder)
	$(VENV)/bin/speechgru synth $(DEMO_DATA) --per-word 60 --seed 0
	$(VENV)/bin/speechgru check-data $(DEMO_DATA)
	rm -rf $(DEMO_RUN)
	$(VENV)/bin/speechgru train --data $(DEMO_DATA) --out $(DEMO_RUN) --epochs 60
	$(VENV)/bin/speechgru evaluate $(DEMO_RUN) --data $(DEMO_DATA) --split test
	$(VENV)/bin/speechgru export $(DEMO_RUN) --out models/demo --force
	yes=( $(DEMO_DATA)/yes/*_nohash_0.wav ); stop=( $(DEMO_DATA)/stop/*_nohash_0.wav ); \
	$(VENV)/bin/speechgru predict models/demo "$${yes[@]:0:4}" "$${stop[@]:0:4}"
	$(VENV)/bin/speechgru synth-recording $(DEMO_DATA) data/demo_stream.wav --words yes,stop,go --force
	$(VENV)/bin/speechgru listen models/demo data/demo_stream.wav
	@echo "the same recording heard by the pretrained model in the box:"
	$(VENV)/bin/speechgru listen models/speech-commands-12 data/demo_stream.wav

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	@# one worker per core; a file's tests stay together (its fixtures are made once)
	$(VENV)/bin/python -m pytest -q -n auto --dist loadfile

# the docs site from docs/ (mkdocs.yml) into site/; tests/test_docs.py builds it strictly too
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# executed copies of the notebooks, figures inline, for reading without running (docs/notebooks)
notebooks: $(STAMP)
	$(PY) scripts/render_notebooks.py --mode full

strip-notebooks: $(STAMP)
	$(PY) scripts/strip_notebooks.py

clean:
	rm -rf $(DEMO_DATA) data/demo_stream.* $(DEMO_RUN) models/demo .cache site
