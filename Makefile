# halo: `make demo` runs the HALO loop on the embedded shapes world; `make test` runs the tests.
# Both install what they need first (make setup). Intermediate files of the demo go to demo/.

SHELL := /bin/bash
NODE_ENV_INSTALL := ONNXRUNTIME_NODE_INSTALL=skip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := node_modules/.halo-setup
BIN := ./bin
DEMO := demo

.PHONY: setup build test demo bench clean

setup: $(STAMP)

# npm ci with the CUDA download of onnxruntime-node switched off (.npmrc keeps install scripts
# off; the CPU runtime ships inside the package). ffmpeg: Debian's when none is on PATH; if that
# cannot be installed, the ffmpeg shipped in @ffmpeg-installer/ffmpeg is used at run time.
$(STAMP): package.json package-lock.json
	$(NODE_ENV_INSTALL) npm ci
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "setup: installing ffmpeg (Debian)"; \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg) \
	  || echo "setup: could not install Debian's ffmpeg; the npm-shipped one will be used"; }
	@touch $@

build: $(STAMP)
	npx tsc -p tsconfig.json

test: build
	npx ava

clean:
	rm -rf dist $(DEMO)

# ---- demo: the embedded shapes world -------------------------------------------------------
DEMO_PROMPTS ?= 8
DEMO_SEED ?= 1

demo: build $(DEMO)/patches.jsonl
	@echo "demo: $$(wc -l < $(DEMO)/patches.jsonl) videos patchified; records in $(DEMO)/patches.jsonl, artifacts in $(DEMO)/"

$(DEMO)/prompts.jsonl: $(STAMP)
	@mkdir -p $(DEMO)
	$(BIN)/halo-world.js prompts -n $(DEMO_PROMPTS) --seed $(DEMO_SEED) > $@.tmp && mv $@.tmp $@

$(DEMO)/world.jsonl: $(DEMO)/prompts.jsonl
	$(BIN)/halo-world.js render --out $(DEMO)/world < $< > $@.tmp && mv $@.tmp $@

$(DEMO)/patches.jsonl: $(DEMO)/world.jsonl
	$(BIN)/halo-patchify.js --out $(DEMO)/world < $< > $@.tmp && mv $@.tmp $@

# ---- benchmarks (not part of the tests) ------------------------------------------------------
bench: build
	@for b in dist/scripts/bench-*.js; do echo "== $$b"; node $$b || exit 1; done

# ---- pretraining of the built-in generator (docs/generator.md) ---------------------------------
# Trains halo-tiny-t2v on the shapes world into $(PRETRAIN_OUT) (resumes when re-run) and copies the
# model folder to fixtures/models/halo-tiny-t2v. At most 60 minutes on a 2-core machine.
PRETRAIN_OUT ?= runs/pretrain
PRETRAIN_FLAGS ?= --arch dit --batch 16 --steps 6000 --minutes 55 --ema 0.995 --seed 0

.PHONY: pretrain
pretrain: build
	$(BIN)/halo-pretrain.js --out $(PRETRAIN_OUT) $(PRETRAIN_FLAGS)
	mkdir -p fixtures/models/halo-tiny-t2v && cp $(PRETRAIN_OUT)/model/manifest.json $(PRETRAIN_OUT)/model/weights.safetensors fixtures/models/halo-tiny-t2v/
