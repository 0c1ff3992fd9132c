"""The dtype rule: bf16 only where the CPU multiplies it natively."""

from service.cpu import (
    bf16_label,
    cpuinfo_flags,
    cpuinfo_model,
    cpuinfo_vendor,
    native_bf16,
    resolve_dtype,
    torch_dtype_name,
)

EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx avx2 fma bmi2
"""
SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16 amx_int8
"""
EMERALD_RAPIDS_NO_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni
"""
ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu avx2 avx512f avx512_bf16
"""


def test_flags_and_model_are_read_from_cpuinfo():
    assert "avx2" in cpuinfo_flags(EPYC_AVX2)
    assert "amx_bf16" in cpuinfo_flags(SAPPHIRE_RAPIDS)
    assert cpuinfo_model(SAPPHIRE_RAPIDS) == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpuinfo_flags("") == frozenset() and cpuinfo_model("") == "unknown"


def test_native_bf16_needs_avx512_bf16_or_amx_on_x86():
    assert not native_bf16(cpuinfo_flags(EPYC_AVX2), "x86_64", cpuinfo_vendor(EPYC_AVX2))
    assert native_bf16(cpuinfo_flags(SAPPHIRE_RAPIDS), "x86_64", cpuinfo_vendor(SAPPHIRE_RAPIDS))
    assert native_bf16(cpuinfo_flags(ZEN4), "x86_64", cpuinfo_vendor(ZEN4))  # Zen 4: bf16 stepped fast without AMX
    assert native_bf16(frozenset({"avx512f", "avx512_bf16"}), "x86_64")
    assert not native_bf16(frozenset({"avx512f", "avx512_vnni"}), "x86_64")
    assert native_bf16(frozenset(), "aarch64")  # not measured there: bf16 left as the model's dtype


def test_an_intel_cpu_needs_amx_for_bf16():
    """Intel with AVX-512 BF16 but no AMX fine-tuned 1.4x and served 1.3-1.5x faster in float32 (docs/performance.md)."""
    assert cpuinfo_vendor(EMERALD_RAPIDS_NO_AMX) == "GenuineIntel" and cpuinfo_vendor("") == ""
    assert not native_bf16(cpuinfo_flags(EMERALD_RAPIDS_NO_AMX), "x86_64", "GenuineIntel")
    assert resolve_dtype("auto", on_cpu=True, bf16_native=native_bf16(
        cpuinfo_flags(EMERALD_RAPIDS_NO_AMX), "x86_64", "GenuineIntel")) == "float32"


def test_auto_is_float32_only_on_a_cpu_without_native_bf16():
    assert resolve_dtype("auto", on_cpu=True, bf16_native=False) == "float32"
    assert resolve_dtype("auto", on_cpu=True, bf16_native=True) == "auto"
    assert resolve_dtype("auto", on_cpu=False, bf16_native=False) == "auto"  # GPU: the model's own dtype
    assert resolve_dtype("bfloat16", on_cpu=True, bf16_native=False) == "bfloat16"  # an explicit choice stands
    assert resolve_dtype("float16", on_cpu=True, bf16_native=True) == "float16"


def test_auto_loads_weights_in_the_checkpoints_bf16():
    assert torch_dtype_name("auto") == "bfloat16" and torch_dtype_name("float32") == "float32"


def test_bf16_label_names_the_flags_and_whether_the_dtype_rule_calls_them_fast():
    assert bf16_label({"native_bf16": True, "bf16_flags": ["amx_bf16", "avx512_bf16"]}) == "fast bf16 (amx_bf16, avx512_bf16)"
    assert bf16_label({"native_bf16": False, "bf16_flags": ["avx512_bf16"]}) == "bf16 not fast (avx512_bf16)"
    assert bf16_label({"native_bf16": False, "bf16_flags": []}) == "no bf16 instructions"
    assert bf16_label({"native_bf16": True}) == "fast bf16"  # an older result without the flags
