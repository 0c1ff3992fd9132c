"""finetune resumes only what it may: same config and data, from the exact batch it stopped before."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from safetensors.torch import load_file  # noqa: E402

from training import finetune as stage  # noqa: E402
from training.prepare_base import prepare_tiny_qwen2  # noqa: E402
from training.rundir import RunDir  # noqa: E402


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return str(prepare_tiny_qwen2(tmp_path_factory.mktemp("base") / "qwen"))


def make_run(path, series=lambda k: " ".join(str(i * k % 100) for i in range(12)), count: int = 12) -> RunDir:
    run = RunDir(path)
    (run.path / "sft").mkdir()
    examples = [{"messages": [{"role": "user", "content": f"Series: {series(k)}"}],
                 "target": json.dumps({"trend": f"answer {k}"})} for k in range(count)]
    run.write_jsonl("sft/train.jsonl", examples)
    run.write_jsonl("sft/validation.jsonl", examples[:2])
    return run


def config(base, **changes):
    values = {"base": base, "max_steps": 4, "batch_size": 2, "target_modules": ["q_proj", "v_proj"],
              "checkpoint_every": 2, "compile": False, "warmup_steps": 1, "dtype": "float32", **changes}
    return stage.FinetuneConfig(**values)


def adapter_weights(run: RunDir) -> dict:
    return load_file(run.path / "adapter" / "adapter_model.safetensors")


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. a loss read without detach()
def test_a_killed_run_resumes_at_the_exact_batch_and_ends_where_an_unbroken_one_does(base, tmp_path, monkeypatch):
    unbroken = make_run(tmp_path / "unbroken")
    stage.finetune(unbroken, config(base))

    killed = make_run(tmp_path / "killed")
    save = stage.save_checkpoint

    def save_then_die(model, optimizer, state, path):
        save(model, optimizer, state, path)
        raise KeyboardInterrupt  # killed right after the checkpoint at step 2

    monkeypatch.setattr(stage, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        stage.finetune(killed, config(base))
    monkeypatch.setattr(stage, "save_checkpoint", save)
    state = json.loads((killed.path / "checkpoints" / "last" / "state.json").read_text())
    assert (state["step"], state["epoch"], state["batches_done"]) == (2, 0, 2)
    result = stage.finetune(killed, config(base))
    assert result["steps"] == 4
    expected, resumed = adapter_weights(unbroken), adapter_weights(killed)
    assert expected.keys() == resumed.keys()
    assert all(torch.allclose(expected[k], resumed[k], atol=1e-6) for k in expected)


def test_a_checkpoint_of_another_config_or_data_is_refused_unless_fresh(base, tmp_path):
    run = make_run(tmp_path / "run")
    stage.finetune(run, config(base, max_steps=2))
    with pytest.raises(SystemExit, match="another config"):
        stage.finetune(run, config(base, max_steps=4, lr=1e-3))
    examples = list(run.read_jsonl("sft/train.jsonl"))
    run.write_jsonl("sft/train.jsonl", examples[::-1])
    with pytest.raises(SystemExit, match="data"):
        stage.finetune(run, config(base, max_steps=2))
    assert stage.finetune(run, config(base, max_steps=2), fresh=True)["steps"] == 2


@pytest.mark.parametrize("frozen", [False, True])
def test_frozen_level_rows_stay_as_started_and_are_still_saved_while_lora_trains(base, tmp_path, frozen):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.level_tokens import prepare_model_for_levels

    run = make_run(tmp_path / "run", lambda k: f"07 <L99> {k:02d} <L00> 33", count=8)  # rows that get gradients
    result = stage.finetune(run, config(base, prompt_style="marked", level_init="high", first_layer=1, lr=1e-2,
                                        freeze_level_rows=frozen))
    start = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    ids = prepare_model_for_levels(start, AutoTokenizer.from_pretrained(base), "marked", "high")
    assert ids == result["level_token_ids"]
    saved = adapter_weights(run)
    rows = next(v for k, v in saved.items() if "trainable_tokens_delta" in k)
    moved = (rows.float() - start.get_input_embeddings().weight[ids].float()).abs().max()
    assert (moved < 1e-6) if frozen else (moved > 1e-3)
    assert any("lora_B" in k and v.abs().max() > 0 for k, v in saved.items())
    assert not any("layers.0." in k for k in saved)  # first_layer=1: no LoRA below it
