#!/usr/bin/env bash
# train18 = train17 (levels, --draw pairs, zone-word places, 671 steps) + a reading turn after every training
# example (in which tenth the lowest and highest level lie; its digits weigh 5): train17's data stages copied (same
# seed, same code), only the dataset rebuilt; then finetune, merge, evaluate, ship.
# Usage: docs/training/reading/run.sh SOURCE_RUN   (the run directory of train17)
set -euo pipefail
SOURCE=$(realpath "$1")
cd "$(dirname "$0")/../../.."
PY=.venv/bin/python
RUN=runs/train18
mkdir -p $RUN
cp "$SOURCE"/{series,ood_series,realworld_series,annotations,checked,teacher,checked_teacher}.jsonl \
   "$SOURCE"/factcheck_*.json $RUN/
SOURCE="$SOURCE" $PY - <<'PY'
import json, os
m = json.load(open(os.path.join(os.environ["SOURCE"], "manifest.json")))
m["stages"] = {k: v for k, v in m["stages"].items() if k.startswith(("generate", "realworld", "annotate", "factcheck"))}
json.dump(m, open("runs/train18/manifest.json", "w"), indent=1)
PY
$PY -m training.dataset --run $RUN --sources checked_teacher.jsonl checked.jsonl --train-size 2600 --draw pairs \
  --balance 0.5 --prompt-style levels --reading-share 1.0
$PY -m training.finetune --run $RUN --config training/configs/smollm2-135m.yaml --set prompt_style=levels reading_weight=5
$PY -m training.merge --run $RUN
$PY -m training.evaluate --run $RUN --limit 240 --no-base
$PY -m training.merge --run $RUN --no-merge --ship models/adapters/smollm2-135m-reading
mkdir -p docs/training/reading && cp $RUN/eval/*.png $RUN/eval/report.md $RUN/eval/results.json docs/training/reading/
