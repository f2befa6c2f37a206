"""The TensorRT path's logic that needs no GPU: profiles, the engine cache key, refusals, progress."""

import json

import pytest

from repvsr_deploy.errors import ReportedError
from repvsr_deploy.modelinfo import GraphKind, ModelInfo, StateSpec, TensorSpec
from repvsr_deploy.trt.builder import PhaseBars, default_timing_cache, engine_paths
from repvsr_deploy.trt.cache import BuildKey, Sidecar, check_host_code, check_runs_here, read_sidecar, sidecar_path
from repvsr_deploy.trt.profiles import Profile, graph_inputs, input_shapes, parse_profiles, select_profile


def test_profiles_from_names_and_sizes_smallest_first():
    profiles = parse_profiles("4k, 720p,1080p, 500x200")
    assert [(p.name, p.lr_hw) for p in profiles] == [
        ("720p", (180, 320)),
        ("500x200", (200, 500)),
        ("1080p", (270, 480)),
        ("4k", (540, 960)),
    ]


def test_profiles_round_up_to_the_size_multiple_and_refuse_nonsense():
    assert parse_profiles("33x17", size_multiple=8)[0].lr_hw == (24, 40)
    with pytest.raises(ReportedError, match="'8k' is neither 720p, 1080p, 4k nor an LR size"):
        parse_profiles("720p,8k")


def test_nested_profile_shapes_per_input():
    state_hr = TensorSpec("state_hr", 3, 4)
    assert input_shapes(state_hr, Profile("720p", (180, 320)), min_size=8) == (
        (1, 3, 32, 32),
        (1, 3, 720, 1280),
        (1, 3, 720, 1280),
    )


def test_a_profile_for_streams_takes_one_to_that_many_and_is_tuned_for_all():
    lr = TensorSpec("lr", 3, 1)
    assert input_shapes(lr, Profile("720p", (180, 320)), min_size=8, streams=4) == (
        (1, 3, 8, 8),
        (4, 3, 180, 320),
        (4, 3, 180, 320),
    )


def test_a_frame_goes_to_the_smallest_profile_that_holds_it():
    profiles = parse_profiles("720p,1080p,4k")
    assert select_profile(profiles, (180, 320), "e.plan") == 0
    assert select_profile(profiles, (200, 300), "e.plan") == 1
    assert select_profile(profiles, (540, 960), "e.plan") == 2
    with pytest.raises(ReportedError, match="a 1000x600 frame is larger than its largest profile, 4k"):
        select_profile(profiles, (600, 1000), "e.plan")


def test_graph_inputs_take_scales_from_the_metadata(exported):
    import onnx

    _, path = exported("repvsr")
    graph = onnx.load(path)
    info = ModelInfo.from_metadata({p.key: p.value for p in graph.metadata_props}, "g")
    assert graph_inputs(graph, info) == [
        TensorSpec("lr", 3, 1),
        TensorSpec("state_lr_prev", 3, 1),
        TensorSpec("state_hr_prev", 3, 4),
    ]


def key(**changes) -> BuildKey:
    fields = dict(
        flavor="tensorrt",
        library="10.13.0",
        gpu="NVIDIA H100",
        compute_capabilities=("9.0",),
        onnx_sha256="ab" * 32,
        precision="fp16",
        profiles=(("720p", 180, 320),),
        opt_level=3,
        workspace_gib=None,
        version_compatible=False,
    )
    return BuildKey(**{**fields, **changes})


def rtx_key(**changes) -> BuildKey:
    return key(flavor="rtx", library="1.7.1.116", gpu="", **{"compute_capabilities": (), **changes})


def test_build_key_says_what_changed():
    assert key().differences(key()) == []
    assert key().differences(key(precision="fp32", library="11.0.0")) == [
        "library: 10.13.0 -> 11.0.0",
        "precision: fp16 -> fp32",
    ]
    assert key().target() == "NVIDIA H100 (compute capability 9.0)"
    assert rtx_key().target() == "TensorRT for RTX's default set of compute capabilities"
    assert rtx_key(compute_capabilities=("8.6", "8.9")).target() == "compute capabilities 8.6, 8.9"


def test_sidecar_round_trip(tmp_path):
    info = ModelInfo("ksnet-bi", 4, 1, 33, (StateSpec("x_prev", 3, 1),), graph=GraphKind.FORWARD)
    sidecar = Sidecar(key(), info.to_metadata(), ("repvsr::FlowGuidedDeformConv",), "2026-11-21T10:00:00")
    engine = tmp_path / "k.plan"
    sidecar_path(engine).write_text(sidecar.to_json())
    assert sidecar_path(engine).name == "k.plan.json"
    assert read_sidecar(engine) == sidecar and read_sidecar(engine).info == info
    older = json.loads(sidecar.to_json())
    del older["key"]["streams"]  # written before engines took batches of streams: one stream
    sidecar_path(engine).write_text(json.dumps(older))
    assert read_sidecar(engine).key.streams == 1
    for text in (json.dumps({"key": {}}), "[1, 2]", "{not json"):
        (tmp_path / "bad.plan.json").write_text(text)
        with pytest.raises(ReportedError, match="bad.plan.json: not a repvsr-trt engine sidecar"):
            read_sidecar(tmp_path / "bad.plan")


def test_an_engine_from_another_gpu_or_tensorrt_is_refused():
    check_runs_here("e.plan", key(), "NVIDIA H100", "9.0", "10.13.0")
    with pytest.raises(
        ReportedError,
        match="built for NVIDIA H100 \\(compute capability 9.0\\), this machine has "
        "NVIDIA L4 \\(8.9\\); rebuild it with repvsr-trt build --flavor tensorrt here",
    ):
        check_runs_here("e.plan", key(), "NVIDIA L4", "8.9", "10.13.0")
    with pytest.raises(
        ReportedError, match="built with TensorRT 10.13.0, this machine has 10.14.1; .*--version-compatible"
    ):
        check_runs_here("e.plan", key(), "NVIDIA H100", "9.0", "10.14.1")
    check_runs_here("e.plan", key(version_compatible=True), "NVIDIA H100", "9.0", "10.14.1")


def test_an_rtx_engine_runs_on_any_gpu_of_its_capabilities():
    check_runs_here("e.plan", rtx_key(), "NVIDIA GeForce RTX 3080", "8.6", "1.7.1.116")
    check_runs_here("e.plan", rtx_key(compute_capabilities=("8.6", "8.9")), "NVIDIA L4", "8.9", "1.7.1.116")
    with pytest.raises(
        ReportedError,
        match="built for compute capabilities 8.6, 8.9; this GPU, NVIDIA H100, has 9.0: "
        "rebuild it with repvsr-trt build --flavor rtx --compute-capability 9.0",
    ):
        check_runs_here("e.plan", rtx_key(compute_capabilities=("8.6", "8.9")), "NVIDIA H100", "9.0", "1.7.1.116")
    with pytest.raises(
        ReportedError,
        match="built with TensorRT for RTX 1.7.1.116, this machine has 1.8.0.1; "
        "rebuild it with repvsr-trt build --flavor rtx$",
    ):
        check_runs_here("e.plan", rtx_key(), "NVIDIA L4", "8.9", "1.8.0.1")


def test_version_compatible_engines_need_the_trust_flag():
    check_host_code("e.plan", key(), trust_host_code=False)
    check_host_code("e.plan", key(version_compatible=True), trust_host_code=True)
    with pytest.raises(ReportedError, match="carries executable host code.*trust_host_code="):
        check_host_code("e.plan", key(version_compatible=True), trust_host_code=False)


def test_a_bidirectional_graph_builds_its_backward_engine_first(tmp_path):
    info = ModelInfo("ksnet-bi", 4, 1, 33, (), graph=GraphKind.FORWARD)
    assert engine_paths(tmp_path / "k.onnx", info, tmp_path / "k.plan") == [
        (tmp_path / "k.backward.onnx", tmp_path / "k.backward.plan"),
        (tmp_path / "k.onnx", tmp_path / "k.plan"),
    ]
    with pytest.raises(ReportedError, match="a backward graph; build its forward graph"):
        engine_paths(
            tmp_path / "k.backward.onnx", ModelInfo("ksnet-bi", 4, 1, 33, (), graph=GraphKind.BACKWARD), tmp_path / "x"
        )


def test_a_sidecar_of_another_flavour_round_trips(tmp_path):
    sidecar = Sidecar(rtx_key(compute_capabilities=("8.6",)), ModelInfo("repvsr", 4, 1, 8, ()).to_metadata())
    sidecar_path(tmp_path / "r.plan").write_text(sidecar.to_json())
    assert read_sidecar(tmp_path / "r.plan").key == sidecar.key


def test_timing_cache_per_gpu_and_version(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = default_timing_cache("10.13.0", "NVIDIA H100 80GB HBM3", "9.0")
    assert path == tmp_path / "repvsr-deploy" / "tensorrt-10.13.0-nvidia-h100-80gb-hbm3-sm90.timing"


def test_build_phases_as_progress_bars():
    bars = PhaseBars(shown=True)
    bars.phase_start("Building engine", None, 3)
    bars.phase_start("Tactics", "Building engine", 10)
    assert bars.step_complete("Tactics", 4) is True
    assert bars._bars["Tactics"].n == 5
    bars.phase_finish("Tactics")
    bars.phase_finish("Building engine")
    assert not bars._bars


def test_one_probe_finds_cuda_python_in_either_layout(monkeypatch):
    """cuda-python before 12.6 has `cuda.cudart`, later `cuda.bindings.runtime`: the probe that
    `repvsr-trt check` reports and the one the runtime uses are the same."""
    import sys
    import types

    from repvsr_deploy.trt import cuda, probe

    old_layout = types.ModuleType("cuda.cudart")
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)  # import fails
    monkeypatch.setitem(sys.modules, "cuda.cudart", old_layout)
    assert cuda.runtime() is old_layout and probe().cuda_python is not None
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))  # a package with neither
    monkeypatch.delitem(sys.modules, "cuda.cudart")
    assert probe().cuda_python is None


def test_gpu_extras_per_cuda_generation():
    """Each extra's TensorRT and cuda-python are of one CUDA generation (a CUDA 12 driver cannot run
    CUDA 13 builds), and the floors are what the code needs: as installed, in the package's metadata."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    extras: dict[str, set[tuple[str, str]]] = {}
    for requirement in map(Requirement, requires("repvsr-deploy")):
        for extra in ("gpu", "gpu-cu12", "gpu-cu13", "rtx"):
            if requirement.marker and requirement.marker.evaluate({"extra": extra}):
                extras.setdefault(extra, set()).add((requirement.name, str(requirement.specifier)))

    def wanted(*lines):
        return {(r.name, str(r.specifier)) for r in map(Requirement, lines)}

    assert "gpu" not in extras
    assert wanted("tensorrt-cu12>=10.1", "cuda-python>=12.0,<13", "onnxruntime-gpu>=1.25,<1.27") <= extras["gpu-cu12"]
    assert wanted("tensorrt-cu13>=10.13", "cuda-python>=13", "onnxruntime-gpu>=1.27") <= extras["gpu-cu13"]
    assert wanted("tensorrt-rtx>=1.4", "cuda-python>=13") <= extras["rtx"]
