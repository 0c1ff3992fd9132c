"""The Qwen2 architecture and Qwen2's real tokenizer through the same vLLM path, on a tiny random model."""

import httpx
import pytest

from core.schema import Description
from training.prepare_base import prepare_tiny_qwen2

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    return prepare_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


def test_qwen_tokenizer_is_qwen2s_own(tiny_qwen):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen)
    assert tokenizer.encode("Hello world, this is Qwen.") == [9707, 1879, 11, 419, 374, 1207, 16948, 13]
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") == 151645
    assert tokenizer.tokenize("07") == ["0", "7"]


@pytest.fixture(scope="module")
def tiny_adapter(tiny_qwen, tmp_path_factory):
    """A random (non-zero) LoRA adapter for the tiny Qwen2, saved by peft as training saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    out = tmp_path_factory.mktemp("adapter")
    get_peft_model(model, config).save_pretrained(out)
    return out


def test_tiny_qwen2_with_lora_adapter_serves_through_vllm(start_server, tiny_qwen, tiny_adapter):
    # Random weights wander: give the schema room to close within max_tokens.
    server = start_server(
        TSD_MODEL=str(tiny_qwen), TSD_ADAPTER=str(tiny_adapter), TSD_ADAPTER_MODE="lora", TSD_MAX_TOKENS="800",
        TSD_MAX_MODEL_LEN="2048",
    )
    info = httpx.get(f"{server.url}/info").json()
    assert info["tokens_per_digit"] == 1.0
    assert info["backend"]["adapter_mode"] == "lora"
    assert info["model"]["adapter"] == str(tiny_adapter)
    r = httpx.post(f"{server.url}/describe", json={"series": list(range(64))}, timeout=300)
    assert r.status_code == 200, r.text
    Description.model_validate(r.json()["description"])
    assert r.json()["model"]["adapter"] == str(tiny_adapter)
