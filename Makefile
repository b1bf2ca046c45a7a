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
	@command -v chromium >/dev/null 2>&1 || [ -n "$$HALO_CHROMIUM" ] || { \
	  echo "setup: installing chromium (Debian), used by the report test"; \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium) \
	  || echo "setup: could not install chromium; the report test will say so"; }
	@touch $@

build: $(STAMP)
	npx tsc -p tsconfig.json

test: build
	npx ava

clean:
	rm -rf dist $(DEMO)

# ---- demo: the whole HALO loop on the embedded shapes world -----------------------------------
# world prompts -> sample (shipped generator) -> patchify -> label (oracle) -> reward model (shipped,
# or fitted with DEMO_FIT_RM=1) -> score -> pairs -> DPO (video only) and Gran-DPO (same budget) ->
# eval on held-out prompts -> report. Each stage is a file under demo/, so `make demo` reruns only
# what changed. Settings below are the defaults the README's table was made with.
DEMO_SEED ?= 1
DEMO_TRAIN_PROMPTS ?= 32
DEMO_SAMPLES ?= 4
DEMO_EVAL_PROMPTS ?= 16
DEMO_EVAL_SEEDS ?= 2
# 1: fit the reward model on the demo's own labels; 0: the shipped one (fitted when none is shipped)
DEMO_FIT_RM ?= $(if $(wildcard fixtures/models/halo-tiny-rm/manifest.json),0,1)
DPO_STEPS ?= 150
DPO_FLAGS ?= --batch 4 --lr 2e-5 --beta 2000 --schedule cosine:15:0.1 --seed 0
HALO_LAMBDA ?= 1
T2V := fixtures/models/halo-tiny-t2v
RM := $(if $(filter 1,$(DEMO_FIT_RM)),$(DEMO)/rm,fixtures/models/halo-tiny-rm)

demo: build $(DEMO)/eval/eval.json
	@cat $(DEMO)/eval/table.txt
	@echo "demo: report in $(DEMO)/eval/report/index.html"

$(DEMO)/prompts-train.jsonl: $(STAMP)
	@mkdir -p $(DEMO)
	$(BIN)/halo-world.js prompts -n $(DEMO_TRAIN_PROMPTS) --seed $(DEMO_SEED) --split train > $@.tmp && mv $@.tmp $@

$(DEMO)/prompts-eval.jsonl: $(STAMP)
	@mkdir -p $(DEMO)
	$(BIN)/halo-world.js prompts -n $(DEMO_EVAL_PROMPTS) --seed $(DEMO_SEED) --split eval > $@.tmp && mv $@.tmp $@

$(DEMO)/samples.jsonl: $(DEMO)/prompts-train.jsonl $(T2V)/manifest.json
	$(BIN)/halo-sample.js --model $(T2V) --out $(DEMO)/samples --samples-per-prompt $(DEMO_SAMPLES) --seed 0 < $< > $@.tmp && mv $@.tmp $@

$(DEMO)/patches.jsonl: $(DEMO)/samples.jsonl
	$(BIN)/halo-patchify.js --out $(DEMO)/samples < $< > $@.tmp && mv $@.tmp $@

$(DEMO)/labels.jsonl: $(DEMO)/patches.jsonl
	$(BIN)/halo-label.js --teacher oracle < $< > $@.tmp && mv $@.tmp $@

$(DEMO)/rm/manifest.json: $(DEMO)/labels.jsonl
	$(BIN)/halo-score.js fit --stage video --out $(DEMO)/rm-video $<
	$(BIN)/halo-score.js fit --stage patch --init $(DEMO)/rm-video --out $(DEMO)/rm $<

$(DEMO)/scores.jsonl: $(DEMO)/labels.jsonl $(RM)/manifest.json
	$(BIN)/halo-score.js --model $(RM) < $< > $@.tmp && mv $@.tmp $@

$(DEMO)/pairs.jsonl: $(DEMO)/scores.jsonl
	$(BIN)/halo-pairs.js --from scores --by overall < $< > $@.tmp && mv $@.tmp $@

# halo-dpo resumes an interrupted run from its checkpoint, and refuses one made from other pairs:
# when the pairs are newer than the checkpoint (a new reward model, other samples), start over.
restart = $$([ $(1)/checkpoint.safetensors -ot $(2) ] && echo --force)

$(DEMO)/dpo-video/manifest.json: $(DEMO)/pairs.jsonl
	$(BIN)/halo-dpo.js --model $(T2V) --out $(DEMO)/dpo-video $(call restart,$(DEMO)/dpo-video,$<) --mode video --steps $(DPO_STEPS) $(DPO_FLAGS) < $< > $(DEMO)/dpo-video.log.jsonl

$(DEMO)/halo/manifest.json: $(DEMO)/pairs.jsonl
	$(BIN)/halo-dpo.js --model $(T2V) --out $(DEMO)/halo $(call restart,$(DEMO)/halo,$<) --mode gran --patch-weight $(HALO_LAMBDA) --steps $(DPO_STEPS) $(DPO_FLAGS) < $< > $(DEMO)/halo.log.jsonl

$(DEMO)/eval/eval.json: $(DEMO)/prompts-eval.jsonl $(DEMO)/dpo-video/manifest.json $(DEMO)/halo/manifest.json
	@mkdir -p $(DEMO)/eval
	$(BIN)/halo-eval.js --model base=$(T2V) --model dpo-video=$(DEMO)/dpo-video --model halo=$(DEMO)/halo \
	  --reward-model $(RM) --samples-per-prompt $(DEMO_EVAL_SEEDS) --out $(DEMO)/eval --report < $< > $(DEMO)/eval/table.txt.tmp
	mv $(DEMO)/eval/table.txt.tmp $(DEMO)/eval/table.txt

# ---- sweep: β, λ and steps of halo-dpo on the demo's pairs, one eval table (docs/dpo.md) ---------
.PHONY: sweep
sweep: build $(DEMO)/pairs.jsonl $(DEMO)/prompts-eval.jsonl
	SWEEP_FLAGS="$(DPO_FLAGS)" SWEEP_STEPS=$(DPO_STEPS) SWEEP_EVAL_SEEDS=$(DEMO_EVAL_SEEDS) \
	  scripts/sweep-dpo.sh $(DEMO)/pairs.jsonl $(DEMO)/prompts-eval.jsonl $(DEMO)/sweep $(T2V) $(RM)

# ---- benchmarks (not part of the tests) ------------------------------------------------------
bench: build
	@for b in dist/scripts/bench-*.js; do echo "== $$b"; node $$b || exit 1; done

# ---- pretraining of the built-in generator (docs/generator.md) ---------------------------------
# Trains halo-tiny-t2v on the shapes world into $(PRETRAIN_OUT) (resumes when re-run) and copies the
# model folder to fixtures/models/halo-tiny-t2v. At most 60 minutes on a 2-core machine.
PRETRAIN_OUT ?= runs/pretrain
PRETRAIN_FLAGS ?= --arch dit-xattn --batch 32 --steps 12000 --minutes 55 --ema 0.999 --seed 0 --text-encoder frozen --text-pooling mean --weights raw

.PHONY: pretrain
pretrain: build
	$(BIN)/halo-pretrain.js --out $(PRETRAIN_OUT) $(PRETRAIN_FLAGS)
	mkdir -p fixtures/models/halo-tiny-t2v && cp $(PRETRAIN_OUT)/model/manifest.json $(PRETRAIN_OUT)/model/weights.safetensors fixtures/models/halo-tiny-t2v/

# ---- reward model: fit halo-tiny-rm on oracle-labelled world videos (docs/reward-model.md) -------
# rm-fit: corpus (scripts/reward-data.ts: renders, corrupted and mismatched) -> patchify -> oracle
# labels -> halo-score fit --stage video -> --stage patch, in $(RM_RUN). rm-eval: the same on
# held-out (eval-split) prompts, scored by the fitted model and compared with `halo-label agree`.
# rm-fixture: copies the fitted model to fixtures/models/halo-tiny-rm with the command that made it.
# Label files go in on stdin: the records' media paths are relative to the current directory.
RM_RUN ?= runs/rm
RM_VIDEOS ?= 1200
RM_EVAL_VIDEOS ?= 320
RM_SEED ?= 1
RM_FIT_FLAGS ?= --seed $(RM_SEED) --steps 4000 --patience 40 --rank 2
RM_GEN_PROMPTS ?= 1600
RM_GEN_EVAL_PROMPTS ?= 80
.PHONY: rm-fit rm-eval rm-fixture
.PRECIOUS: $(RM_RUN)/%-samples.jsonl $(RM_RUN)/%-labels.jsonl $(RM_RUN)/gen-%-samples.jsonl
rm-fit: $(RM_RUN)/stage2/manifest.json
rm-eval: $(RM_RUN)/agree.txt
	@cat $<

$(RM_RUN)/%-samples.jsonl: | build
	@mkdir -p $(RM_RUN)
	node dist/scripts/reward-data.js --split $* --n $(if $(filter eval,$*),$(RM_EVAL_VIDEOS),$(RM_VIDEOS)) --seed $(if $(filter eval,$*),$$(($(RM_SEED)+1)),$(RM_SEED)) --out $(RM_RUN)/$* > $@.tmp && mv $@.tmp $@

$(RM_RUN)/%-labels.jsonl: $(RM_RUN)/%-samples.jsonl
	$(BIN)/halo-patchify.js --out $(RM_RUN)/$* < $< | $(BIN)/halo-label.js --teacher oracle > $@.tmp && mv $@.tmp $@

# the shipped generator's own samples (RM_GEN_PROMPTS prompts x 4 seeds), labelled the same way: the
# videos halo-dpo's pairs are made of, so the reward model must score them well (0 = corpus only)
$(RM_RUN)/gen-%-samples.jsonl: $(T2V)/manifest.json | build
	@mkdir -p $(RM_RUN)
	$(BIN)/halo-world.js prompts -n $(if $(filter eval,$*),$(RM_GEN_EVAL_PROMPTS),$(RM_GEN_PROMPTS)) --split $* --seed $$(($(RM_SEED)+10)) \
	  | $(BIN)/halo-sample.js --model $(T2V) --out $(RM_RUN)/gen-$* --samples-per-prompt 4 --seed 0 > $@.tmp && mv $@.tmp $@

RM_TRAIN_LABELS := $(RM_RUN)/train-labels.jsonl $(if $(filter-out 0,$(RM_GEN_PROMPTS)),$(RM_RUN)/gen-train-labels.jsonl)

$(RM_RUN)/stage1/manifest.json: $(RM_TRAIN_LABELS)
	cat $^ | $(BIN)/halo-score.js fit --stage video --out $(RM_RUN)/stage1 $(RM_FIT_FLAGS)

$(RM_RUN)/stage2/manifest.json: $(RM_TRAIN_LABELS) $(RM_RUN)/stage1/manifest.json
	cat $(RM_TRAIN_LABELS) | $(BIN)/halo-score.js fit --stage patch --init $(RM_RUN)/stage1 --out $(RM_RUN)/stage2 $(RM_FIT_FLAGS)

$(RM_RUN)/eval-scores.jsonl: $(RM_RUN)/eval-labels.jsonl $(RM_RUN)/stage2/manifest.json
	$(BIN)/halo-score.js --model $(RM_RUN)/stage2 < $< > $@.tmp && mv $@.tmp $@

$(RM_RUN)/gen-eval-scores.jsonl: $(RM_RUN)/gen-eval-labels.jsonl $(RM_RUN)/stage2/manifest.json
	$(BIN)/halo-score.js --model $(RM_RUN)/stage2 < $< > $@.tmp && mv $@.tmp $@

# agreement on held-out prompts: the corpus (renders, corrupted, mismatched) and the generator's samples
$(RM_RUN)/agree.txt: $(RM_RUN)/eval-labels.jsonl $(RM_RUN)/eval-scores.jsonl $(RM_RUN)/gen-eval-labels.jsonl $(RM_RUN)/gen-eval-scores.jsonl
	{ echo "# corpus: $(RM_EVAL_VIDEOS) videos of held-out prompts"; $(BIN)/halo-label.js agree $(word 1,$^) $(word 2,$^); \
	  echo "# generator samples: $(RM_GEN_EVAL_PROMPTS) held-out prompts x 4 seeds"; $(BIN)/halo-label.js agree $(word 3,$^) $(word 4,$^); } > $@.tmp && mv $@.tmp $@

rm-fixture: $(RM_RUN)/stage2/manifest.json
	mkdir -p fixtures/models/halo-tiny-rm
	cp $(RM_RUN)/stage2/manifest.json $(RM_RUN)/stage2/weights.safetensors $(RM_RUN)/stage2/train.jsonl fixtures/models/halo-tiny-rm/
	cp $(RM_RUN)/stage1/train.jsonl fixtures/models/halo-tiny-rm/stage1-train.jsonl
	{ echo '# made by: make rm-fit rm-fixture RM_VIDEOS=$(RM_VIDEOS) RM_GEN_PROMPTS=$(RM_GEN_PROMPTS) RM_SEED=$(RM_SEED) RM_FIT_FLAGS="$(RM_FIT_FLAGS)", i.e.:'; \
	  echo 'node dist/scripts/reward-data.js --split train --n $(RM_VIDEOS) --seed $(RM_SEED) --out $(RM_RUN)/train > $(RM_RUN)/train-samples.jsonl'; \
	  echo '$(BIN)/halo-patchify.js --out $(RM_RUN)/train < $(RM_RUN)/train-samples.jsonl | $(BIN)/halo-label.js --teacher oracle > $(RM_RUN)/train-labels.jsonl'; \
	  echo '$(BIN)/halo-world.js prompts -n $(RM_GEN_PROMPTS) --split train --seed $(shell echo $$(($(RM_SEED)+10))) | $(BIN)/halo-sample.js --model $(T2V) --out $(RM_RUN)/gen-train --samples-per-prompt 4 --seed 0 > $(RM_RUN)/gen-train-samples.jsonl'; \
	  echo '$(BIN)/halo-patchify.js --out $(RM_RUN)/gen-train < $(RM_RUN)/gen-train-samples.jsonl | $(BIN)/halo-label.js --teacher oracle > $(RM_RUN)/gen-train-labels.jsonl'; \
	  echo 'cat $(RM_TRAIN_LABELS) | $(BIN)/halo-score.js fit --stage video --out $(RM_RUN)/stage1 $(RM_FIT_FLAGS)'; \
	  echo 'cat $(RM_TRAIN_LABELS) | $(BIN)/halo-score.js fit --stage patch --init $(RM_RUN)/stage1 --out $(RM_RUN)/stage2 $(RM_FIT_FLAGS)'; \
	  echo '# generator: $(T2V) sha256 '"$$(sha256sum $(T2V)/weights.safetensors | cut -c1-12)"; \
	} > fixtures/models/halo-tiny-rm/COMMAND
