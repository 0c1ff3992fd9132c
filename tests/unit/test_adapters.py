"""Merging an adapter into its base: content-keyed cache, manifest carried over, weights actually changed."""

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from service.adapters import adapter_digest, base_fingerprint, merged_model_dir  # noqa: E402 (after the skips)


@pytest.fixture(scope="module")
def tiny_base_and_adapter(tmp_path_factory):
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    torch.manual_seed(0)
    base_dir = tmp_path_factory.mktemp("base")
    transformers.LlamaForCausalLM(config).save_pretrained(base_dir)
    _save_tokenizer(base_dir)
    model = peft.get_peft_model(transformers.LlamaForCausalLM.from_pretrained(base_dir),
                                peft.LoraConfig(r=4, target_modules=["q_proj"], init_lora_weights=False))
    adapter_dir = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(adapter_dir)
    (adapter_dir / "tsdescribe.json").write_text(json.dumps({"name": "v1", "prompt_style": "compact"}))
    return str(base_dir), adapter_dir


def _save_tokenizer(directory):
    from tokenizers import Tokenizer, models

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]").save_pretrained(directory)


def test_merged_model_folds_the_adapter_in_and_is_cached(tiny_base_and_adapter, tmp_path):
    base, adapter = tiny_base_and_adapter
    out = merged_model_dir(base, adapter, tmp_path)
    assert out.name.endswith(adapter_digest(base_fingerprint(base), adapter))
    assert json.loads((out / "tsdescribe.json").read_text()) == {"name": "v1", "prompt_style": "compact", "merged": True}
    merged = transformers.AutoModelForCausalLM.from_pretrained(out)
    original = transformers.AutoModelForCausalLM.from_pretrained(base)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(merged.state_dict()[q].float(), original.state_dict()[q].float())
    stamp = (out / "config.json").stat().st_mtime_ns
    assert merged_model_dir(base, adapter, tmp_path) == out
    assert (out / "config.json").stat().st_mtime_ns == stamp  # second call reuses the cache


def test_a_new_adapter_version_gets_a_new_merged_model(tiny_base_and_adapter, tmp_path):
    base, adapter = tiny_base_and_adapter
    first = adapter_digest(base, adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    changed = tmp_path / "v2"
    changed.mkdir()
    (changed / "adapter_model.safetensors").write_bytes((adapter / "adapter_model.safetensors").read_bytes())
    (changed / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": 99}))
    assert adapter_digest(base, changed) != first


def test_a_re_prepared_base_gets_a_new_merge(tiny_base_and_adapter, tmp_path):
    base, adapter = tiny_base_and_adapter
    copy = tmp_path / "base"
    import shutil

    shutil.copytree(base, copy)
    first = merged_model_dir(str(copy), adapter, tmp_path / "cache")
    model = transformers.AutoModelForCausalLM.from_pretrained(copy)
    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight.add_(1.0)
    model.save_pretrained(copy)  # same path string, new weights
    second = merged_model_dir(str(copy), adapter, tmp_path / "cache")
    assert second != first


def test_old_merges_are_evicted_and_partials_are_never_shared(tiny_base_and_adapter, tmp_path):
    base, adapter = tiny_base_and_adapter
    import os
    import shutil

    cache = tmp_path / "cache"
    outs = []
    for i in range(4):
        version = tmp_path / f"v{i}"
        shutil.copytree(adapter, version)
        config = json.loads((version / "adapter_config.json").read_text())
        (version / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": 10 + i}))
        outs.append(merged_model_dir(base, version, cache, keep=2))
        os.utime(outs[-1], (1000 + i, 1000 + i))
    left = sorted(p.name for p in cache.iterdir())
    assert left == sorted(p.name for p in outs[-2:])  # the two most recently used; no .partial left behind
