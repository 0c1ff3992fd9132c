#!/usr/bin/env bash
# train16 = train15 (levels, --draw pairs, 671 steps) + one-field questions (share 0.33): the data stages copied
# from train15 (same seed, same code), only the dataset rebuilt; then finetune, merge, evaluate, ship.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
RUN=runs/train16
mkdir -p $RUN
cp runs/train15/{series,ood_series,realworld_series,annotations,checked,teacher,checked_teacher}.jsonl \
   runs/train15/factcheck_*.json $RUN/
$PY - <<'PY'
import json
m = json.load(open("runs/train15/manifest.json"))
m["stages"] = {k: v for k, v in m["stages"].items() if k.startswith(("generate", "realworld", "annotate", "factcheck"))}
json.dump(m, open("runs/train16/manifest.json", "w"), indent=1)
PY
$PY -m training.dataset --run $RUN --sources checked_teacher.jsonl checked.jsonl --train-size 2600 --draw pairs \
  --balance 0.5 --prompt-style levels --one-field-share 0.33
$PY -m training.finetune --run $RUN --config training/configs/smollm2-135m.yaml --set prompt_style=levels
$PY -m training.merge --run $RUN
$PY -m training.evaluate --run $RUN --limit 240 --no-base
$PY -m training.merge --run $RUN --no-merge --ship models/adapters/smollm2-135m-one-field
mkdir -p docs/training/one-field && cp $RUN/eval/*.png $RUN/eval/report.md $RUN/eval/results.json docs/training/one-field/
