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


def peak_rss_growth(pid: int, stop: threading.Event, out: list) -> threading.Thread:
    """Sample the server process's resident memory until stopped; out gets (baseline, peak) in bytes."""
    process = psutil.Process(pid)
    baseline = process.memory_info().rss

    def sample():
        peak = baseline
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.02)
        out.extend([baseline, peak])

    thread = threading.Thread(target=sample)
    thread.start()
    return thread


def test_hostile_maximal_bodies_behind_a_busy_engine_stay_bounded_in_memory(start_server):
    server = start_server(TSD_PRESET="smollm2-135m", TSD_MAX_IN_FLIGHT="2", TSD_MAX_NUM_SEQS="8")
    zeros = b'{"series": [' + b"0," * (4 * 1024 * 1024 - 8) + b"0]}"  # just under the 8 MiB body limit
    stop, outcomes = threading.Event(), []
    busy = load(server.url, 3, stop, outcomes)  # the engine and both places are taken
    time.sleep(2)
    sampling, memory = threading.Event(), []
    sampler = peak_rss_growth(server.process.pid, sampling, memory)
    statuses: list = []

    def hostile(i: int):
        try:
            r = httpx.post(f"{server.url}/describe", content=zeros, timeout=120,
                           headers={"content-type": "application/json"})
            statuses.append(r.status_code)
        except httpx.TransportError as error:
            statuses.append(type(error).__name__)

    attackers = [threading.Thread(target=hostile, args=(i,)) for i in range(32)]
    for thread in attackers:
        thread.start()
    for thread in attackers:
        thread.join(timeout=300)
    sampling.set()
    sampler.join()
    stop.set()
    for thread in busy:
        thread.join(timeout=120)
    grown_mb = (memory[1] - memory[0]) / 2**20
    print(f"hostile bodies: statuses {sorted(set(map(str, statuses)))}, peak RSS growth {grown_mb:.0f} MB")
    assert len(statuses) == 32 and set(statuses) <= {413, 422, 429}, statuses
    assert grown_mb < 1024
    assert httpx.post(f"{server.url}/describe", json={"series": ornstein_uhlenbeck(seed=1)}, timeout=120).status_code == 200
    assert 500 not in [o[0] for o in outcomes]


def test_sigterm_with_a_full_backlog_answers_every_request_200_or_503(start_server):
    server = start_server(TSD_PRESET="smollm2-135m", TSD_MAX_IN_FLIGHT="4", TSD_MAX_NUM_SEQS="8",
                          TSD_DRAIN_SECONDS="10")
    warm = httpx.post(f"{server.url}/describe", json={"series": ornstein_uhlenbeck(seed=2)}, timeout=120)
    assert warm.status_code == 200
    stop, outcomes = threading.Event(), []
    threads = load(server.url, 48, stop, outcomes, per_user=1)
    time.sleep(4)
    server.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=120)
    statuses = [o[0] for o in outcomes]
    print(f"SIGTERM with 48 requests against 4 places, 10 s drain: {sorted((s, statuses.count(s)) for s in set(statuses))}")
    assert server.process.wait(timeout=60) == 0
    assert len(statuses) == 48 and set(statuses) <= {200, 503}, statuses
    assert statuses.count(503) > 0  # the queue was answered at once, not left to time out
