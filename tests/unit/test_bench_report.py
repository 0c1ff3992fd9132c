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
    assert ratios(sample_rows(), [3.0, 9.0, 5.0])["paired_p50_difference_ms_at_1"] == 5.0
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


def test_service_overhead_is_reported_beside_the_latency():
    r = row("service /describe (HTTP)", 1, [1.0, 1.1], 2.1, [430, 430], [50, 50], [0.002, 0.004, 0.003])
    assert r.overhead_p50_ms == 3.0


def test_paired_runs_alternate_which_mode_goes_first():
    from loadtests.bench import paired_order

    orders = [paired_order(i, "raw", "service") for i in range(4)]
    assert orders == [["raw", "service"], ["service", "raw"], ["raw", "service"], ["service", "raw"]]
