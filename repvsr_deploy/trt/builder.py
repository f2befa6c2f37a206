"""Build engines from step graphs, with either TensorRT flavour (see flavors): profiles, precision,
caches, progress. Imports no torch.

Precision:
- fp32 from the fp32 graph; TF32 is switched off so that fp32 means fp32.
- fp16 from the fp16 graph (`repvsr-export --fp16`), as a strongly typed network: it keeps the warp's
  grid and the channel ranking in fp32. TensorRT 11 and TensorRT for RTX have no other way (their
  networks are all strongly typed); on TensorRT 10 an fp32 graph may also be built with the FP16
  builder flag, which lets TensorRT pick the precision of every layer, those included.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..atomic import exclusive, staged_files
from ..errors import MissingDependency, ReportedError, parameter
from ..graph_file import read_graph
from ..modelinfo import ENGINE_PRECISIONS, QUANTIZED, ModelInfo
from ..user_cache import cache_dir, slug
from . import cuda
from .cache import BuildKey, Sidecar, file_sha256, read_sidecar, sidecar_path
from .flavors import FLAVORS, Flavor, TensorRT, version_tuple
from .flavors import flavor as flavor_named
from .plugin_op import NAME as PLUGIN_OP
from .plugin_op import PLUGIN_ID
from .profiles import Profile, graph_inputs, input_shapes

FP8_CAPABILITY = (8, 9)  # Ada and later have fp8 tensor cores


def engine_paths(onnx_path: Path, info: ModelInfo, engine: Path) -> list[tuple[Path, Path]]:
    """(graph, engine) pairs: one for a streaming model, the backward one first for a bidirectional one."""
    if info.graph is not info.graph.graph_set.last:
        raise ReportedError(
            f"{onnx_path}: a {info.graph} graph; build its {info.graph.graph_set.last} graph, which brings it along"
        )
    graphs, engines = info.graph.graph_set.files(onnx_path), info.graph.graph_set.files(engine)
    return [(graphs[kind], engines[kind]) for kind in info.graph.graph_set.kinds]


@dataclass(frozen=True)
class BuildSettings:
    profiles: list[Profile]
    precision: str | None = None  # None: the graph's own
    workspace_gib: float | None = None  # None: the library's own limit (the GPU's memory)
    opt_level: int = 3
    timing_cache: Path | None = None  # TensorRT; None: per GPU and version under ~/.cache
    version_compatible: bool = False  # TensorRT
    force: bool = False
    flavor: str = "tensorrt"
    compute_capabilities: str = ""  # TensorRT for RTX: "8.6,8.9"; "" for its default set
    streams: int = 1  # a streaming graph's engine takes 1 to this many streams a run


def build(onnx_path: Path, engine: Path, settings: BuildSettings, say=print) -> list[Path]:
    """Build (or reuse) the engine(s) of a step graph; returns the engine files, forward last."""
    flavor = flavor_named(settings.flavor)
    _check_settings(flavor, settings)
    trt = _library_that_builds(flavor)
    target: tuple[str, tuple[str, ...]]
    if flavor.builds_on_gpu:
        gpu, capability = cuda.device()
        target = (gpu, (capability,))
    else:
        target = ("", flavor.compute_capabilities(trt, settings.compute_capabilities))
    onnx_path, engine = Path(onnx_path), Path(engine)
    _, info = read_graph(onnx_path)
    pairs = engine_paths(onnx_path, info, engine)
    for graph_path, engine_path in pairs:
        _build_one(flavor, trt, graph_path, engine_path, settings, target, say)
    return [e for _, e in pairs]


def _library_that_builds(flavor: Flavor):
    """The flavour's library; where it is missing, the flavour that builds here named too."""
    try:
        return flavor.import_library()
    except ReportedError as exc:
        others = [f for f in FLAVORS.values() if f is not flavor and not f.builds_on_gpu and f.version()[0]]
        if not others:
            raise
        hint = f"{others[0].title} builds engines on this machine: {parameter('flavor')} {others[0].name}"
        raise ReportedError(f"{exc.args[0]}; {hint}") from None


def _check_settings(flavor: Flavor, settings: BuildSettings) -> None:
    if settings.compute_capabilities and flavor.builds_on_gpu:
        raise ReportedError(
            f"{parameter('compute_capabilities')}: TensorRT builds for the GPU at hand; it is for "
            f"{parameter('flavor')} rtx"
        )
    if settings.version_compatible and not isinstance(flavor, TensorRT):
        raise ReportedError(f"{parameter('version_compatible')}: TensorRT 10/11 only, not {flavor.title}")


def _build_one(
    flavor: Flavor,
    trt,
    graph_path: Path,
    engine_path: Path,
    settings: BuildSettings,
    target: tuple[str, tuple[str, ...]],
    say,
) -> None:
    """Under the engine's lock: a second build of the same engine waits, then finds it up to date."""
    with exclusive(engine_path, on_wait=lambda: say(f"{engine_path}: another process is building it; waiting")):
        _build_locked(flavor, trt, graph_path, engine_path, settings, target, say)


def _build_locked(
    flavor: Flavor,
    trt,
    graph_path: Path,
    engine_path: Path,
    settings: BuildSettings,
    target: tuple[str, tuple[str, ...]],
    say,
) -> None:
    """The steps: the graph checked, its build key (reuse when it matches), the network from ONNX,
    the config from the settings, the build, the engine and its sidecar persisted."""
    graph, info = read_graph(graph_path)
    _check_graph(graph_path, info, settings)
    precision = settings.precision or info.precision
    _check_precision(flavor, trt, graph_path, info.precision, precision, target[1])
    key = build_key(flavor, trt, graph_path, settings, target, precision)
    old = _previous_build(engine_path, say)
    if old is not None and old.key == key and not settings.force:
        say(f"{engine_path}: up to date (built {old.built} from {graph_path.name}), reused")
        return
    if old is not None:
        say(f"{engine_path}: stale ({'; '.join(old.key.differences(key)) or 'rebuild forced'}), rebuilding")
    plugins = _register_plugins(flavor, trt, graph, graph_path)
    builder, network, parser = network_from_onnx(flavor, trt, graph_path, strongly_typed=precision == info.precision)
    config, timing_cache_path = builder_config(flavor, trt, builder, parser, graph, info, settings, key)
    say(
        f"{engine_path}: building from {graph_path.name} with {flavor.title} {trt.__version__} for {key.target()}, "
        f"{precision}, profiles {', '.join(p.name for p in settings.profiles)}"
        + (f", 1 to {settings.streams} streams a run" if settings.streams > 1 else "")
    )
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ReportedError(
            f"{graph_path}: {flavor.title} could not build an engine from it (its messages above say why)"
        )
    persist_engine(engine_path, bytes(serialized), key, info, plugins)
    if timing_cache_path is not None:
        save_timing_cache(config, timing_cache_path, say)
    cache_note = f"; timing cache {timing_cache_path}" if timing_cache_path else ""
    say(f"{engine_path}: written, {os.path.getsize(engine_path) / 2**20:.1f} MiB{cache_note}")


def _check_graph(graph_path: Path, info: ModelInfo, settings: BuildSettings) -> None:
    """What TensorRT cannot take of this graph, or of these settings for it: refused before any work."""
    info.check_runs_on("tensorrt", str(graph_path))
    if settings.streams > 1 and not info.streams:
        raise ReportedError(
            f"{graph_path}: {parameter('streams')} {settings.streams}: its graph runs one stream at a time (a "
            "bidirectional or centred-window model, or a graph exported before batches of streams: re-export it)"
        )
    if info.io == "uint16":  # TensorRT's tensor types have no 16-bit unsigned integer
        raise ReportedError(
            f"{graph_path}: TensorRT takes no uint16 frames; export it with repvsr-export --io uint8 or float"
        )


def build_key(
    flavor: Flavor, trt, graph_path: Path, settings: BuildSettings, target: tuple[str, tuple[str, ...]], precision: str
) -> BuildKey:
    """Everything that makes the engine what it is: an engine whose sidecar holds an equal key is reused."""
    gpu, capabilities = target
    return BuildKey(
        flavor=flavor.name,
        library=trt.__version__,
        gpu=gpu,
        compute_capabilities=capabilities,
        onnx_sha256=file_sha256(graph_path),
        precision=precision,
        profiles=tuple((p.name, *p.lr_hw) for p in settings.profiles),
        opt_level=settings.opt_level,
        workspace_gib=settings.workspace_gib,
        version_compatible=settings.version_compatible,
        streams=settings.streams,
    )


def network_from_onnx(flavor: Flavor, trt, graph_path: Path, strongly_typed: bool) -> tuple:
    """(builder, network, parser): the graph parsed into a network (the parser kept: it knows the
    plugin libraries it used)."""
    logger = trt.Logger(trt.Logger.WARNING)
    flavor.init_plugins(trt, logger)
    builder = trt.Builder(logger)
    network = builder.create_network(flavor.network_flags(trt, strongly_typed=strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(graph_path)):
        errors = [parser.get_error(i).desc() for i in range(parser.num_errors)] or ["no reason given"]
        raise ReportedError(f"{graph_path}: {flavor.title} cannot parse it ({errors[0]})")
    return builder, network, parser


def builder_config(
    flavor: Flavor, trt, builder, parser, graph, info: ModelInfo, settings: BuildSettings, key: BuildKey
) -> tuple:
    """(config, timing cache file or None): the build's config from the settings and the key: memory,
    optimization level, precision flags, version compatibility, target GPUs, a profile per resolution
    (frames of 1 to `streams` streams), the timing cache (TensorRT; TensorRT for RTX times nothing)."""
    config = builder.create_builder_config()
    if settings.workspace_gib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_gib * 2**30))
    config.builder_optimization_level = settings.opt_level
    if key.precision == "fp16" and info.precision == "fp32":
        config.set_flag(trt.BuilderFlag.FP16)  # TensorRT 10 only; _check_precision refused it elsewhere
    if key.precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    if settings.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
        # the plugin libraries the parser used (libnvinfer_plugin for DeformConv) travel in the engine,
        # since a version-compatible engine runs on a lean runtime that does not load them itself
        config.plugins_to_serialize = parser.get_used_vc_plugin_libraries()
    if not flavor.builds_on_gpu:
        flavor.set_compute_capabilities(trt, config, key.compute_capabilities)
    inputs = graph_inputs(graph, info)
    for profile in settings.profiles:
        shapes = builder.create_optimization_profile()
        for inp in inputs:
            shapes.set_shape(inp.name, *input_shapes(inp, profile, info.min_size, settings.streams))
        config.add_optimization_profile(shapes)
    timing_cache_path = None
    if flavor.builds_on_gpu:  # TensorRT for RTX times nothing ahead of time: its timing cache is a no-op
        timing_cache_path = settings.timing_cache or default_timing_cache(
            trt.__version__, key.gpu, key.compute_capabilities[0]
        )
        timing = timing_cache_path.read_bytes() if timing_cache_path.is_file() else b""
        config.set_timing_cache(config.create_timing_cache(timing), ignore_mismatch=False)
    config.progress_monitor = _progress_monitor(trt)
    return config, timing_cache_path


def persist_engine(engine_path: Path, engine_bytes: bytes, key: BuildKey, info: ModelInfo, plugins) -> None:
    """The engine and its sidecar (what it was built from and for) appear together, or neither."""
    sidecar = Sidecar(
        key=key,
        model=info.to_metadata(),
        plugins=plugins,
        built=datetime.datetime.now().isoformat(timespec="seconds"),
        engine_sha256=hashlib.sha256(engine_bytes).hexdigest(),
    )
    with staged_files(engine_path) as stage:  # the sidecar is written first
        (stage / engine_path.name).write_bytes(engine_bytes)
        (stage / sidecar_path(engine_path).name).write_text(sidecar.to_json())


def _previous_build(engine_path: Path, say) -> Sidecar | None:
    """The sidecar of the engine there, None if none, or if it does not describe that engine."""
    if not engine_path.is_file():
        return None
    try:
        return read_sidecar(engine_path)
    except ReportedError:
        say(f"{engine_path}: its sidecar describes another build of it (or none), rebuilding")
        return None


def save_timing_cache(config, path: Path, say) -> None:
    """This build's timing cache merged into the one on disk (which other builds may have grown
    since this one read it), under the cache's lock."""
    ours = config.get_timing_cache()
    with staged_files(path, on_wait=lambda: say(f"{path}: another build is saving it; waiting")) as stage:
        if path.is_file():  # entries of other builds kept; conflicting ones are skipped
            ours.combine(config.create_timing_cache(path.read_bytes()), True)
        (stage / path.name).write_bytes(bytes(ours.serialize()))


def _check_precision(
    flavor: Flavor, trt, graph_path: Path, graph_precision: str, precision: str, capabilities: tuple[str, ...]
) -> None:
    if precision not in ENGINE_PRECISIONS:
        raise ReportedError(f"{parameter('precision')} {precision}: not one of {', '.join(ENGINE_PRECISIONS)}")
    if graph_precision in QUANTIZED and precision != graph_precision:
        raise ReportedError(f"{graph_path}: a {graph_precision} graph builds {graph_precision} engines only")
    if precision in QUANTIZED and graph_precision != precision:
        raise ReportedError(
            f"{graph_path}: a {graph_precision} graph; {precision} engines come from a quantized graph: "
            f"repvsr-quantize {graph_path.name} --backend tensorrt --precision {precision} --calib FOOTAGE"
        )
    if precision == "fp8":
        older = [c for c in capabilities if version_tuple(c) < FP8_CAPABILITY] if capabilities else ["its default set"]
        if older:
            hint = f"; give {parameter('compute_capabilities')} 8.9,12.0" if not flavor.builds_on_gpu else ""
            raise ReportedError(
                f"{graph_path}: fp8 engines run on compute capability 8.9 and later, not {', '.join(older)}{hint}"
            )
    if graph_precision == "fp16" and precision == "fp32":
        raise ReportedError(f"{graph_path}: an fp16 graph; build the fp32 graph for an fp32 engine")
    if graph_precision == "fp32" and precision == "fp16" and flavor.strongly_typed_only(trt):
        raise ReportedError(
            f"{graph_path}: {flavor.title} {trt.__version__} builds FP16 engines only from an FP16 graph; "
            "export one with repvsr-export --fp16 and build NAME.fp16.onnx"
        )


def _register_plugins(flavor: Flavor, trt, graph, graph_path: Path) -> tuple[str, ...]:
    """Refuse what this flavour cannot parse; register our plugin when the graph holds its op.
    Returns the plugin names the engine holds."""
    ops = {node.op_type for node in graph.graph.node}
    if not flavor.builds_on_gpu and ops & {"DeformConv", PLUGIN_OP}:
        raise ReportedError(
            f"{graph_path}: {flavor.title} has no deformable-conv plugin; export the model with "
            "repvsr-export --dcn portable"
        )
    if PLUGIN_OP not in ops:
        return ()
    if version_tuple(trt.__version__) < TensorRT.plugin_floor:
        raise ReportedError(
            f"{graph_path}: the {PLUGIN_ID} plugin needs TensorRT >= "
            f"{'.'.join(map(str, TensorRT.plugin_floor))} (ahead-of-time Python plugins), this is "
            f"{trt.__version__}; export it with repvsr-export --dcn standard"
        )
    try:
        import triton  # noqa: F401
    except ImportError:
        raise MissingDependency("triton", "gpu-cu13", f"{graph_path}: building the {PLUGIN_ID} plugin") from None
    from . import plugin  # noqa: F401  (registers it with TensorRT)

    return (PLUGIN_ID,)


def default_timing_cache(tensorrt_version: str, gpu: str, capability: str) -> Path:
    """One timing cache per GPU and TensorRT version, under the toolkit's cache folder."""
    return cache_dir() / f"tensorrt-{tensorrt_version}-{slug(gpu)}-sm{capability.replace('.', '')}.timing"


class PhaseBars:
    """TensorRT's build phases as nested progress bars (the IProgressMonitor callbacks)."""

    def __init__(self, shown: bool | None = None):  # None: on a terminal only
        self._bars: dict[str, tqdm] = {}
        self._disable = None if shown is None else not shown

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        self._bars[phase_name] = tqdm(
            total=num_steps,
            desc=phase_name,
            position=len(self._bars),
            leave=False,
            file=sys.stderr,
            unit="step",
            disable=self._disable,
        )

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
    # PhaseBars first: the binding's pure virtual methods would otherwise shadow its callbacks, and
    # TensorRT would cancel the build after every one of them failed
    class BuildProgress(PhaseBars, trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            PhaseBars.__init__(self)

    return BuildProgress()
