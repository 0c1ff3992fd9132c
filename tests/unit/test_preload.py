"""The LD_PRELOAD measurement's variants and report."""

from loadtests import preload


def test_variants_add_tcmalloc_then_intel_openmp_and_leave_vllms_default_first():
    chosen = preload.variants({"tcmalloc": "/usr/lib/x/libtcmalloc_minimal.so.4", "iomp5": "/v/lib/libiomp5.so"})
    assert list(chosen.values()) == ["", "/usr/lib/x/libtcmalloc_minimal.so.4",
                                     "/usr/lib/x/libtcmalloc_minimal.so.4:/v/lib/libiomp5.so"]
    assert len(preload.variants({"tcmalloc": None, "iomp5": None})) == 1


def test_the_report_replaces_its_own_block(tmp_path):
    result = {"date": "d", "cpu": {"model": "m", "native_bf16": False}, "dtype": "float32", "requests": 32, "reps": 1,
              "rounds": 1, "command": "c", "variants": {
                  "none": {"median_series_per_s": 1.0, "median_output_tokens_per_s": 50, "all": [1.0]},
                  "tcmalloc": {"median_series_per_s": 1.2, "median_output_tokens_per_s": 60, "all": [1.2]}}}
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n")
    preload.write_report(result, doc)
    preload.write_report(result, doc)
    text = doc.read_text()
    assert text.count(preload.BEGIN) == 1 and "| tcmalloc | 1.20 (rounds 1.20) | 60 | 1.20× |" in text
