"""TensorRT for RTX, a real NVIDIA builder that runs on a CPU: every step graph of the registry
(fp32 and fp16; deformable convs lowered portably) parsed and built ahead of time, RepVSR's at the
three table profiles and the others at 720p (profiles are one code path for every graph; each
profile more is another build's worth of tuning), a streaming model's for batches of 1 to 4 streams,
and `repvsr-trt` with --flavor rtx. The regression net for the exporter.

Not skipped without a GPU: `make test` installs the rtx extra. Running an engine needs a GPU."""

import json
import shutil

import onnx
import pytest
import tensorrt_rtx  # noqa: F401  (the rtx extra: fail here, loudly, if it is missing)
from helpers import FULL_SWEEP, distinct_graph_models, run_cli, streaming_models
from test_cli import assert_one_line_error

from repvsr_deploy.errors import ReportedError
from repvsr_deploy.trt.builder import BuildSettings, build
from repvsr_deploy.trt.cache import read_sidecar
from repvsr_deploy.trt.profiles import parse_profiles


def build_rtx(path, engine, size_multiple: int, profiles: str = "720p,1080p,4k", **options):
    settings = BuildSettings(parse_profiles(profiles, size_multiple), flavor="rtx", **options)
    return build(path, engine, settings, say=lambda line: None)


# fp16: the graphs that between them hold every operator any model's fp16 graph holds (Split is
# EDVR-M's alone, Expand SOFVSR's); the others' fp16 graphs would test no operator more, which the
# test after this one checks on their fp32 twins (all of which are built). Each fp16 export costs
# seconds to a minute of tracing: `make test` builds RepVSR's fp16 engine, REPVSR_SWEEP=all all four.
FP16_COVERING = ("repvsr", "ksnet-uni", "edvr-m", "sofvsr")
FP16_SWEPT = FP16_COVERING if FULL_SWEEP else FP16_COVERING[:1]
SWEPT = [(name, "fp32") for name in distinct_graph_models()] + [(name, "fp16") for name in FP16_SWEPT]


@pytest.mark.parametrize("name, precision", SWEPT)
def test_every_registry_graph_builds(exported, tmp_path, name, precision):
    model, path = exported(name, precision, "portable")
    profiles = "720p,1080p,4k" if name == "repvsr" else "720p"
    streams = 4 if name in streaming_models() else 1  # every reshape holds for N streams, or the build fails
    engines = build_rtx(path, tmp_path / f"{name}.plan", model.size_multiple, profiles, streams=streams)
    assert len(engines) == len(model.graphs.kinds)  # a bidirectional model: its backward engine too
    for engine in engines:
        sidecar = read_sidecar(engine)
        assert engine.stat().st_size > 100_000
        assert (sidecar.key.flavor, sidecar.key.gpu, sidecar.key.precision) == ("rtx", "", precision)
        assert ",".join(p[0] for p in sidecar.key.profiles) == profiles
        assert sidecar.key.streams == streams


@pytest.mark.skipif(not FULL_SWEEP, reason="exports every registry model: REPVSR_SWEEP=all")
def test_the_unswept_fp16_graphs_hold_only_operators_of_the_swept_ones(exported):
    def operators(name):
        model, path = exported(name, "fp32", "portable")
        return {node.op_type for file in model.graphs.files(path).values() for node in onnx.load(file).graph.node}

    swept = set().union(*(operators(name) for name in FP16_COVERING))
    for name in distinct_graph_models():
        assert operators(name) <= swept, name


def test_graphs_with_deformconv_or_the_plugin_are_refused_with_the_way_out(exported, tmp_path):
    for dcn in ("standard", "plugin"):
        _, path = exported("ksnet-uni", "fp32", dcn)
        with pytest.raises(
            ReportedError, match="has no deformable-conv plugin; export the model with repvsr-export --dcn portable"
        ):
            build_rtx(path, tmp_path / "k.plan", 1)
    assert not any(tmp_path.iterdir())


def test_compute_capabilities_are_recorded_and_checked(exported, tmp_path):
    model, path = exported("repvsr")
    (engine,) = build_rtx(path, tmp_path / "r.plan", 1, "720p", compute_capabilities="8.6,8.9")
    assert read_sidecar(engine).key.compute_capabilities == ("8.6", "8.9")
    with pytest.raises(ReportedError, match="compute_capabilities= 9.0: TensorRT for RTX .* builds for .*8.6"):
        build_rtx(path, tmp_path / "h.plan", 1, "720p", compute_capabilities="9.0")


def test_build_info_and_run_through_the_cli(exported, tmp_path):
    _, path = exported("repvsr", "fp16")
    engine = tmp_path / "r.plan"
    build_args = ("repvsr-trt", "build", path, "-o", engine, "--flavor", "rtx", "--profiles", "720p", "--streams", "3")
    built = run_cli(*build_args)
    assert built.returncode == 0, built.stderr
    assert "with TensorRT for RTX" in built.stdout and "1 to 3 streams a run" in built.stdout
    assert "written" in built.stdout
    assert "up to date" in run_cli(*build_args).stdout
    assert "stale (streams: 3 -> 1)" in run_cli(*build_args[:-2]).stdout
    info = run_cli("repvsr-trt", "info", engine)
    assert info.returncode == 0, info.stderr
    assert "TensorRT for RTX" in info.stdout and "fp16" in info.stdout
    assert "profile 0 (720p): LR frames up to 320x180, one stream a run" in info.stdout
    assert json.loads(engine.with_name("r.plan.json").read_text())["key"]["flavor"] == "rtx"
    no_gpu = "no NVIDIA GPU here (no NVIDIA driver" if shutil.which("nvidia-smi") is None else "no usable NVIDIA GPU"
    assert_one_line_error(run_cli("repvsr-trt", "run", engine), "repvsr-trt", no_gpu)  # not the driver's words


def test_flags_of_the_other_flavour_are_refused(exported, tmp_path):
    _, path = exported("repvsr")
    cases = [
        (["--flavor", "rtx", "--version-compatible"], "--version-compatible: TensorRT 10/11 only"),
        (["--compute-capability", "8.6"], "--compute-capability: TensorRT builds for the GPU at hand"),
    ]
    for args, message in cases:
        assert_one_line_error(
            run_cli("repvsr-trt", "build", path, "-o", tmp_path / "x.plan", *args), "repvsr-trt", message
        )
    assert not any(tmp_path.iterdir())


def test_streams_for_a_graph_that_runs_one_stream_are_refused(exported, tmp_path):
    _, path = exported("ksnet-bi", "fp32", "portable")
    args = ("--flavor", "rtx", "--profiles", "720p", "--streams", "2")
    assert_one_line_error(
        run_cli("repvsr-trt", "build", path, "-o", tmp_path / "k.plan", *args),
        "repvsr-trt",
        "--streams 2: its graph runs one stream at a time",
    )
    assert not any(tmp_path.iterdir())


class Recorded:
    """An object of the library whose calls named in `recorded` are logged in `calls`."""

    def __init__(self, real, calls: list, recorded: tuple[str, ...], builds: bool = True):
        self._real, self._calls, self._recorded, self._builds = real, calls, recorded, builds

    def __getattr__(self, name):
        attribute = getattr(self._real, name)
        if name not in self._recorded:
            return attribute

        def logged(*args):
            self._calls.append(name)
            if name == "build_serialized_network":  # what the config holds when the engine is built
                self._calls.append(("plugins_to_serialize", list(args[1].plugins_to_serialize)))
                if not self._builds:
                    return b"an engine"
            return attribute(*args)

        return logged


class TensorRTStandIn:
    """TensorRT for RTX standing in for TensorRT 10/11 (their Python APIs mirror each other), so that
    the TensorRT flavour's builder and loader run here; logs the calls whose order matters."""

    def __init__(self, version: str = "10.13.0", builds: bool = True):
        self.__version__, self.calls, self.builds = version, [], builds

    def __getattr__(self, name):
        return getattr(tensorrt_rtx, name)

    def init_libnvinfer_plugins(self, logger, namespace):
        self.calls.append("init_libnvinfer_plugins")
        return tensorrt_rtx.init_libnvinfer_plugins(logger, namespace)

    def OnnxParser(self, network, logger):  # noqa: N802  (the library's name)
        return Recorded(
            tensorrt_rtx.OnnxParser(network, logger), self.calls, ("parse_from_file", "get_used_vc_plugin_libraries")
        )

    def Builder(self, logger):  # noqa: N802
        return Recorded(tensorrt_rtx.Builder(logger), self.calls, ("build_serialized_network",), self.builds)

    def Runtime(self, logger):  # noqa: N802
        calls = self.calls

        class Runtime:
            def deserialize_cuda_engine(self, data):  # no GPU here: the order is what is checked
                calls.append("deserialize_cuda_engine")
                return object()

        return Runtime()


@pytest.fixture
def tensorrt_stand_in(monkeypatch, tmp_path):
    from repvsr_deploy.trt import cuda
    from repvsr_deploy.trt.flavors import TensorRT

    def use(version: str = "10.13.0", builds: bool = True) -> TensorRTStandIn:
        stand_in = TensorRTStandIn(version, builds)
        monkeypatch.setattr(TensorRT, "import_library", lambda self: stand_in)
        return stand_in

    monkeypatch.setattr(cuda, "device", lambda: ("NVIDIA GeForce RTX 3080", "8.6"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return use


def test_tensorrt_initialises_its_plugin_library_before_parsing_and_deserializing(
    exported, tmp_path, tensorrt_stand_in
):
    from repvsr_deploy.trt.engine import load_engine

    stand_in = tensorrt_stand_in()
    _, path = exported("repvsr")
    (engine,) = build(path, tmp_path / "r.plan", BuildSettings(parse_profiles("720p")), say=lambda line: None)
    assert stand_in.calls[:2] == ["init_libnvinfer_plugins", "parse_from_file"]
    stand_in.calls.clear()
    load_engine(engine)
    assert stand_in.calls == ["init_libnvinfer_plugins", "deserialize_cuda_engine"]


def test_version_compatible_engines_carry_the_plugin_libraries_the_parser_used(exported, tmp_path, tensorrt_stand_in):
    stand_in = tensorrt_stand_in(builds=False)  # TensorRT for RTX has no lean runtime to put in the engine
    _, path = exported("repvsr")
    settings = BuildSettings(parse_profiles("720p"), version_compatible=True)
    build(path, tmp_path / "r.plan", settings, say=lambda line: None)
    used = stand_in.calls.index("get_used_vc_plugin_libraries")
    assert stand_in.calls.index("build_serialized_network") > used
    assert ("plugins_to_serialize", []) in stand_in.calls  # what the parser said it used: nothing, for this graph


def test_our_plugin_needs_tensorrt_10_9(exported, tmp_path, tensorrt_stand_in):
    tensorrt_stand_in("10.8.0")
    _, path = exported("ksnet-uni", "fp32", "plugin")
    with pytest.raises(
        ReportedError,
        match="needs TensorRT >= 10.9 \\(ahead-of-time Python plugins\\), this is 10.8.0; export it with repvsr-export --dcn standard",
    ):
        build(path, tmp_path / "k.plan", BuildSettings(parse_profiles("720p")), say=lambda line: None)
    assert not any(p.suffix == ".plan" for p in tmp_path.iterdir())


def test_build_progress_reaches_tensorrt_without_cancelling_it():
    """TensorRT cancels a build when a progress callback fails: ours must be the ones it calls."""
    from repvsr_deploy.trt.builder import _progress_monitor

    monitor = _progress_monitor(tensorrt_rtx)
    monitor.phase_start("Building engine", None, 2)
    assert monitor.step_complete("Building engine", 0) is True
    monitor.phase_finish("Building engine")


def _short_footage():
    """A few frames of moving texture, as quantization takes them (calibration and a short check)."""
    import numpy as np

    from repvsr_deploy.clips import moving_clip
    from repvsr_deploy.evaluate import degraded
    from repvsr_deploy.quantize.footage import Clip, Footage

    gt = (moving_clip(7, 144, 160).transpose(0, 2, 3, 1) * 255 + 0.5).astype(np.uint8)

    def clip(name, frames):
        return Clip(name, 160, 144, lambda: ((f, degraded(f, "bd")) for f in frames), len(frames))

    return Footage([clip("calibration", gt[:4])], clip("check", gt[4:]), held_out=False)


# int8: the whole registry with REPVSR_SWEEP=all (3 minutes in two processes here: NNCF takes
# 10-70 s a graph); `make test` builds the demo RepVSR's int8 and fp8 graphs (test_quantize) instead
INT8_SWEPT = distinct_graph_models() if FULL_SWEEP else ()


@pytest.mark.parametrize("name", INT8_SWEPT)
def test_every_registry_graph_builds_as_int8(exported, tmp_path, name):
    """NNCF's Q/DQ graph of a model (calibrated through its recurrence, quantizers made signed, the
    default float rules) parses and builds as an int8 engine for compute capability 8.9; the weights
    are random, so the quality limit is the trained models' (test_quantize)."""
    from repvsr_deploy.quantize.targets import TARGETS
    from repvsr_deploy.quantize.verified import quantize_verified

    model, path = exported(name, "fp32", "portable")
    int8 = tmp_path / f"{name}.int8.tensorrt.onnx"
    report = quantize_verified(path, int8, TARGETS["tensorrt"], "int8", _short_footage(), max_loss=None)
    assert report.check.frames == 3 and report.check.checked_on == "onnxruntime"
    engines = build_rtx(int8, tmp_path / f"{name}.int8.plan", model.size_multiple, "96x64", compute_capabilities="8.9")
    assert len(engines) == len(model.graphs.kinds)
    assert {read_sidecar(engine).key.precision for engine in engines} == {"int8"}


def test_the_builders_steps_each_without_a_gpu(exported, tmp_path):
    """The key, the network from ONNX, the config from the settings (a profile per resolution) and
    the engine persisted with its sidecar: each step on its own, with TensorRT for RTX on this CPU
    (the profiles' shapes: tests/test_trt_logic.py)."""
    from repvsr_deploy.graph_file import read_graph
    from repvsr_deploy.trt.builder import build_key, builder_config, network_from_onnx, persist_engine
    from repvsr_deploy.trt.flavors import FLAVORS

    _, path = exported("repvsr")
    graph, info = read_graph(path)
    flavor = FLAVORS["rtx"]
    trt = flavor.import_library()
    settings = BuildSettings(parse_profiles("720p,1080p", info.size_multiple), flavor="rtx", streams=2)
    target = ("", flavor.compute_capabilities(trt, "8.6"))
    key = build_key(flavor, trt, path, settings, target, "fp32")
    assert key.profiles == (("720p", 180, 320), ("1080p", 270, 480)) and key.streams == 2
    builder, network, parser = network_from_onnx(flavor, trt, path, strongly_typed=True)
    assert [network.get_input(i).name for i in range(network.num_inputs)] == info.input_names
    config, timing_cache = builder_config(flavor, trt, builder, parser, graph, info, settings, key)
    assert config.num_optimization_profiles == 2 and timing_cache is None  # RTX times nothing ahead
    persist_engine(tmp_path / "r.plan", b"engine bytes", key, info, plugins=[])
    assert (tmp_path / "r.plan").read_bytes() == b"engine bytes" and read_sidecar(tmp_path / "r.plan").key == key
