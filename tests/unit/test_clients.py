import json

import httpx
import pytest

from clients import cli
from clients.client import AsyncClient, Client, ClientError, ServerError, TransportError

BODY = {
    "description": {"trend": "Up.", "noise": "Low.", "extrema": "Max at end."},
    "checks": {name: {"stated": "x", "computed": "x", "agrees": True, "fact": "f"} for name in ("trend", "noise", "max", "min")}
    | {"score": 1.0, "repaired": []},
    "model": {"name": "m", "adapter": None, "backend": "vllm", "prompt_style": "paper"},
    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    "series": {"input_length": 9, "encoded_length": 128, "resampled": True, "filled_gaps": 0, "min": 0, "max": 1},
    "latency_ms": 3.0,
}


def scripted(*responses):
    calls = []

    def handler(request):
        calls.append(json.loads(request.content))
        return responses[min(len(calls), len(responses)) - 1]

    return httpx.MockTransport(handler), calls


def test_describe_returns_a_typed_result():
    transport, calls = scripted(httpx.Response(200, json=BODY))
    result = Client("http://t", transport=transport).describe([1, 2, 3], repair=True)
    assert result.trend == "Up." and result.checks["max"].agrees and result.score == 1.0
    assert calls == [{"series": [1, 2, 3], "repair": True}]


def test_retries_429_and_503_honouring_retry_after(monkeypatch):
    slept = []
    monkeypatch.setattr("clients.client.time.sleep", slept.append)
    transport, calls = scripted(httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "busy"}),
                                httpx.Response(503, json={"detail": "loading"}), httpx.Response(200, json=BODY))
    Client("http://t", transport=transport, backoff=0.25).describe([1.0] * 9)
    assert len(calls) == 3 and slept == [2.0, 0.5]


def test_client_error_carries_the_servers_message():
    transport, _ = scripted(httpx.Response(422, json={"detail": "series has 3 values; send at least 8"}))
    with pytest.raises(ClientError) as error:
        Client("http://t", transport=transport).describe([1, 2, 3])
    assert error.value.status == 422 and "at least 8" in error.value.detail


def test_server_error_after_retries_run_out(monkeypatch):
    monkeypatch.setattr("clients.client.time.sleep", lambda s: None)
    transport, calls = scripted(httpx.Response(503, json={"detail": "engine died"}))
    with pytest.raises(ServerError, match="engine died"):
        Client("http://t", transport=transport, retries=2).describe([1.0] * 9)
    assert len(calls) == 3


def test_transport_errors_are_wrapped():
    def refuse(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(TransportError, match="refused"):
        Client("http://t", transport=httpx.MockTransport(refuse)).describe([1.0] * 9)


async def test_async_describe_many_keeps_order_and_errors():
    def handler(request):
        series = json.loads(request.content)["series"]
        if len(series) < 8:
            return httpx.Response(422, json={"detail": "too short"})
        return httpx.Response(200, json=BODY)

    async with AsyncClient("http://t", transport=httpx.MockTransport(handler)) as client:
        results = await client.describe_many([[1.0] * 9, [1.0], [2.0] * 9], concurrency=2)
    assert results[0].trend == "Up." and isinstance(results[1], ClientError) and results[2].noise == "Low."


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [("[1, 2.5, null]", None, [1.0, 2.5, None]), ("1\n2\n\n3\n", None, [1.0, 2.0, 3.0]),
     ("date,price\n2024-01-01,3\n2024-01-02,\n2024-01-03,5\n", "price", [3.0, None, 5.0]),
     ("a,b\n1,2\n3,4\n", "1", [2.0, 4.0])],
)
def test_cli_reads_numbers(text, column, expected):
    assert cli.parse_numbers(text, column) == expected


def test_cli_asks_for_a_column_on_csv():
    with pytest.raises(ValueError, match="choose a column"):
        cli.parse_numbers("a,b\n1,2\n")


def test_fields_a_newer_service_adds_never_break_this_client():
    from clients.client import Result

    body = {**BODY, "description": {**BODY["description"], "seasonality": "Seasonal, period 12."},
            "checks": {**BODY["checks"], "period": None,
                       "outliers": {"stated": "none", "computed": "none", "agrees": True, "fact": "f", "indices": []}}}
    result = Result.from_json(body)
    assert result.trend == "Up." and result.description["seasonality"] == "Seasonal, period 12."
    assert "period" not in result.checks and result.checks["outliers"].agrees


def test_the_client_sends_timestamps_and_reads_evidence_times_and_features():
    checks = {**BODY["checks"], "max": {"stated": "end", "computed": "end", "agrees": True, "fact": "f",
                                        "evidence": {"argmax": 2, "max_value": 3.0},
                                        "times": {"argmax_time": "2024-01-03T00:00:00"}}}
    features = {"shift": {"computed": "none", "fact": "f", "evidence": {"shift_index": 0, "shift_size": 0.0}}}
    transport, calls = scripted(httpx.Response(200, json={**BODY, "checks": checks, "features": features}))
    days = ["2024-01-01", "2024-01-02", "2024-01-03"]
    result = Client("http://t", transport=transport).describe([1, 2, 3], timestamps=days, all_features=True)
    assert calls == [{"series": [1, 2, 3], "timestamps": days, "all_features": True}]
    assert result.checks["max"].evidence == {"argmax": 2, "max_value": 3.0}
    assert result.checks["max"].times == {"argmax_time": "2024-01-03T00:00:00"}
    assert result.checks["trend"].evidence == {} and result.features["shift"]["computed"] == "none"
    assert "argmax_time 2024-01-03T00:00:00" in cli.render_table(result)


def test_cli_reads_a_time_column_as_iso_strings_or_epoch_seconds():
    assert cli.parse_times("date,v\n2024-01-01,1\n2024-01-02,2\n", "date") == ["2024-01-01", "2024-01-02"]
    assert cli.parse_times("t,v\n0,1\n60,2\n", "t") == [0.0, 60.0]
    with pytest.raises(ValueError, match="no time column 'when'"):
        cli.parse_times("t,v\n0,1\n", "when")
