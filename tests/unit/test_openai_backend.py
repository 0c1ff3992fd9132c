import json

import httpx
import pytest

from core.schema import description_json_schema
from service.backends.base import EngineUnavailable, GenerationParams
from service.backends.openai_remote import OpenAIBackend
from service.settings import Settings

JSON_SCHEMA = description_json_schema()

ANSWER = '{"trend":"Up.","noise":"Low.","extrema":"Max at end."}'


def remote(handler):
    settings = Settings(backend="openai", openai_base_url="http://engine/v1", openai_api_key="k-123", model="student")
    return OpenAIBackend(settings, transport=httpx.MockTransport(handler))


async def test_sends_json_schema_response_format_and_reads_usage():
    seen = {}

    def handler(request: httpx.Request):
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "student"}]})
        seen.update(json.loads(request.content), auth=request.headers["authorization"])
        return httpx.Response(200, json={
            "choices": [{"message": {"content": ANSWER}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 512, "completion_tokens": 30},
        })

    backend = remote(handler)
    await backend.start()
    g = await backend.generate([{"role": "user", "content": "hi"}], GenerationParams(json_schema=JSON_SCHEMA, seed=4))
    assert g.text == ANSWER and g.prompt_tokens == 512 and g.completion_tokens == 30
    assert seen["response_format"]["type"] == "json_schema"
    assert seen["response_format"]["json_schema"]["schema"] == JSON_SCHEMA
    assert seen["model"] == "student" and seen["seed"] == 4
    assert seen["auth"] == "Bearer k-123"
    await backend.close()


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_remote_errors_become_engine_unavailable(status):
    def handler(request):
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "student"}]})
        return httpx.Response(status, text="busy")

    backend = remote(handler)
    await backend.start()
    with pytest.raises(EngineUnavailable):
        await backend.generate([{"role": "user", "content": "hi"}], GenerationParams(json_schema=JSON_SCHEMA))


async def test_unreachable_remote_fails_start():
    def handler(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(EngineUnavailable, match="unreachable"):
        await remote(handler).start()
