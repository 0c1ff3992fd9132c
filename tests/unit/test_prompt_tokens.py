"""The vLLM backend tokenizes prompts itself (the engine gets ids): the fast path must give the template's own ids."""

from pathlib import Path

import pytest

from service import prompt
from service.backends.vllm_engine import VLLMBackend
from service.describe import DescribeOptions, prepare
from service.settings import Settings
from training.generate import generate_ou

transformers = pytest.importorskip("transformers")
SMOLLM2_DIR = Path(__file__).resolve().parents[2] / "models" / "smollm2-135m-instruct"


@pytest.mark.parametrize("style", ["paper", "compact"])
def test_prompt_ids_equal_the_chat_templates_tokenization(style):
    settings = Settings(preset="smollm2-135m", prompt_style=style)
    backend = VLLMBackend(settings)
    backend.tokenizer = transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)
    assert backend.tokenizer.is_fast
    for record in generate_ou(5, seed=3):
        messages = prompt.build_messages(prepare(record["values"], DescribeOptions(), settings).tokens, style)
        expected = backend.tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        expected = expected["input_ids"] if isinstance(expected, dict) or hasattr(expected, "keys") else expected
        assert backend.prompt_token_ids(messages) == list(expected)
