"""Which int8 dot-product instructions the CPU has, as the demo's choice of precision reads them."""

import pytest

from repvsr_deploy.runtime import cpu_features


@pytest.fixture(autouse=True)
def uncached():
    cpu_features.int8_dot_product.cache_clear()
    yield
    cpu_features.int8_dot_product.cache_clear()


@pytest.mark.fast
@pytest.mark.parametrize(
    "flags, named",
    [
        ({"avx2", "avx512f", "avx512_vnni", "amx_int8", "amx_tile"}, "AMX"),
        ({"avx2", "avx512f", "avx512_vnni"}, "AVX-512 VNNI"),
        ({"avx2", "avx_vnni"}, "AVX-VNNI"),
        ({"avx2", "fma"}, None),
    ],
)
def test_linux_flags_name_the_best_instructions(monkeypatch, flags, named):
    monkeypatch.setattr(cpu_features, "_linux_cpu_flags", lambda: flags)
    assert cpu_features.int8_dot_product() == named


@pytest.mark.fast
@pytest.mark.parametrize("vnni, named", [(True, "AVX-512 VNNI"), (False, None)])
def test_elsewhere_numpys_dispatch_table_tells(monkeypatch, vnni, named):
    monkeypatch.setattr(cpu_features, "_linux_cpu_flags", lambda: None)
    monkeypatch.setattr(cpu_features, "_numpy_cpu_features", lambda: {"AVX2": True, "AVX512VNNI": vnni})
    assert cpu_features.int8_dot_product() == named


@pytest.mark.fast
def test_this_machine_is_read_without_error():
    assert cpu_features.int8_dot_product() in ("AMX", "AVX-512 VNNI", "AVX-VNNI", None)
    assert isinstance(cpu_features._numpy_cpu_features(), dict)
