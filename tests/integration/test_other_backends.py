"""The reference transformers backend and the remote OpenAI backend against a real vLLM OpenAI server."""

import subprocess
import sys
import time

import httpx
import pytest

from core.prompt import build_messages
from core.schema import description_json_schema, parse_description
from service.backends.base import GenerationParams
from service.backends.openai_remote import OpenAIBackend
from service.backends.transformers_reference import TransformersBackend
from service.settings import Settings
from tests.integration.conftest import ROOT, SMOLLM2_DIR, free_port

JSON_SCHEMA = description_json_schema()

pytestmark = pytest.mark.integration
MESSAGES = build_messages([f"{i * 99 // 127:02d}" for i in range(128)])


async def test_transformers_backend_is_schema_constrained():
    backend = TransformersBackend(Settings(model=str(SMOLLM2_DIR), max_tokens=200))
    await backend.start()
    g = await backend.generate(MESSAGES, GenerationParams(json_schema=JSON_SCHEMA, max_tokens=300))
    assert g.finish_reason == "stop", g.text
    parse_description(g.text)
    assert g.prompt_tokens > 256
    assert backend.count_tokens("0799") == 4


@pytest.fixture(scope="module")
def openai_server(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("openai") / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(SMOLLM2_DIR),
         "--served-model-name", "smollm2", "--port", str(port), "--host", "127.0.0.1", "--enforce-eager",
         "--max-model-len", "2048", "--structured-outputs-config.backend", "xgrammar"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**__import__("os").environ, "VLLM_CPU_KVCACHE_SPACE": "1"},
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        assert process.poll() is None, "vLLM OpenAI server exited"
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(1)
    yield url
    process.terminate()
    process.wait(timeout=60)
    log.close()


async def test_openai_backend_against_a_real_vllm_server(openai_server):
    backend = OpenAIBackend(Settings(backend="openai", openai_base_url=openai_server, served_model_name="smollm2"))
    await backend.start()
    assert backend.remote_model == "smollm2"
    g = await backend.generate(MESSAGES, GenerationParams(json_schema=JSON_SCHEMA, max_tokens=300))
    parse_description(g.text)
    assert g.prompt_tokens > 256 and g.completion_tokens > 0
    await backend.check_health()
    await backend.close()
