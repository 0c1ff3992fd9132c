"""The probe's one-forward scoring: the cached continuation gives each phrase the log-probability a full forward does."""

import pytest

from tests.unit.conftest import load_smollm2_tokenizer

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


def tiny_llama(tokenizer):
    """A random two-layer Llama over the tokenizer's vocabulary, with eager attention (so it returns attentions)."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    model = transformers.LlamaForCausalLM(config).eval()
    model.config._attn_implementation = "eager"
    return model


def test_cached_phrase_scores_equal_full_forwards_and_the_cache_is_restored(smollm2_tokenizer):
    from training.probe import read_decision

    tokenizer = smollm2_tokenizer
    model = tiny_llama(tokenizer)
    ids = tokenizer.encode("The global minimum is located", add_special_tokens=False)
    phrases = ["at the beginning", "at the middle", "near the end"]
    logprobs, attentions = read_decision(model, tokenizer, ids, phrases)
    for phrase, logprob in zip(phrases, logprobs):
        tail = tokenizer.encode(" " + phrase, add_special_tokens=False)
        with torch.no_grad():
            logits = model(torch.tensor([ids + tail])).logits[0, len(ids) - 1 : -1]
        expected = torch.log_softmax(logits, -1)[torch.arange(len(tail)), torch.tensor(tail)].sum()
        assert abs(logprob - float(expected)) < 1e-4, phrase
    assert len({round(x, 3) for x in logprobs}) == 3  # the phrases were scored, not one cached answer repeated
    assert len(attentions) == 2 and attentions[0].shape == (1, 4, len(ids), len(ids))


def test_the_probe_reads_a_zones_student_at_its_extreme_token_and_refuses_the_wrong_style():
    import json

    from core.facts import position_label
    from core.level_tokens import LevelTokensError, add_level_tokens
    from core.prompt import build_messages
    from core.series import format_levels
    from training.probe import probe

    tokenizer = load_smollm2_tokenizer()
    add_level_tokens(tokenizer, "zones")
    model = tiny_llama(tokenizer)
    examples = []
    for zone, at in (("beginning", 5), ("middle", 60), ("end", 120)):
        levels = [50] * 128
        levels[at], levels[(at + 64) % 128] = 0, 99
        target = json.dumps({"trend": "The series shows no clear trend.", "noise": "The noise intensity is low.",
                             "extrema": f"The global maximum is located at the {position_label((at + 64) % 128, 128)}, "
                                        f"while the global minimum is at the {zone}."}, separators=(",", ":"))
        examples.append({"messages": build_messages(format_levels(levels), "zones"), "target": target,
                         "features": {"max": position_label((at + 64) % 128, 128), "min": zone}, "teacher": "rules"})
    found = probe(model, tokenizer, examples, per_class=1, style="zones")
    assert [int(found["min"]["right"][zone].split("/")[1]) for zone in ("beginning", "middle", "end")] == [1, 1, 1]
    assert len(found["min"]["attention"]) == 2 and all(a["to_extreme"] > 0 for a in found["min"]["attention"])
    with pytest.raises(LevelTokensError):
        probe(model, tokenizer, examples, per_class=1, style="levels")


def test_readings_are_scored_per_quantity_and_a_bare_digit_answers_the_extreme_its_question_names():
    from training.probe import named_numbers, score_readings

    assert named_numbers("Where is its lowest level?", "6") == {"lowest": 6}
    assert named_numbers("…", "highest 0, lowest 6, start 23, end 71, step 4") == {
        "highest": 0, "lowest": 6, "start": 23, "end": 71, "step": 4}
    truth = {"lowest": 6, "highest": 0, "start": 20, "end": 70}
    scores = score_readings([(truth, {"lowest": 6, "highest": 1, "start": 22, "end": 70}),
                             (truth, {"lowest": 6, "highest": 0, "start": 20})])
    assert scores == {"lowest": "2/2", "highest": "1/2", "start_mean_error": 1.0, "start_stated": "2/2",
                      "end_mean_error": 0.0, "end_stated": "1/2"}


@pytest.mark.parametrize("kind", ["all", "split", "scratchpad"])
def test_the_reading_probe_asks_every_quantity_of_a_reading_kind(kind):
    import json

    from core.level_tokens import add_level_tokens
    from core.prompt import build_messages
    from core.series import format_levels
    from training.dataset import reading_turns
    from training.probe import reading_probe

    tokenizer = load_smollm2_tokenizer()
    add_level_tokens(tokenizer, "levels")
    model = tiny_llama(tokenizer)
    levels = [50] * 20 + [0] + [50] * 20 + [99] + [50] * 22
    target = json.dumps({"trend": "The series shows no clear trend.", "noise": "The noise intensity is low.",
                         "extrema": "The global maximum is at the middle, while the global minimum is at the "
                                    "beginning."}, separators=(",", ":"))
    example = {"id": "s1", "levels": levels, "target": target, "teacher": "rules",
               "messages": build_messages(format_levels(levels), "levels")}
    if kind == "scratchpad":
        (example,) = reading_turns([example], 1.0, 0, "scratchpad")
    found = reading_probe(model, tokenizer, [example], 1, kind)
    assert found["count"] == 1
    assert set(found) == {"count", "lowest", "highest", "start_mean_error", "start_stated", "end_mean_error",
                          "end_stated", "step_mean_error", "step_stated", "attention"}
    assert found["lowest"] in ("0/1", "1/1") and found["start_stated"] in ("0/1", "1/1")
    assert set(found["attention"]) == {"lowest", "highest"}  # each extreme's lookup measured where it is read
    assert all(0 < a["to_extreme"] <= 1 and a["layer"] in (0, 1) for a in found["attention"].values())


def test_reading_attention_is_taken_at_the_token_before_each_extremes_number(smollm2_tokenizer):
    from core.level_tokens import add_level_tokens
    from training.probe import reading_attention

    tokenizer = load_smollm2_tokenizer()
    add_level_tokens(tokenizer, "levels")
    model = tiny_llama(tokenizer)
    text = "Levels: <L50><L00><L50><L99><L50>\nWhere?"
    both = reading_attention(model, tokenizer, text, "Where?", "highest 6, lowest 2, start 50", "levels")
    assert set(both) == {"lowest", "highest"} and len(both["lowest"]) == 2 and len(both["lowest"][0]) == 4
    ids = tokenizer.encode(text + "highest 6, lowest ", add_special_tokens=False)
    with torch.no_grad():
        expected = model(torch.tensor([ids]), output_attentions=True).attentions[1][0, :, -1, ids.index(
            tokenizer.convert_tokens_to_ids("<L00>"))]
    assert torch.allclose(torch.tensor(both["lowest"][1]), expected)
    alone = reading_attention(model, tokenizer, text, "In which tenth is its lowest level?", "2", "levels")
    assert set(alone) == {"lowest"}  # a bare digit answers the extreme its question names
    assert reading_attention(model, tokenizer, text, "Its mean step?", "start 50, end 50, step 0", "levels") == {}


def test_sentences_by_label_takes_the_rule_teachers_distinct_sentences_per_label():
    import json

    from training.probe import sentences_by_label

    def example(teacher, label, sentence):
        return {"teacher": teacher, "features": {"trend": label}, "target": json.dumps({"trend": sentence})}

    examples = [example("rules", "flat", "No trend."), example("rules", "flat", "No trend."),
                example("rules", "increasing", "Up."), example("import:x", "increasing", "Teacher's own words.")]
    assert sentences_by_label(examples, "trend") == {"flat": ["No trend."], "increasing": ["Up."]}


def test_label_mass_sums_a_labels_sentences_where_the_likeliest_single_sentence_is_another_labels(monkeypatch,
                                                                                                   smollm2_tokenizer):
    import math

    import training.probe as probe_module

    scores = {"A one.\"": math.log(0.4), "B one.\"": math.log(0.3), "B two.\"": math.log(0.3)}
    monkeypatch.setattr(probe_module, "read_decision",
                        lambda model, tokenizer, ids, phrases, lead: ([scores[p] for p in phrases], None))
    messages = [{"role": "user", "content": "Describe."}]
    found = probe_module.label_mass(None, smollm2_tokenizer, [(messages, "b"), (messages, "a")], "trend",
                                    {"a": ["A one."], "b": ["B one.", "B two."]})
    assert found == {"a": {"count": 1, "by_mass": 0, "by_likeliest_sentence": 1},
                     "b": {"count": 1, "by_mass": 1, "by_likeliest_sentence": 0}}


def test_real_world_label_mass_scores_every_real_series_for_every_field_asked(tmp_path):
    import json

    from core.level_tokens import add_level_tokens
    from training.probe import real_world_label_mass
    from training.rundir import RunDir

    tokenizer = load_smollm2_tokenizer()
    add_level_tokens(tokenizer, "levels")
    model = tiny_llama(tokenizer)
    labels = [("increasing", "low"), ("flat", "medium"), ("decreasing", "high")]
    (tmp_path / "sft").mkdir()
    (tmp_path / "realworld_series.jsonl").write_text("".join(
        json.dumps({"values": [float(i % 7) for i in range(64)], "features": {"trend": t, "noise": n}}) + "\n"
        for t, n in labels))
    (tmp_path / "sft" / "train.jsonl").write_text("".join(
        json.dumps({"teacher": "rules", "features": {"trend": t, "noise": n},
                    "target": json.dumps({"trend": f"The series is {t}.", "noise": f"The noise is {n}."})}) + "\n"
        for t, n in labels))
    found = real_world_label_mass(model, tokenizer, RunDir(tmp_path), ["trend", "noise"], "levels")
    # the real-world records were a generator once: the second pass over them scored nothing ({} for every field)
    assert {field: {label: counts["count"] for label, counts in per_label.items()} for field, per_label in found.items()} \
        == {"trend": {"decreasing": 1, "flat": 1, "increasing": 1}, "noise": {"high": 1, "low": 1, "medium": 1}}
