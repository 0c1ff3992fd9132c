#!/usr/bin/env bash
# A reading run = train17 (levels, --draw pairs, zone-word places, 671 steps) + a reading turn after every training
# example; train17's data stages copied (same seed, same code), only the dataset rebuilt; then finetune, merge,
# evaluate, ship. Defaults give train18 (in which tenth the lowest and highest level lie; its digits weigh 5).
# train19: RUN=runs/train19 READING=all WEIGHT=2 NAME=reading-all docs/training/reading/run.sh runs/train17
# train21: the same as train19 with the rule teacher's answers written again in the current phrasings (ANNOTATE=1):
# RUN=runs/train21 READING=all WEIGHT=2 NAME=parallel ANNOTATE=1 docs/training/reading/run.sh runs/train17
# train23: train21's data and steps with the label words weighing 3 (LABEL_WEIGHT, finetune's label_weight; run
# before the label words included the deciding article, commit ff0c4da):
# RUN=runs/train23 READING=all WEIGHT=2 LABEL_WEIGHT=3 NAME=label-weight-3 docs/training/reading/run.sh runs/train21
# train24: the noise rule's residual RMS in the reading, the canonical noise frame with the teacher's tail:
# RUN=runs/train24 READING=rule WEIGHT=2 NAME=rule-reading ANNOTATE=1 docs/training/reading/run.sh runs/train21
# train25: train21's recipe on the compact prompt, which reads noise better at equal data (train12 vs train10):
# RUN=runs/train25 READING=all WEIGHT=2 PROMPT=compact NAME=compact-reading docs/training/reading/run.sh runs/train21
# train26: train21 with levels 00 and 99 starting near the words 'minimum' and 'maximum' (finetune level_init=words):
# RUN=runs/train26 READING=all WEIGHT=2 INIT=words NAME=words-init docs/training/reading/run.sh runs/train21
# (measured 2026-12-05 from data made again: ANNOTATE=1 ... runs/data, where runs/data holds make train's generate +
# realworld stages; train27, its digits twin: RUN=runs/train27 READING=all WEIGHT=2 INIT=digits NAME=digits-ab ... runs/train26)
# train28: train27 with the rows of levels 00 and 99 swapped at the start (diagnostic: does the head follow the row?):
# RUN=runs/train28 READING=all WEIGHT=2 INIT=swapped NAME=swapped-init docs/training/reading/run.sh runs/train27
# train29: train27 with both extremes starting on level 99's row, parted (the lookup follows the row, train28):
# RUN=runs/train29 READING=all WEIGHT=2 INIT=high NAME=high-init docs/training/reading/run.sh runs/train27
# train30: train29 with the levels also laid on a number line (level_init=line, core.level_tokens.LINE_SPAN):
# RUN=runs/train30 READING=all WEIGHT=2 INIT=line NAME=line-init docs/training/reading/run.sh runs/train27
# train31: train30 with the reading turn asking the noise rule's residual RMS in place of the mean step (as train24):
# RUN=runs/train31 READING=rule WEIGHT=2 INIT=line NAME=line-rule docs/training/reading/run.sh runs/train27
# train32: the reading written first in the answer, with the line init (train20's scratchpad ran before the extremes
# had a lookup; a stopped run resumes from RUN/checkpoints/last when run again):
# RUN=runs/train32 READING=scratchpad WEIGHT=2 INIT=line NAME=line-scratchpad docs/training/reading/run.sh runs/train27
# train33: train32 with the noise rule's residual RMS in the scratchpad in place of the mean step (its noise sentence
# followed a cut of its own step on 50/60, but the step does not part low from medium on OU series):
# RUN=runs/train33 READING=scratchpad-rule WEIGHT=2 INIT=line NAME=line-scratchpad-rule docs/training/reading/run.sh runs/train27
# train34: train31 (line init, reading turn `rule`) with half of the drawn examples from the OU series (OU_SHARE, the
# dataset's --ou-share; train27's draw had 19% OU, train5's mostly-OU draw read the OU series' noise):
# RUN=runs/train34 READING=rule WEIGHT=2 INIT=line OU_SHARE=0.5 NAME=line-rule-ou docs/training/reading/run.sh runs/train27
# train35: train31's reading turn on prompt style 'marked' (compact's digits, which read the noise in train25, with levels
# 00 and 99 as one added token each, started as 'high': the extremes' lookup of train29–31):
# RUN=runs/train35 READING=rule WEIGHT=2 PROMPT=marked INIT=high NAME=marked-rule docs/training/reading/run.sh runs/train27
# train37 (stopped after 8 steps: train36 had no max lookup to strengthen at that budget): train36's data (make train's stages, --train-size 1400: 1,487 examples, 371 steps, the hour's budget) with
# the max's label words weighing 3 (finetune label_names=[max]: train35's max sentence had no head on <L99>):
# RUN=runs/train37 TRAIN_SIZE=1400 READING=rule WEIGHT=2 PROMPT=marked INIT=high LABEL_WEIGHT=3 LABEL_NAMES=max NAME=marked-max-weight docs/training/reading/run.sh runs/train36
# Usage: [RUN=..] [TRAIN_SIZE=2600] [LABEL_NAMES=max,min] [PROMPT=levels|compact|marked] [READING=extremes|all|rule|split|scratchpad|scratchpad-rule] [WEIGHT=..] [LABEL_WEIGHT=..] [INIT=digits|words|swapped|high|line] [OU_SHARE=0..1] [NAME=..] [ANNOTATE=1] docs/training/reading/run.sh SOURCE_RUN
set -euo pipefail
SOURCE=$(realpath "$1")
cd "$(dirname "$0")/../../.."
PY=.venv/bin/python
RUN=${RUN:-runs/train18} READING=${READING:-extremes} WEIGHT=${WEIGHT:-5} NAME=${NAME:-reading} ANNOTATE=${ANNOTATE:-0}
LABEL_WEIGHT=${LABEL_WEIGHT:-1} PROMPT=${PROMPT:-levels} INIT=${INIT:-digits} TRAIN_SIZE=${TRAIN_SIZE:-2600}
mkdir -p "$RUN"
cp "$SOURCE"/{series,ood_series,realworld_series}.jsonl "$RUN"/
[ "$ANNOTATE" = 1 ] || cp "$SOURCE"/{annotations,checked,teacher,checked_teacher}.jsonl "$SOURCE"/factcheck_*.json "$RUN"/
SOURCE="$SOURCE" RUN="$RUN" ANNOTATE="$ANNOTATE" $PY - <<'PY'
import json, os
m = json.load(open(os.path.join(os.environ["SOURCE"], "manifest.json")))
kept = ("generate", "realworld") if os.environ["ANNOTATE"] == "1" else ("generate", "realworld", "annotate", "factcheck")
m["stages"] = {k: v for k, v in m["stages"].items() if k.startswith(kept)}
json.dump(m, open(os.path.join(os.environ["RUN"], "manifest.json"), "w"), indent=1)
PY
if [ "$ANNOTATE" = 1 ]; then
  $PY -m training.annotate --run "$RUN" --teacher rules
  $PY -m training.factcheck --run "$RUN"
  $PY -m training.annotate --run "$RUN" --teacher import --file ../shared/data/dlaa_teacher_150.jsonl --out teacher.jsonl
  $PY -m training.factcheck --run "$RUN" --source teacher.jsonl --out checked_teacher.jsonl
fi
$PY -m training.dataset --run "$RUN" --sources checked_teacher.jsonl checked.jsonl --train-size "$TRAIN_SIZE" --draw pairs \
  --balance 0.5 --prompt-style "$PROMPT" --reading-share 1.0 --reading "$READING" ${OU_SHARE:+--ou-share "$OU_SHARE"}
$PY -m training.finetune --run "$RUN" --config training/configs/smollm2-135m.yaml \
  --set prompt_style="$PROMPT" reading_weight="$WEIGHT" label_weight="$LABEL_WEIGHT" level_init="$INIT" \
  ${LABEL_NAMES:+label_names="[$LABEL_NAMES]"}
$PY -m training.merge --run "$RUN"
$PY -m training.evaluate --run "$RUN" --limit 240 --no-base
$PY -m training.merge --run "$RUN" --no-merge --ship "models/adapters/smollm2-135m-$NAME"
mkdir -p "docs/training/$NAME" && cp "$RUN"/eval/*.png "$RUN"/eval/report.md "$RUN"/eval/results.json "docs/training/$NAME/"
