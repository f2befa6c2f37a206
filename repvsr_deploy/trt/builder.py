"""Build TensorRT engines from step graphs: profiles, precision, caches, progress. Imports no torch.

Precision (TensorRT 10.x >= 10.1 and 11.x):
- fp32 from the fp32 graph; TF32 is switched off so that fp32 means fp32.
- fp16 from the fp16 graph (`repvsr-export --fp16`), as a strongly typed network: it keeps the warp's
  grid and the channel ranking in fp32. TensorRT 11 has no other way (it removed the precision flags);
  on TensorRT 10 an fp32 graph may also be built with the FP16 builder flag, which lets TensorRT pick
  the precision of every layer, those included.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..atomic import staged_files
from ..errors import MissingDependency, ReportedError, first_sentence
from ..modelinfo import ModelInfo
from . import cuda
from .cache import BuildKey, Sidecar, file_sha256, read_sidecar, sidecar_path
from .plugin_op import NAME as PLUGIN_OP
from .plugin_op import PLUGIN_ID
from .profiles import Profile, graph_inputs, input_shapes, read_graph

PRECISIONS = ("fp32", "fp16")


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as exc:  # not installed, or the bindings without the libraries
        raise ReportedError(
            f"TensorRT is not usable here ({first_sentence(exc)}); "
            "pip install 'repvsr-deploy[gpu]' on a machine with an NVIDIA GPU"
        ) from None
    return tensorrt


def engine_paths(onnx_path: Path, info: ModelInfo, engine: Path) -> list[tuple[Path, Path]]:
    """(graph, engine) pairs: one for a streaming model, the backward one first for a bidirectional one."""
    if info.graph == "forward":
        backward_engine = engine.with_name(f"{engine.stem}.backward{engine.suffix}")
        return [(onnx_path.with_name(info.backward_graph), backward_engine), (onnx_path, engine)]
    if info.graph == "backward":
        raise ReportedError(f"{onnx_path}: a backward graph; build its forward graph, which brings it along")
    return [(onnx_path, engine)]


@dataclass(frozen=True)
class BuildSettings:
    profiles: list[Profile]
    precision: str | None  # None: the graph's own
    workspace_gib: float
    opt_level: int
    timing_cache: Path | None  # None: per GPU and TensorRT version under ~/.cache
    version_compatible: bool
    force: bool


def build(onnx_path: Path, engine: Path, settings: BuildSettings, say=print) -> list[Path]:
    """Build (or reuse) the engine(s) of a step graph; returns the engine files, forward last."""
    trt = import_tensorrt()
    gpu, capability = cuda.device()
    onnx_path, engine = Path(onnx_path), Path(engine)
    _, info = read_graph(onnx_path)
    pairs = engine_paths(onnx_path, info, engine)
    for graph_path, engine_path in pairs:
        _build_one(trt, graph_path, engine_path, settings, gpu, capability, pairs[0][1] if len(pairs) > 1 else None, say)
    return [e for _, e in pairs]


def _build_one(trt, graph_path: Path, engine_path: Path, settings: BuildSettings, gpu: str, capability: str,
               backward_engine: Path | None, say) -> None:
    graph, info = read_graph(graph_path)
    precision = settings.precision or info.precision
    _check_precision(trt, graph_path, info.precision, precision)
    key = BuildKey(
        gpu=gpu, compute_capability=capability, tensorrt=trt.__version__, onnx_sha256=file_sha256(graph_path),
        precision=precision, profiles=tuple((p.name, *p.lr_hw) for p in settings.profiles),
        opt_level=settings.opt_level, workspace_gib=settings.workspace_gib,
        version_compatible=settings.version_compatible,
    )
    old = read_sidecar(engine_path) if engine_path.is_file() else None
    if old is not None and old.key == key and not settings.force:
        say(f"{engine_path}: up to date (built {old.built} from {graph_path.name}), reused")
        return
    if old is not None:
        say(f"{engine_path}: stale ({'; '.join(old.key.differences(key)) or 'rebuild forced'}), rebuilding")

    plugins = _register_plugins(graph, graph_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, weakly_typed=precision != info.precision))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(graph_path)):
        errors = [parser.get_error(i).desc() for i in range(parser.num_errors)] or ["no reason given"]
        raise ReportedError(f"{graph_path}: TensorRT cannot parse it ({errors[0]})")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_gib * 2**30))
    config.builder_optimization_level = settings.opt_level
    if precision == "fp16" and info.precision == "fp32":
        config.set_flag(trt.BuilderFlag.FP16)  # TensorRT 10 only; _check_precision refused it on 11
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    if settings.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    inputs = graph_inputs(graph, info)
    for profile in settings.profiles:
        shapes = builder.create_optimization_profile()
        for inp in inputs:
            shapes.set_shape(inp.name, *input_shapes(inp, profile, info.min_size))
        config.add_optimization_profile(shapes)
    timing_cache_path = settings.timing_cache or default_timing_cache(trt.__version__, gpu, capability)
    timing = timing_cache_path.read_bytes() if timing_cache_path.is_file() else b""
    config.set_timing_cache(config.create_timing_cache(timing), ignore_mismatch=False)
    config.progress_monitor = _progress_monitor(trt)

    say(f"{engine_path}: building from {graph_path.name} for {gpu}, {precision}, profiles "
        f"{', '.join(p.name for p in settings.profiles)} (TensorRT {trt.__version__})")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ReportedError(f"{graph_path}: TensorRT could not build an engine from it (its messages above say why)")

    sidecar = Sidecar(
        key=key, model=info.to_metadata(), plugins=plugins,
        backward_engine=backward_engine.name if backward_engine is not None and info.graph == "forward" else "",
        built=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    with staged_files(engine_path.parent) as stage:  # engine and sidecar appear together, or neither
        (stage / engine_path.name).write_bytes(bytes(serialized))
        (stage / sidecar_path(engine_path).name).write_text(sidecar.to_json())
    with staged_files(timing_cache_path.parent) as stage:
        (stage / timing_cache_path.name).write_bytes(bytes(config.get_timing_cache().serialize()))
    say(f"{engine_path}: written, {os.path.getsize(engine_path) / 2**20:.1f} MiB; timing cache {timing_cache_path}")


def tensorrt_major(version: str) -> int:
    return int(version.split(".")[0])


def _check_precision(trt, graph_path: Path, graph_precision: str, precision: str) -> None:
    if precision not in PRECISIONS:
        raise ReportedError(f"--precision {precision}: not one of {', '.join(PRECISIONS)}")
    if graph_precision == "fp16" and precision == "fp32":
        raise ReportedError(f"{graph_path}: an fp16 graph; build the fp32 graph for an fp32 engine")
    if graph_precision == "fp32" and precision == "fp16" and tensorrt_major(trt.__version__) >= 11:
        raise ReportedError(
            f"{graph_path}: TensorRT {trt.__version__} builds FP16 engines only from an FP16 graph; "
            "export one with repvsr-export --fp16 and build NAME.fp16.onnx"
        )


def _network_flags(trt, weakly_typed: bool) -> int:
    """Strongly typed (each tensor keeps the graph's type), except for TensorRT 10's FP16 flag; on
    TensorRT 11 every network is strongly typed and the flag is deprecated."""
    if weakly_typed or tensorrt_major(trt.__version__) >= 11:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def _register_plugins(graph, graph_path: Path) -> tuple[str, ...]:
    """Register our plugin when the graph holds its op; the plugin names the engine then holds."""
    if not any(node.op_type == PLUGIN_OP for node in graph.graph.node):
        return ()
    try:
        import triton  # noqa: F401
    except ImportError:
        raise MissingDependency("triton", "gpu", f"{graph_path}: building the {PLUGIN_ID} plugin") from None
    from . import plugin  # noqa: F401  (registers it with TensorRT)

    return (PLUGIN_ID,)


def default_timing_cache(tensorrt_version: str, gpu: str, capability: str) -> Path:
    """One timing cache per GPU and TensorRT version, under $XDG_CACHE_HOME (~/.cache)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "repvsr-deploy"
    slug = "".join(c if c.isalnum() else "-" for c in gpu.lower()).strip("-")
    return root / f"tensorrt-{tensorrt_version}-{slug}-sm{capability.replace('.', '')}.timing"


class PhaseBars:
    """TensorRT's build phases as nested progress bars (the IProgressMonitor callbacks)."""

    def __init__(self):
        self._bars: dict[str, tqdm] = {}

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        self._bars[phase_name] = tqdm(total=num_steps, desc=phase_name, position=len(self._bars), leave=False,
                                      file=sys.stderr, unit="step")

    def step_complete(self, phase_name: str, step: int) -> bool:
        bar = self._bars.get(phase_name)
        if bar is not None:
            bar.update(step + 1 - bar.n)
        return True  # keep building

    def phase_finish(self, phase_name: str) -> None:
        bar = self._bars.pop(phase_name, None)
        if bar is not None:
            bar.close()


def _progress_monitor(trt):
    class BuildProgress(trt.IProgressMonitor, PhaseBars):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            PhaseBars.__init__(self)

    return BuildProgress()
