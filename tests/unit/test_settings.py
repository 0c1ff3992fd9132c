import json

from service.settings import Settings


def test_preset_gives_the_model_path_and_model_overrides_it():
    assert Settings(preset="smollm2-135m").model_path == "models/smollm2-135m-instruct"
    assert Settings(preset="qwen2.5-0.5b").model_path == "Qwen/Qwen2.5-0.5B-Instruct"
    assert Settings(model="/srv/m").model_path == "/srv/m"


def test_prompt_style_follows_the_students_manifest(tmp_path):
    (tmp_path / "tsdescribe.json").write_text(json.dumps({"prompt_style": "compact", "base": "x"}))
    assert Settings(adapter=str(tmp_path)).prompt_style == "compact"
    assert Settings(adapter=str(tmp_path), prompt_style="paper").prompt_style == "paper"
    assert Settings(model="nowhere").prompt_style == "paper"


def test_the_trained_length_follows_the_students_manifest_unless_pinned(tmp_path):
    (tmp_path / "tsdescribe.json").write_text(json.dumps({"prompt_style": "marked", "trained_length": 64}))
    assert Settings(adapter=str(tmp_path)).trained_length == 64
    assert Settings(adapter=str(tmp_path), trained_length=96).trained_length == 96
    old = tmp_path / "old"
    old.mkdir()
    (old / "tsdescribe.json").write_text(json.dumps({"prompt_style": "compact"}))  # before the length was recorded
    assert Settings(adapter=str(old)).trained_length == 128
    assert Settings(model="nowhere").trained_length == 128


def test_a_swapped_adapter_brings_its_own_style_and_length_but_pinned_settings_stay(tmp_path):
    from service.deployment import settings_for

    short, long = tmp_path / "short", tmp_path / "long"
    for directory, style, length in ((short, "marked", 64), (long, "compact", 128)):
        directory.mkdir()
        (directory / "tsdescribe.json").write_text(json.dumps({"prompt_style": style, "trained_length": length}))
    swapped = settings_for(Settings(adapter=str(long), max_batch=7), str(short))
    assert (swapped.prompt_style, swapped.trained_length, swapped.max_batch) == ("marked", 64, 7)
    pinned = settings_for(Settings(adapter=str(long), trained_length=100), str(short))
    assert (pinned.prompt_style, pinned.trained_length) == ("marked", 100)
    assert settings_for(Settings(adapter=str(short), prompt_style="paper"), str(long)).prompt_style == "paper"


def test_settings_read_the_env_prefix(monkeypatch):
    monkeypatch.setenv("TSD_MAX_BATCH", "7")
    monkeypatch.setenv("TSD_BACKEND", "openai")
    s = Settings()
    assert s.max_batch == 7 and s.backend == "openai"


def test_cpu_engine_gets_every_core_unless_told_otherwise(monkeypatch):
    from service.settings import Settings

    assert Settings(preset="smollm2-135m").cpu_reserved_cores == 0
    monkeypatch.setenv("TSD_CPU_RESERVED_CORES", "1")
    assert Settings(preset="smollm2-135m").cpu_reserved_cores == 1


def test_the_server_caps_connections_and_trusts_forwarded_headers_only_from_named_proxies():
    from service.__main__ import server_config

    config = server_config(object(), Settings(max_connections=300))
    assert config.limit_concurrency == 300 and config.proxy_headers is False
    config = server_config(object(), Settings(forwarded_allow_ips="10.0.0.5"))
    assert config.proxy_headers is True and config.forwarded_allow_ips == "10.0.0.5"


def test_the_healthcheck_follows_the_port_the_service_was_started_on():
    from service.healthcheck import health_url

    assert health_url({}) == "http://127.0.0.1:8000/health"
    assert health_url({"TSD_HOST": "0.0.0.0", "TSD_PORT": "9123"}) == "http://127.0.0.1:9123/health"
    assert health_url({"TSD_HOST": "127.0.0.1", "TSD_PORT": "41000"}) == "http://127.0.0.1:41000/health"
