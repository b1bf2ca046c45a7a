#!/usr/bin/env bash
# A small sweep of halo-dpo settings around the demo's defaults (docs/dpo.md): β, λ (--patch-weight)
# and steps, one factor at a time, each run on the same pairs with the same seed, then one halo-eval
# of all of them against the base model on the same held-out prompts and seeds.
# Usage: scripts/sweep-dpo.sh PAIRS EVAL_PROMPTS OUT [BASE_MODEL] [REWARD_MODEL]
#   env: SWEEP_FLAGS (shared halo-dpo flags), SWEEP_STEPS (default steps), SWEEP_EVAL_SEEDS
# Writes OUT/<name>/ (model folders), OUT/eval/eval.json and OUT/eval/table.txt. Re-running skips
# finished runs made from the same pairs (halo-dpo resumes an interrupted one) and videos already sampled.
set -euo pipefail
pairs=${1:?pairs file}; prompts=${2:?eval prompt file}; out=${3:?output folder}
base=${4:-fixtures/models/halo-tiny-t2v}; rm=${5:-fixtures/models/halo-tiny-rm}
flags=${SWEEP_FLAGS:---batch 4 --lr 2e-5 --schedule cosine:15:0.1 --seed 0}
steps=${SWEEP_STEPS:-150}
bin=$(dirname "$0")/../bin
mkdir -p "$out"

# name | halo-dpo settings (the defaults: β 2000, λ 1, $steps steps)
runs=(
  "video|--mode video --beta 2000 --steps $steps"
  "halo|--patch-weight 1 --beta 2000 --steps $steps"
  "beta125|--patch-weight 1 --beta 125 --steps $steps"
  "beta250|--patch-weight 1 --beta 250 --steps $steps"
  "beta500|--patch-weight 1 --beta 500 --steps $steps"
  "beta8000|--patch-weight 1 --beta 8000 --steps $steps"
  "video-beta500|--mode video --beta 500 --steps $steps"
  "video-beta8000|--mode video --beta 8000 --steps $steps"
  "lambda0.5|--patch-weight 0.5 --beta 2000 --steps $steps"
  "lambda2|--patch-weight 2 --beta 2000 --steps $steps"
  "lambda4|--patch-weight 4 --beta 2000 --steps $steps"
  "patch-only|--mode patch --beta 2000 --steps $steps"
  "video-x2|--mode video --beta 2000 --steps $((2 * steps))"
  "halo-x2|--patch-weight 1 --beta 2000 --steps $((2 * steps))"
)
models=(--model "base=$base")
for r in "${runs[@]}"; do
  name=${r%%|*}; settings=${r#*|}
  if [ ! -f "$out/$name/manifest.json" ] || [ "$pairs" -nt "$out/$name/manifest.json" ]; then
    # a checkpoint older than the pairs belongs to other pairs (halo-dpo refuses it): start over
    force=; [ "$out/$name/checkpoint.safetensors" -ot "$pairs" ] && force=--force
    echo "sweep: $name: halo-dpo $flags $settings $force" >&2
    # shellcheck disable=SC2086
    "$bin/halo-dpo.js" --model "$base" --out "$out/$name" $flags $settings $force < "$pairs" > "$out/$name.log.jsonl"
  fi
  models+=(--model "$name=$out/$name")
done
mkdir -p "$out/eval"
"$bin/halo-eval.js" "${models[@]}" --reward-model "$rm" --samples-per-prompt "${SWEEP_EVAL_SEEDS:-2}" --out "$out/eval" < "$prompts" > "$out/eval/table.txt.tmp"
mv "$out/eval/table.txt.tmp" "$out/eval/table.txt"
cat "$out/eval/table.txt"
