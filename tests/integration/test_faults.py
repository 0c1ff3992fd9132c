"""Faults on the real engine: the engine core killed under load, and SIGTERM under load."""

import signal
import threading
import time

import httpx
import psutil
import pytest

from tests.integration.test_vllm_service import ornstein_uhlenbeck

pytestmark = pytest.mark.integration


def load(url: str, users: int, stop: threading.Event, outcomes: list, per_user: int | None = None):
    """Users posting /describe until stopped (or `per_user` each); outcomes get (status or error, seconds)."""

    def user(seed: int):
        with httpx.Client(timeout=120) as client:
            sent = 0
            while not stop.is_set() and (per_user is None or sent < per_user):
                started = time.monotonic()
                try:
                    status = client.post(f"{url}/describe", json={"series": ornstein_uhlenbeck(seed=seed)}).status_code
                except httpx.TransportError as error:
                    status = type(error).__name__
                outcomes.append((status, time.monotonic() - started))
                sent += 1

    threads = [threading.Thread(target=user, args=(s,)) for s in range(users)]
    for thread in threads:
        thread.start()
    return threads


def test_engine_death_under_load_fails_fast_and_exits_non_zero(start_server):
    server = start_server(TSD_PRESET="smollm2-135m", TSD_MAX_NUM_SEQS="8")
    stop, outcomes = threading.Event(), []
    threads = load(server.url, 4, stop, outcomes)
    time.sleep(3)
    engine_cores = [p for p in psutil.Process(server.process.pid).children(recursive=True)]
    assert engine_cores, "no engine core child process found"
    for process in engine_cores:
        process.kill()
    killed_at = time.monotonic()
    try:
        assert server.process.wait(timeout=90) == 1  # the orchestrator's cue to restart it
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    exited_after = time.monotonic() - killed_at
    after = [o for o in outcomes[-8:] if o[0] != 200]
    assert after, "no request saw the engine's death"
    assert all(o[0] in (503, "ConnectError", "RemoteProtocolError", "ReadError") for o in after), after
    assert all(seconds < 30 for _, seconds in after), after  # fast answers, no hangs
    assert 500 not in [o[0] for o in outcomes] and exited_after < 90
    assert "engine died" in server.tail(200)


def test_sigterm_under_load_answers_every_accepted_request(start_server):
    server = start_server(TSD_PRESET="smollm2-135m", TSD_MAX_NUM_SEQS="8")
    stop, outcomes = threading.Event(), []
    threads = load(server.url, 4, stop, outcomes, per_user=1)
    time.sleep(1.5)  # all four requests are in flight on the engine
    server.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=120)
    assert server.process.wait(timeout=120) == 0
    assert [o[0] for o in outcomes] == [200, 200, 200, 200]
