"""The benchmark's pure parts: rows, ratios against the targets, and the report block it rewrites in place."""

from loadtests.bench import BEGIN, END, markdown, ratios, row, write_report


def sample_rows():
    return [
        row("raw vLLM engine", 1, [1.0, 1.0, 1.2], 3.2, [440] * 3, [50] * 3),
        row("raw vLLM engine", 32, [2.0] * 64, 10.0, [440] * 64, [50] * 64),
        row("service /describe (HTTP)", 1, [1.004, 1.004, 1.2], 3.3, [440] * 3, [50] * 3, [0.003, 0.004, 0.005]),
        row("service /describe (HTTP)", 32, [2.1] * 64, 10.5, [440] * 64, [50] * 64),
        row("notebook (transformers generate)", 1, [5.0, 5.0], 10.0, [440] * 2, [50] * 2),
    ]


def test_row_summarises_latency_and_throughput():
    r = row("x", 8, [0.1, 0.2, 0.3, 0.4], 2.0, [10, 20, 30, 40], [5, 5, 5, 5])
    assert r.requests_per_s == 2.0 and r.output_tokens_per_s == 10.0
    assert r.p50_ms == 250.0 and r.prompt_tokens == 25.0


def test_ratios_compare_the_same_concurrency_and_the_notebook():
    got = ratios(sample_rows())
    assert got["service_vs_raw_throughput_at_32"] == 0.952
    assert got["added_p50_ms_at_1"] == 4.0 and got["p50_difference_ms_at_1"] == 4.0
    assert "paired_p50_difference_ms_at_1" not in got
    paired = ratios(sample_rows(), {"paired_difference_ms": [3.0, 9.0, 5.0], "engine_time_ratio": 1.01})
    assert paired["paired_p50_difference_ms_at_1"] == 5.0 and paired["engine_time_ratio_at_1"] == 1.01
    low, high = paired["paired_p50_difference_interval_ms"]
    assert 3.0 <= low <= 5.0 <= high <= 9.0
    assert got["service_at_32_vs_notebook_throughput"] == round((64 / 10.5) / 0.2, 1)


def test_report_block_is_replaced_not_duplicated(tmp_path):
    rows = [r.__dict__ for r in sample_rows()]
    result = {"date": "d", "model": "m", "served_path": "p", "cpus": 2, "command": "make bench", "rows": rows,
              "ratios": ratios(sample_rows())}
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nintro\n")
    write_report(result, doc)
    write_report({**result, "date": "e"}, doc)
    text = doc.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and "Run e" in text and "Run d" not in text
    assert "intro" in text and "| notebook (transformers generate) | 1 | 2 |" in markdown(result)
    cpu = {"model": "AMD EPYC", "native_bf16": False, "bf16_flags": []}
    assert "2 CPUs (AMD EPYC, no bf16 instructions; dtype float32)" in markdown({**result, "cpu": cpu, "dtype": "float32"})
    xeon = {"model": "Intel Xeon", "native_bf16": False, "bf16_flags": ["avx512_bf16"]}  # no AMX: float32 is faster
    assert "(Intel Xeon, bf16 not fast (avx512_bf16); dtype float32)" in markdown({**result, "cpu": xeon, "dtype": "float32"})


def test_engine_tuning_table_has_one_line_per_variant_and_shows_failures(tmp_path):
    from loadtests import engine_tuning

    ok = {"variant": "no-prefix-cache", "settings": {"TSD_ENABLE_PREFIX_CACHING": "false"}, "wall_s": 61.0,
          "rows": [r.__dict__ for r in sample_rows()[:2]]}
    failed = {"variant": "compiled", "error": "RuntimeError: inductor failed"}
    text = engine_tuning.markdown([ok, failed], "cmd")
    assert "| no-prefix-cache | enable_prefix_caching=false | 6.40 | 320 | 2000 | 1000 | 61 |" in text
    assert "| compiled |" in text and "failed: RuntimeError: inductor failed" in text
    doc = tmp_path / "performance.md"
    engine_tuning.write_report(text, doc)
    engine_tuning.write_report(text, doc)
    assert doc.read_text().count(engine_tuning.BEGIN) == 1


def test_workload_gives_every_request_its_own_series_and_every_mode_the_same_ones():
    from loadtests.bench import engine_ms, workload

    series = [[float(i)] for i in range(4 + 2 + 3)]
    warmup, runs = workload(series, {1: 2, 32: 3})
    assert warmup == series[:4] and runs == {1: series[4:6], 32: series[6:9]}
    assert engine_ms("engine;dur=812.50, describe;dur=815.10") == 812.5


def test_server_timing_is_read_part_by_part_and_the_app_time_merges_into_one_header():
    from loadtests.bench import timings_ms
    from service.app import with_app_timing

    headers = with_app_timing([(b"content-type", b"application/json"),
                               (b"server-timing", b"engine;dur=812.50, describe;dur=815.10")], 0.81734)
    assert [name for name, _ in headers] == [b"content-type", b"server-timing"]
    assert timings_ms(headers[1][1].decode()) == {"engine": 812.5, "describe": 815.1, "app": 817.34}
    assert with_app_timing([], 0.0012) == [(b"server-timing", b"app;dur=1.20")]


def test_service_overhead_is_reported_beside_the_latency():
    r = row("service /describe (HTTP)", 1, [1.0, 1.1], 2.1, [430, 430], [50, 50], [0.002, 0.004, 0.003])
    assert r.overhead_p50_ms == 3.0


def test_paired_runs_alternate_which_mode_goes_first():
    from loadtests.bench import paired_order

    orders = [paired_order(i, "raw", "service") for i in range(4)]
    assert orders == [["raw", "service"], ["service", "raw"], ["raw", "service"], ["service", "raw"]]


def test_median_interval_is_wide_for_noisy_differences_and_narrow_for_steady_ones():
    from loadtests.bench import median_interval

    noisy = median_interval([-900.0, 400.0, -500.0, 300.0, 170.0, -270.0, 460.0, 160.0] * 2)
    steady = median_interval([5.0, 5.2, 4.9, 5.1, 5.0, 4.8] * 3)
    assert noisy[1] - noisy[0] > 300 and steady[1] - steady[0] < 0.5 and steady[0] <= 5.0 <= steady[1]


def test_rounds_split_the_batch_and_spread_the_notebook_series():
    from loadtests.bench import round_shares

    shares = round_shares(list(range(64)), 32, ["a", "b", "c", "d"])
    assert len(shares) == 2 and shares[0]["raw vLLM engine"] == list(range(32))
    assert shares[1]["service /describe (HTTP)"] == list(range(32, 64))
    assert shares[0]["notebook (transformers generate)"] == ["a", "c"]


async def test_interleaved_rounds_alternate_the_engines_and_add_up_each_mode():
    import asyncio

    from loadtests.bench import interleaved_rounds

    calls = []

    class Mode:
        def __init__(self, name):
            self.name = name

        def job(self, value):
            async def run():
                calls.append(self.name)
                await asyncio.sleep(0)
                return 10, value
            return run

    modes = [("raw", Mode("raw"), 2), ("service", Mode("service"), 2), ("notebook", Mode("notebook"), 1)]
    rounds = [{"raw": [1, 1], "service": [1, 1], "notebook": [3]}, {"raw": [2, 2], "service": [2, 2], "notebook": [3]}]
    rows = await interleaved_rounds(modes, rounds, cooldown_s=0)
    assert calls == ["raw"] * 2 + ["service"] * 2 + ["notebook"] + ["service"] * 2 + ["raw"] * 2 + ["notebook"]
    assert [r.requests for r in rows] == [4, 4, 2] and rows[0].completion_tokens == 1.5


def test_added_latency_splits_client_time_into_http_and_app_work():
    from loadtests.added_latency import markdown
    from loadtests.bench import split_added_ms as split
    from loadtests.bench import timings_ms

    http_ms, app_ms = split(12.5, timings_ms("engine;dur=6.00, describe;dur=7.50, app;dur=9.25"))
    assert (round(http_ms, 2), round(app_ms, 2)) == (3.25, 3.25)
    table = markdown({"date": "d", "requests": 2, "setups": {"uvloop server, httpx client":
                      {"http_p50_ms": 3.25, "app_p50_ms": 3.25, "added_p50_ms": 6.5}}})
    assert "| uvloop server, httpx client | 3.25 | 3.25 | 6.5 |" in table
