"""The soak/overload report table is rewritten in place, one row per run."""

from loadtests.soak import BEGIN, END, write_doc


def test_reliability_table_keeps_the_prose_and_lists_every_run(tmp_path):
    doc = tmp_path / "reliability.md"
    doc.write_text("# Reliability\n\nHow we measured.\n")
    run = {"date": "d", "mode": "soak", "rate": 2.0, "duration_s": 600.0, "sent": 1200, "statuses": {"200": 1200},
           "errors_5xx_or_transport": 0, "accepted_p50_ms": 900.0, "accepted_p99_ms": 2100.0, "unloaded_p99_ms": None,
           "rss_mb_first_last_max": [3000.0, 3010.0, 3050.0]}
    write_doc([run], doc)
    write_doc([run, {**run, "mode": "overload", "statuses": {"200": 300, "429": 900}}], doc)
    text = doc.read_text()
    assert "How we measured." in text and text.count(BEGIN) == 1 and text.count(END) == 1
    assert "| d | soak | 2.0 | 600 | 1200 |" in text and "'429': 900" in text
    assert "3000.0 → 3010.0 (3050.0)" in text
