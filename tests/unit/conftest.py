"""Shared fixtures of the unit tests: SmolLM2's tokenizer, skipped where `make base` has not prepared it."""

from pathlib import Path

import pytest

SMOLLM2_DIR = Path(__file__).resolve().parents[2] / "models" / "smollm2-135m-instruct"


def load_smollm2_tokenizer():
    """A new SmolLM2 tokenizer (for a test that adds tokens to it), or skip."""
    transformers = pytest.importorskip("transformers")
    if not (SMOLLM2_DIR / "tokenizer.json").exists():
        pytest.skip("SmolLM2 not prepared (make base)")
    return transformers.AutoTokenizer.from_pretrained(SMOLLM2_DIR)


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """SmolLM2's tokenizer as shipped, shared: tests must not add tokens to it."""
    return load_smollm2_tokenizer()
