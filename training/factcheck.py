"""Stage 4 — fact-check teacher annotations with the service's own feature rules (and NLI when a model is given).

    python -m training.factcheck --run runs/smollm2 [--contradicted correct|drop] [--nli roberta-large-mnli]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass

from core import facts
from core.schema import description_model
from training.rundir import RunDir


@dataclass(frozen=True)
class FactcheckConfig:
    contradicted: str = "correct"  # trend/noise contradicted by the rules: "correct" (replace with fact) or "drop"
    nli_model: str | None = None
    nli_threshold: float = 0.5


def check_record(record: dict, config: FactcheckConfig) -> tuple[dict | None, dict]:
    """The checked record (None when dropped) and what the check found, per field."""
    description = description_model(tuple(record["description"])).model_validate(record["description"])
    result = facts.check(description, facts.stored_features(record))
    agrees = {name: c.agrees for name, c in result.fields.items()}
    bad_text = {name for name in ("trend", "noise") if not agrees[name]}
    if bad_text and config.contradicted == "drop":
        return None, {"agrees": agrees, "action": "dropped"}
    repaired, replaced = facts.repair(description, result)  # the paper corrects contradicted extrema sentences
    checked = {**record, "description": repaired.model_dump(), "corrected": list(replaced)}
    return checked, {"agrees": agrees, "action": "corrected" if replaced else "kept"}


def agreement_report(findings: list[dict]) -> dict:
    """Agreement rate of the teacher with the rules per field, and what was done."""
    n = len(findings) or 1
    fields = [name for name in facts.CHECKED_FIELDS if findings and name in findings[0]["agrees"]]
    return {
        "annotations": len(findings),
        "agreement": {f: round(sum(x["agrees"][f] for x in findings) / n, 4) for f in fields},
        "extrema_corrected": round(sum(not (x["agrees"]["max"] and x["agrees"]["min"]) for x in findings) / n, 4),
        "actions": dict(Counter(x["action"] for x in findings)),
    }


class NLIJudge:
    """Entailment of a description field by its fact sentence, with any local MNLI-style model."""

    def __init__(self, model_path: str):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_path).eval()
        labels = {v.lower(): k for k, v in self.model.config.id2label.items()}
        self.entailment = labels.get("entailment", len(labels) - 1)
        self.contradiction = labels.get("contradiction", 0)

    def scores(self, premises: list[str], hypotheses: list[str]) -> list[dict[str, float]]:
        import torch

        batch = self.tokenizer(premises, hypotheses, return_tensors="pt", padding=True, truncation=True)
        with torch.inference_mode():
            probs = self.model(**batch).logits.softmax(-1)
        return [{"entailment": float(p[self.entailment]), "contradiction": float(p[self.contradiction])} for p in probs]


def nli_findings(judge: NLIJudge, records: list[dict]) -> dict:
    """Per field, the share of teacher sentences the fact sentences entail."""
    out = {}
    for feature in facts.active_features(tuple(records[0]["description"]) if records else ()):
        premises = [feature.fact(facts.stored_features(r).flat()) for r in records]
        hypotheses = [r["description"][feature.field] for r in records]
        scores = []
        for i in range(0, len(records), 16):
            scores += judge.scores(premises[i : i + 16], hypotheses[i : i + 16])
        out[feature.field] = round(sum(s["entailment"] > s["contradiction"] for s in scores) / max(1, len(scores)), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--source", default="annotations.jsonl")
    parser.add_argument("--out", default="checked.jsonl")
    parser.add_argument("--contradicted", choices=["correct", "drop"], default=FactcheckConfig.contradicted)
    parser.add_argument("--nli", default=None, help="NLI model path or id (e.g. roberta-large-mnli)")
    args = parser.parse_args(argv)
    config = FactcheckConfig(contradicted=args.contradicted, nli_model=args.nli)
    run = RunDir(args.run)
    records = list(run.read_jsonl(args.source))
    checked, findings = [], []
    for record in records:
        kept, finding = check_record(record, config)
        findings.append(finding)
        if kept is not None:
            checked.append(kept)
    report = agreement_report(findings)
    if config.nli_model:
        report["nli_entailment"] = nli_findings(NLIJudge(config.nli_model), records)
    run.write_jsonl(args.out, checked)
    (run.path / f"factcheck_{args.source.removesuffix('.jsonl')}.json").write_text(json.dumps(report, indent=2))
    run.record(f"factcheck:{args.source}", {"config": config.__dict__, "kept": len(checked), **report})
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
