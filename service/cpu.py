"""The host CPU's number formats: bf16 is fast only where the CPU multiplies it natively (AVX-512 BF16 or AMX).

Measured (docs/performance.md, "dtype by CPU"): on an AVX2-only AMD EPYC the raw vLLM engine serves 5.6x more series
per second in float32 than in bf16 and transformers `generate` is 1.9x faster; on the machines with native bf16 that
the earlier benchmarks ran on, bf16 was the faster one (float32 −65%). On an Intel Xeon with AVX-512 BF16 but without
AMX, float32 was the faster one (LoRA step 1.4x, engine under load 1.3-1.5x; "An Intel CPU ... without AMX"), while
AMD Zen 4 with AVX-512 BF16 alone stepped fast in bf16: on Intel it takes AMX.
"""

from __future__ import annotations

import platform
from functools import cache

NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpuinfo_value(cpuinfo: str, keys: tuple[str, ...]) -> str | None:
    """The first processor's value for one of keys in a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value.strip()
    return None


def cpuinfo_flags(cpuinfo: str) -> frozenset[str]:
    """The ISA flags of the first processor in a /proc/cpuinfo text."""
    return frozenset((cpuinfo_value(cpuinfo, ("flags", "Features")) or "").split())


def cpuinfo_model(cpuinfo: str) -> str:
    """The processor's model name in a /proc/cpuinfo text ('unknown' when it has none)."""
    return cpuinfo_value(cpuinfo, ("model name",)) or "unknown"


def cpuinfo_vendor(cpuinfo: str) -> str:
    """The processor's vendor id in a /proc/cpuinfo text ('' when it has none)."""
    return cpuinfo_value(cpuinfo, ("vendor_id",)) or ""


def native_bf16(flags: frozenset[str], machine: str, vendor: str = "") -> bool:
    """True where bf16 matmuls run fast: Intel x86 with AMX, other x86 with AVX-512 BF16 or AMX; other
    architectures are left to bf16."""
    if machine not in ("x86_64", "AMD64", "i386", "i686"):
        return True
    if vendor == "GenuineIntel":
        return "amx_bf16" in flags
    return bool(flags & NATIVE_BF16_FLAGS)


def bf16_label(cpu: dict) -> str:
    """How a report names a CPU's bf16: fast or not by the dtype rule, with the bf16 flags it has."""
    flags = cpu.get("bf16_flags") or []
    speed = "fast bf16" if cpu.get("native_bf16") else "bf16 not fast"
    if not flags:
        return speed if cpu.get("native_bf16") else "no bf16 instructions"
    return f"{speed} ({', '.join(flags)})"


def resolve_dtype(requested: str, on_cpu: bool, bf16_native: bool) -> str:
    """The dtype to load: an explicit choice as given; 'auto' on a CPU without native bf16 is float32."""
    if requested == "auto" and on_cpu and not bf16_native:
        return "float32"
    return requested


def torch_dtype_name(dtype: str) -> str:
    """The torch dtype to load weights in: 'auto' means the checkpoints' own, bf16."""
    return "bfloat16" if dtype == "auto" else dtype


@cache
def host_cpu() -> dict[str, object]:
    """This machine's CPU: model name, whether it multiplies bf16 natively, and the flags that decide it."""
    try:
        with open("/proc/cpuinfo") as file:
            text = file.read()
    except OSError:
        text = ""
    flags = cpuinfo_flags(text)
    machine = platform.machine()
    vendor = cpuinfo_vendor(text)
    return {"model": cpuinfo_model(text), "vendor": vendor, "machine": machine,
            "native_bf16": native_bf16(flags, machine, vendor),
            "bf16_flags": sorted(flags & NATIVE_BF16_FLAGS)}


def cpu_dtype(requested: str, on_cpu: bool = True) -> str:
    """resolve_dtype for this machine's CPU."""
    return resolve_dtype(requested, on_cpu, bool(host_cpu()["native_bf16"]))
