"""What a second engine needs in memory, and what this container may still use: a merge-mode swap loads the new
version beside the running one, and is refused when the two would not fit (instead of the process being killed)."""

from __future__ import annotations

from pathlib import Path

GIB = 2**30
ENGINE_OVERHEAD_BYTES = int(1.5 * GIB)  # an engine core's runtime beside weights and KV cache (measured, deploy.md)
CGROUP_UNLIMITED = "max"


def weights_bytes(model_dir: str | Path, dtype: str) -> int:
    """Bytes of the model's weights as the engine holds them (float32 doubles a bf16 checkpoint)."""
    files = list(Path(model_dir).glob("*.safetensors")) if Path(model_dir).is_dir() else []
    on_disk = sum(f.stat().st_size for f in files)
    return on_disk * 2 if dtype in ("float32", "float") else on_disk


def engine_bytes(model_dir: str | Path, dtype: str, kv_cache_gib: float) -> int:
    """Memory one more CPU engine of this model takes: weights, KV cache and the engine's runtime."""
    return weights_bytes(model_dir, dtype) + int(kv_cache_gib * GIB) + ENGINE_OVERHEAD_BYTES


def cgroup_headroom(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes left under this container's cgroup v2 memory limit (None: no limit set or not visible)."""
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == CGROUP_UNLIMITED:
            return None
        return int(limit) - int((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def available_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The kernel's MemAvailable (None when unreadable)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def headroom(limit_bytes: int | None, used_bytes: int) -> int | None:
    """What may still be allocated: under an operator's limit if set, else under the cgroup's, else the host's."""
    if limit_bytes is not None:
        return limit_bytes - used_bytes
    for measured in (cgroup_headroom(), available_bytes()):
        if measured is not None:
            return measured
    return None


def process_tree_pss(pid: int | None = None) -> int:
    """Proportional resident bytes of this process and its children (the engine core and worker run in them);
    PSS, not RSS, so that the libraries they share are not counted once per process."""
    import psutil

    def pss(process) -> int:
        try:
            return process.memory_full_info().pss
        except (psutil.AccessDenied, AttributeError):
            return process.memory_info().rss
        except psutil.Error:
            return 0

    process = psutil.Process(pid)
    return pss(process) + sum(pss(child) for child in process.children(recursive=True))
