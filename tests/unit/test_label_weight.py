"""Label-word loss weighting: which answer tokens weigh, and that weight 1 is the plain mean answer loss."""

import pytest

from core.facts import label_word_spans
from training.finetune import answer_loss, batches, tokenize_example

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
TARGET = ('{"trend":"The series shows a generally increasing trend.","noise":"The noise intensity is medium.",'
          '"extrema":"The global maximum appears towards the end, while the global minimum is at the beginning."}')


def test_label_words_are_the_readers_vocabulary_not_the_keys():
    words = [TARGET[a:b] for a, b in label_word_spans(TARGET)]
    # not "trend" (the key) nor "extrema"; the article too, the token that parts "a (generally) increasing" from
    # "no clear" in shared frames
    assert words == ["a", "increasing", "medium", "end", "beginning"]
    assert [s[a:b] for s in ["No clear trend; it fluctuates around 3."] for a, b in label_word_spans(s)][0] \
        == "No clear trend"


@pytest.fixture(scope="module")
def tokenizer(smollm2_tokenizer):
    return smollm2_tokenizer


def test_only_the_tokens_of_label_words_weigh_more(tokenizer):
    example = {"messages": [{"role": "user", "content": "Describe. Series: 01 02"}], "target": TARGET}
    ids, labels, weights = tokenize_example(tokenizer, example, label_weight=5.0)
    assert len(ids) == len(labels) == len(weights)
    heavy = tokenizer.decode([i for i, w in zip(ids, weights) if w == 5.0])
    assert heavy.split() == ["a", "increasing", "medium", "end", "beginning"]
    assert all(w == 0.0 for label, w in zip(labels, weights) if label == -100)  # the prompt weighs nothing
    plain = tokenize_example(tokenizer, example)
    assert plain[0] == ids and plain[1] == labels and set(plain[2]) == {0.0, 1.0}


def test_weight_one_is_the_plain_mean_and_weights_move_the_loss(tokenizer):
    import random

    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    example = {"messages": [{"role": "user", "content": "Describe. Series: 01 02"}], "target": TARGET}
    examples = [tokenize_example(tokenizer, example), tokenize_example(tokenizer, example, label_weight=10.0)]
    (ids, labels, weights, mask), = batches(examples[:1], 1, 0, random.Random(0))
    plain = answer_loss(model, ids, labels, weights, mask)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    reference = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                                  ignore_index=-100)
    assert abs(float(plain.detach()) - float(reference.detach())) < 1e-4
    (ids, labels, heavy_weights, mask), = batches(examples[1:], 1, 0, random.Random(0))
    heavy = answer_loss(model, ids, labels, heavy_weights, mask)
    assert abs(float(heavy.detach()) - float(plain.detach())) > 1e-4


def test_label_names_keep_one_extremes_clause_in_either_order():
    def heavy(text, names):
        return [text[a:b] for a, b in label_word_spans(text, names=names)]

    assert heavy(TARGET, ["max"]) == ["end"]
    assert heavy(TARGET, ["min"]) == ["beginning"]
    assert heavy(TARGET, ["trend", "max"]) == ["a", "increasing", "end"]
    min_first = TARGET.replace("The global maximum appears towards the end, while the global minimum is at the beginning",
                               "The global minimum is at the beginning, while the global maximum is near the end")
    assert heavy(min_first, ["max"]) == ["end"]
    # "end" in the trend's sentence is not the max's
    early_end = TARGET.replace("generally increasing trend", "increasing trend towards the end")
    assert heavy(early_end, ["max"]) == ["end"]


def test_label_names_weigh_only_their_tokens_and_unknown_names_are_refused(tokenizer):
    from training.finetune import load_config

    example = {"messages": [{"role": "user", "content": "Describe. Series: 01 02"}], "target": TARGET}
    ids, _, weights = tokenize_example(tokenizer, example, label_weight=5.0, label_names=["max"])
    assert tokenizer.decode([i for i, w in zip(ids, weights) if w == 5.0]).split() == ["end"]
    assert load_config(None, ["label_names=[max]"]).label_names == ["max"]
    with pytest.raises(SystemExit, match="unknown label_names"):
        load_config(None, ["label_names=[maximum]"])
