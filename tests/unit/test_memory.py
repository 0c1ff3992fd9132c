"""The memory arithmetic behind refusing a merge-mode swap."""

from service import memory


def test_engine_bytes_counts_weights_in_the_served_dtype_kv_cache_and_runtime(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 1000)
    assert memory.weights_bytes(tmp_path, "bfloat16") == 1000
    assert memory.weights_bytes(tmp_path, "float32") == 2000
    assert memory.engine_bytes(tmp_path, "bfloat16", 1) == 1000 + memory.GIB + memory.ENGINE_OVERHEAD_BYTES


def test_headroom_prefers_the_operators_limit_then_the_cgroups(tmp_path, monkeypatch):
    assert memory.headroom(10 * memory.GIB, 3 * memory.GIB) == 7 * memory.GIB
    (tmp_path / "memory.max").write_text("2147483648\n")
    (tmp_path / "memory.current").write_text("1073741824\n")
    assert memory.cgroup_headroom(tmp_path) == memory.GIB
    (tmp_path / "memory.max").write_text("max\n")
    assert memory.cgroup_headroom(tmp_path) is None
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100 kB\nMemAvailable:   2048 kB\n")
    assert memory.available_bytes(meminfo) == 2048 * 1024
