"""Reading turns: a second question after the description, asking in which tenth the extremes lie."""


from training import dataset
from training.finetune import tokenize_example

TARGET = ('{"trend":"The series shows a generally increasing trend.","noise":"The noise intensity is medium.",'
          '"extrema":"The global maximum is located at the end, while the global minimum is at the middle."}')


def test_the_reading_answer_is_the_tenth_of_the_first_lowest_and_highest_level():
    levels = [50] * 100
    levels[63], levels[64], levels[2] = 0, 0, 99
    assert dataset.reading_answer(levels) == "lowest 6, highest 0"
    assert dataset.reading_answer([99, 5, 0]) == "lowest 6, highest 0"  # 2 * 10 // 3
    assert dataset.reading_answer(list(range(128))) == "lowest 0, highest 9"


def test_a_share_of_the_examples_gets_a_reading_turn_and_the_description_is_unchanged():
    examples = [{"id": f"s{i}", "levels": [i % 100, 0, 99], "target": TARGET} for i in range(400)]
    read = dataset.reading_turns(examples, 0.5, seed=0)
    with_turn = [e for e in read if "reading" in e]
    assert 150 < len(with_turn) < 250
    assert all(e["reading"]["question"] == dataset.READING_QUESTION for e in with_turn)
    assert [{k: v for k, v in e.items() if k != "reading"} for e in read] == examples
    assert dataset.reading_turns(examples, 0.0, seed=0) == examples
    assert len([e for e in dataset.reading_turns(examples, 1.0, seed=0) if "reading" in e]) == 400


def test_a_reading_turn_follows_the_answer_as_the_chat_template_renders_it(smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    example = {"messages": [{"role": "user", "content": "Describe. Series: 01 02"}], "target": TARGET}
    plain = tokenize_example(tokenizer, example)
    reading = {**example, "reading": {"question": dataset.READING_QUESTION, "answer": "lowest 6, highest 0"}}
    ids, labels, weights = tokenize_example(tokenizer, reading, reading_weight=5.0)
    assert ids[: len(plain[0])] == plain[0] and labels[: len(plain[1])] == plain[1]  # the description as before
    conversation = [*example["messages"], {"role": "assistant", "content": TARGET},
                    {"role": "user", "content": dataset.READING_QUESTION},
                    {"role": "assistant", "content": "lowest 6, highest 0"}]
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template(conversation, tokenize=False).rstrip("\n")
    rest = list(zip(ids, labels, weights))[len(plain[0]):]
    assert tokenizer.decode([i for i, label, _ in rest if label != -100]) == "lowest 6, highest 0<|im_end|>"
    assert dataset.READING_QUESTION in tokenizer.decode([i for i, label, _ in rest if label == -100])
    assert [tokenizer.decode([i]).strip() for i, _, w in rest if w == 5.0] == ["6", "0"]


def test_the_fixed_training_width_is_the_longest_example_rounded_up_to_eight():
    from training.finetune import padded_width

    examples = [([0] * n, [0] * n, [0.0] * n) for n in (222, 230, 263)]
    assert padded_width(examples) == 264
    assert padded_width(examples[:2]) == 232
