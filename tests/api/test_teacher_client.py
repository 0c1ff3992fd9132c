"""The OpenAI-compatible teacher client against a real local HTTP server: 429, timeouts, cache, resume."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from training.teachers import OpenAITeacher, TeacherConfig, TeacherError

ANSWER = {"trend": "The time series shows an increasing trend.", "noise": "The noise intensity is low.",
          "extrema": "The global maximum is located at the end, and the global minimum at the beginning."}


class ScriptedTeacher(BaseHTTPRequestHandler):
    script: list = []
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append({"body": body, "auth": self.headers.get("authorization")})
        action = type(self).script.pop(0) if type(self).script else "ok"
        if action == "429":
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        if action == "500":
            self.send_response(500)
            self.end_headers()
            return
        if action == "slow":
            time.sleep(1.5)
        reply = {"choices": [{"message": {"content": "```json\n" + json.dumps(ANSWER) + "\n```"}}],
                 "usage": {"prompt_tokens": 900, "completion_tokens": 60}}
        if action == "null":
            reply = {"choices": [{"message": {"content": None}}]}
        if action == "error200":
            reply = {"error": {"message": "upstream model overloaded"}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def teacher_server():
    ScriptedTeacher.script, ScriptedTeacher.requests = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedTeacher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def teacher(url, tmp_path, **overrides):
    config = TeacherConfig(base_url=url, model="pixtral-large", timeout_s=0.5, backoff_s=0.01, max_retries=3, **overrides)
    return OpenAITeacher(config, tmp_path / "cache")


LEVELS = [i * 99 // 127 for i in range(128)]


async def test_retries_429_and_timeouts_then_answers(teacher_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TEACHER_API_KEY", "sk-test")
    ScriptedTeacher.script = ["429", "slow", "500", "ok"]
    t = teacher(teacher_server, tmp_path)
    description = await t.describe(LEVELS, image=b"\x89PNG fake")
    await t.close()
    assert description.trend == ANSWER["trend"]
    assert t.usage.retries == 3 and t.usage.failures == 0
    assert t.usage.prompt_tokens == 900
    sent = ScriptedTeacher.requests[-1]
    assert sent["auth"] == "Bearer sk-test"
    content = sent["body"]["messages"][0]["content"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert content[1]["text"].startswith("Describe the time series") and "Series: [00, 00, 01" in content[1]["text"]
    assert sent["body"]["response_format"]["type"] == "json_schema"


async def test_cache_makes_a_rerun_free(teacher_server, tmp_path):
    t = teacher(teacher_server, tmp_path)
    await t.describe(LEVELS, None)
    await t.close()
    again = teacher(teacher_server, tmp_path)
    await again.describe(LEVELS, None)
    await again.close()
    assert len(ScriptedTeacher.requests) == 1 and again.usage.cached == 1


async def test_gives_up_after_the_retry_budget(teacher_server, tmp_path):
    ScriptedTeacher.script = ["429"] * 10
    t = teacher(teacher_server, tmp_path)
    with pytest.raises(TeacherError, match="HTTP 429"):
        await t.describe(LEVELS, None)
    await t.close()
    assert len(ScriptedTeacher.requests) == 4 and t.usage.failures == 1


async def test_concurrency_is_bounded(teacher_server, tmp_path):
    t = teacher(teacher_server, tmp_path, concurrency=2)
    levels = [[(i + k) % 100 for i in range(128)] for k in range(6)]
    await asyncio.gather(*(t.describe(lv, None) for lv in levels))
    await t.close()
    assert len(ScriptedTeacher.requests) == 6
    assert t.semaphore._value == 2


async def test_malformed_replies_are_failed_items_and_the_run_goes_on(teacher_server, tmp_path):
    from training.annotate import annotate_openai
    from training.rundir import RunDir

    run = RunDir(tmp_path / "run")
    run.write_jsonl("series.jsonl", [{"id": f"s{k}", "family": "ou", "values": [float((i * (k + 2)) % 17)
                                                                               for i in range(64)]} for k in range(3)])
    ScriptedTeacher.script = ["null", "error200", "ok"]
    config = TeacherConfig(base_url=teacher_server, model="m", timeout_s=2, backoff_s=0.01, max_retries=0,
                           concurrency=1)
    records, usage = await annotate_openai(run, config, None)
    failures = list(run.read_jsonl("teacher_failures.jsonl"))
    assert len(records) == 1 and usage["failed_items"] == 2
    reasons = " ".join(f["reason"] for f in failures)
    assert "None, not text" in reasons and "upstream model overloaded" in reasons
    again, usage = await annotate_openai(run, config, None)  # the rerun resumes: nothing crashes, failures retried
    assert len(again) == 3 and usage["failed_items"] == 0 and usage["cached"] == 1
