"""Reading turns: a second question after the description, asking in which tenth the extremes lie."""


import json
from collections import Counter

import numpy as np
import pytest

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


def test_the_full_reading_states_the_extremes_in_the_asked_order_the_edge_means_and_the_mean_step():
    ramp = list(range(0, 128))
    question, answer = dataset.full_reading(ramp, highest_first=True)
    assert question.index("highest") < question.index("lowest")
    assert answer == "highest 9, lowest 0, start 10, end 118, step 1"  # edges: 20 of 128 points, as the trend rule
    question, answer = dataset.full_reading(ramp, highest_first=False)
    assert question.index("lowest") < question.index("highest")
    assert answer.startswith("lowest 0, highest 9, ")
    hump = [10, 30, 50, 99, 50, 30, 10, 0]  # 8 points: one edge point each side, steps 20 20 49 49 20 20 10
    assert dataset.full_reading(hump, highest_first=False)[1] == "lowest 8, highest 3, start 10, end 0, step 27"


def test_the_full_reading_draws_the_order_per_example_and_its_digits_weigh_the_reading_weight(smollm2_tokenizer):
    examples = [{"id": f"s{i}", "levels": [i % 100, 0, 99, 50], "target": TARGET,
                 "messages": [{"role": "user", "content": "Describe. Series: 01 02"}]} for i in range(200)]
    read = dataset.reading_turns(examples, 1.0, seed=0, kind="all")
    firsts = Counter(e["reading"]["answer"].split()[0] for e in read)
    assert set(firsts) == {"lowest", "highest"} and min(firsts.values()) > 70
    assert all(e["reading"]["answer"].split()[0] in e["reading"]["question"].split("its ")[1][:8] for e in read)
    ids, labels, weights = tokenize_example(smollm2_tokenizer, read[0], reading_weight=2.0)
    digits = "".join(c for c in read[0]["reading"]["answer"] if c.isdigit())
    assert "".join(smollm2_tokenizer.decode([i]).strip() for i, w in zip(ids, weights) if w == 2.0) == digits


def test_split_reading_asks_each_extreme_alone_in_the_drawn_order_then_the_edges_and_the_step():
    hump = [10, 30, 50, 99, 50, 30, 10, 0]
    turns = dataset.split_reading(hump, highest_first=True)
    assert [t["answer"] for t in turns] == ["3", "8", "start 10, end 0, step 27"]
    assert "highest" in turns[0]["question"] and "lowest" in turns[1]["question"]
    assert [t["answer"] for t in dataset.split_reading(hump, highest_first=False)][:2] == ["8", "3"]


def test_several_reading_turns_follow_the_answer_as_the_chat_template_renders_the_whole_conversation(
        smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    example = {"id": "s1", "levels": [10, 30, 50, 99, 50, 30, 10, 0], "target": TARGET,
               "messages": [{"role": "user", "content": "Describe. Series: 01 02"}]}
    (read,) = dataset.reading_turns([example], 1.0, seed=0, kind="split")
    ids, labels, weights = tokenize_example(tokenizer, read, reading_weight=2.0)
    conversation = [*example["messages"], {"role": "assistant", "content": TARGET}]
    for turn in read["reading"]:
        conversation += [{"role": "user", "content": turn["question"]}, {"role": "assistant", "content": turn["answer"]}]
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template(conversation, tokenize=False).rstrip("\n")
    answered = tokenizer.decode([i for i, label in zip(ids, labels) if label != -100])
    assert answered == TARGET + "<|im_end|>" + "".join(t["answer"] + "<|im_end|>" for t in read["reading"])
    digits = "".join(c for t in read["reading"] for c in t["answer"] if c.isdigit())
    assert sorted(digits) == sorted("3810027")
    assert "".join(tokenizer.decode([i]).strip() for i, w in zip(ids, weights) if w == 2.0) == digits


def test_a_scratchpad_example_answers_its_reading_first_and_its_digits_weigh_the_reading_weight(smollm2_tokenizer):
    example = {"id": "s1", "levels": [10, 30, 50, 99, 50, 30, 10, 0], "target": TARGET,
               "messages": [{"role": "user", "content": "Describe. Series: 01 02"}]}
    (read,) = dataset.reading_turns([example], 1.0, seed=0, kind="scratchpad")
    assert "reading" not in read
    assert read["target"] == '{"reading":"highest 3, lowest 8, start 10, end 0, step 27",' + TARGET[1:]
    ids, labels, weights = tokenize_example(smollm2_tokenizer, read, reading_weight=2.0)
    assert "".join(smollm2_tokenizer.decode([i]).strip() for i, w in zip(ids, weights) if w == 2.0) == "38100" + "27"
    plain = tokenize_example(smollm2_tokenizer, read)
    assert plain[0] == ids and 2.0 not in plain[2]


def test_a_scratchpad_is_required_first_by_its_schema_and_dropped_by_the_parser():
    from core.schema import DescriptionParseError, description_json_schema, parse_description

    fields = ("trend", "noise", "extrema")
    assert list(description_json_schema(fields, scratchpad=True)["properties"]) == ["reading", *fields]
    with_pad = '{"reading":"highest 3, lowest 8, start 10, end 0, step 27",' + TARGET[1:]
    assert parse_description(with_pad, fields, scratchpad=True).model_dump() == parse_description(TARGET, fields).model_dump()
    with pytest.raises(DescriptionParseError, match="reading"):
        parse_description(TARGET, fields, scratchpad=True)  # a scratchpad student that skipped it
    with pytest.raises(DescriptionParseError):
        parse_description(with_pad, fields)  # an extra key from a student that has none


def test_the_style_metric_compares_a_scratchpad_students_sentences_without_its_reading():
    from training.evaluate import reference_text

    sentences = " ".join(json.loads(TARGET).values())
    assert reference_text(TARGET) == sentences
    assert reference_text('{"reading":"highest 3, lowest 8, start 10, end 0, step 27",' + TARGET[1:]) == sentences


def test_the_rule_reading_states_the_noise_rules_residual_rms_in_place_of_the_mean_step():
    ramp = list(range(128))
    question, answer = dataset.full_reading(ramp, highest_first=True, residual=True)
    assert answer == "highest 9, lowest 0, start 10, end 118, noise 0"  # a line is its own cubic fit
    assert "smooth curve" in question and "step" not in question
    zigzag = [40 if i % 2 else 60 for i in range(128)]  # ±10 around 50: residual RMS 10, medium noise
    assert dataset.full_reading(zigzag, highest_first=False, residual=True)[1] == (
        "lowest 0, highest 0, start 50, end 50, noise 10")
    examples = [{"id": f"s{i}", "levels": zigzag, "target": TARGET} for i in range(20)]
    assert all(e["reading"]["answer"].endswith("noise 10") for e in dataset.reading_turns(examples, 1.0, 0, "rule"))
    assert dataset.full_reading(ramp, highest_first=True)[1].endswith("step 1")  # 'all' unchanged


def test_the_rule_change_reading_states_the_trend_rules_end_minus_start_before_the_noise():
    ramp = list(range(128))
    question, answer = dataset.full_reading(ramp, highest_first=True, residual=True, change=True)
    assert answer == "highest 9, lowest 0, start 10, end 118, change +108, noise 0"
    assert "changed" in question
    falling = [99 - round(i * 0.5) for i in range(128)]
    assert ", change -54, " in dataset.full_reading(falling, highest_first=False, residual=True, change=True)[1]
    examples = [{"id": f"s{i}", "levels": ramp, "target": TARGET} for i in range(20)]
    turns = dataset.reading_turns(examples, 1.0, 0, "rule-change")
    assert all(", change +108, noise 0" in e["reading"]["answer"] for e in turns)
    assert all("change" not in e["reading"]["answer"] for e in dataset.reading_turns(examples, 1.0, 0, "rule"))


def test_a_scratchpad_rule_example_writes_the_noise_rules_residual_in_place_of_the_step():
    from core.features.noise import noise_label

    levels = [10, 30, 50, 99, 50, 30, 10, 0, 5, 20, 40, 60, 70, 65, 50, 45]
    example = {"id": "s2", "levels": levels, "target": TARGET,
               "messages": [{"role": "user", "content": "Describe. Series: 01 02"}]}
    (read,) = dataset.reading_turns([example], 1.0, seed=0, kind="scratchpad-rule")
    reading = json.loads(read["target"])["reading"]
    residual = round(noise_label(np.asarray(levels, dtype=np.float64))[1])
    assert reading.endswith(f", noise {residual}") and "step" not in reading
    assert reading.startswith("highest 1, lowest 4, start ")


def test_a_scratchpad_change_example_writes_the_edges_and_their_change_first_and_asks_the_rule_turn_only_in_training():
    ramp = [round(i * 0.9) for i in range(64)]  # edges of 10 points: means 4.1 and 52.7
    example = {"id": "s3", "levels": ramp, "target": TARGET,
               "messages": [{"role": "user", "content": "Describe. Series: 01 02"}]}
    (trained,) = dataset.reading_turns([example], 1.0, seed=0, kind="scratchpad-change")
    (held_out,) = dataset.reading_turns([example], 1.0, seed=0, kind="scratchpad-change", turns=False)
    written = json.loads(trained["target"])
    assert list(written)[0] == "reading" and written["reading"] == "start 4, end 53, change +49"
    assert {k: v for k, v in written.items() if k != "reading"} == json.loads(TARGET)  # the sentences unchanged
    assert "noise" in trained["reading"]["answer"] and "change" not in trained["reading"]["answer"]  # the rule turn
    assert "reading" not in held_out and json.loads(held_out["target"])["reading"] == written["reading"]
    flat = [50, 60] * 32
    assert json.loads(dataset.with_scratchpad({**example, "levels": flat}, change_only=True)["target"])["reading"] \
        == "start 55, end 55, change +0"


def test_a_scratchpad_goes_right_before_the_trend_when_the_answer_states_the_extrema_first():
    from core.schema import description_model, parse_description

    stated = json.loads(TARGET)
    extrema_first = {"extrema": stated["extrema"], "trend": stated["trend"], "noise": stated["noise"]}
    example = {"id": "s4", "levels": [round(i * 0.9) for i in range(64)], "target": json.dumps(extrema_first),
               "messages": [{"role": "user", "content": "Describe. Series: 01 02"}]}
    written = dataset.with_scratchpad(example, change_only=True)["target"]
    assert list(json.loads(written)) == ["extrema", "reading", "trend", "noise"]
    assert list(json.loads(dataset.with_scratchpad({**example, "target": TARGET}, change_only=True)["target"]))[0] \
        == "reading"  # the trend first: the reading first, as train54 was trained
    fields = ("extrema", "trend", "noise")
    assert list(parse_description(written, fields, scratchpad=True).model_dump()) == list(fields)
    with pytest.raises(ValueError, match="repeated"):
        description_model(("trend", "trend"))


@pytest.mark.parametrize(("reading", "writes_it_first"), [("scratchpad", True), ("scratchpad-rule", True),
                                                           ("scratchpad-change", True), ("all", False), ("rule", False)])
def test_the_shipped_manifest_says_whether_the_student_writes_a_scratchpad(tmp_path, reading, writes_it_first):
    from training.merge import student_manifest
    from training.rundir import RunDir

    run = RunDir(tmp_path / "run")
    run.record("dataset", {"reading": reading, "fields": ["trend", "noise", "extrema"]})
    assert student_manifest(run)["scratchpad"] is writes_it_first
