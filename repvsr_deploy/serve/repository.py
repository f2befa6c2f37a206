"""Triton Inference Server model repositories for a step graph or engine.

`write_repository` writes, under REPO:
- NAME/: a Python-backend model (`triton_model`) that runs this toolkit's batch of streams over the
  graph or engine copied into NAME/1/, under Triton's sequence batcher (`oldest` strategy, up to
  `max_streams` sequences in a batch); uint8 frames in and out.
- NAME_native/ (with `native_size`): for servers that run the graph themselves, onnxruntime's
  (`onnxruntime_onnx`) or TensorRT's (`tensorrt_plan`) configuration with Triton keeping the state
  (`sequence_batching.state`, zeros at START): the graph's own inputs and outputs at one frame size.

Every configuration is built and checked with Triton's own model-config schema (`model_config_pb2`
of tritonclient) and written as its text form.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import ReportedError, parameter
from ..modelinfo import GraphKind, ModelInfo

FRAME, HR = "FRAME", "HR"
CONTROLS = {"start": "START", "end": "END", "corrid": "CORRID"}
IDLE_SECONDS = 60  # a sequence that sends nothing for this long is ended and its slot freed
QUEUE_DELAY_US = 2000  # how long the batcher waits to fill a batch
MODEL_IMPORT = "from repvsr_deploy.serve.triton_model import TritonPythonModel  # noqa: F401\n"
TYPES = {"uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16"}  # of integer frames; float ones as the graph's precision


def model_config_text(config: dict) -> str:
    """`config` (the model configuration as JSON) checked against Triton's schema, as config.pbtxt text."""
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    try:
        message = json_format.ParseDict(config, model_config_pb2.ModelConfig())
    except json_format.ParseError as exc:
        raise AssertionError(f"not a Triton model configuration: {exc}") from None
    return text_format.MessageToString(message)


def parse_model_config(text: str):
    """config.pbtxt text -> Triton's ModelConfig message (raises on anything its schema lacks)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(text, model_config_pb2.ModelConfig())


def _sequence_controls() -> list[dict]:
    flag = lambda kind: {"kind": kind, "int32_false_true": [0, 1]}  # noqa: E731
    return [
        {"name": CONTROLS["start"], "control": [flag("CONTROL_SEQUENCE_START")]},
        {"name": CONTROLS["end"], "control": [flag("CONTROL_SEQUENCE_END")]},
        {"name": CONTROLS["corrid"], "control": [{"kind": "CONTROL_SEQUENCE_CORRID", "data_type": "TYPE_UINT64"}]},
    ]


def python_model_config(name: str, info: ModelInfo, graph_file: str, backend: str, device: str, streams: int) -> dict:
    """The Python-backend model: a batch of up to `streams` sequences, a state slot each."""
    return {
        "name": name,
        "backend": "python",
        "max_batch_size": streams,
        "input": [{"name": FRAME, "data_type": "TYPE_UINT8", "dims": [-1, -1, 3]}],
        "output": [{"name": HR, "data_type": "TYPE_UINT8", "dims": [-1, -1, 3]}],
        "sequence_batching": {**_oldest_first(streams), "control_input": _sequence_controls()},
        "instance_group": [{"kind": "KIND_CPU", "count": 1}],
        "parameters": {
            key: {"string_value": str(value)}
            for key, value in {
                "graph": graph_file,
                "backend": backend,
                "device": device,
                "scale": info.scale,
                "model": info.model,
            }.items()
        },
    }


def native_model_config(name: str, info: ModelInfo, platform: str, streams: int, size: tuple[int, int]) -> dict:
    """The graph run by the server itself at `size` (H, W), its state kept by Triton."""
    height, width = size
    float_type = "TYPE_FP16" if info.precision == "fp16" else "TYPE_FP32"  # as the graph's tensors are
    frame_type = TYPES.get(info.io, float_type)
    state = []
    for spec in info.states:
        dims = list(spec.shape(height, width)[1:])
        zeros = {"data_type": float_type, "dims": dims, "zero_data": True, "name": f"zero_{spec.name}"}
        state.append(
            {
                "input_name": spec.input_name,
                "output_name": spec.output_name,
                "data_type": float_type,
                "dims": dims,
                "initial_state": [zeros],
            }
        )
    (lr,) = info.graph.inputs
    hr_dims = [3, height * info.scale, width * info.scale]
    return {
        "name": name,
        "platform": platform,
        "max_batch_size": streams,
        "input": [{"name": lr, "data_type": frame_type, "dims": [3, height, width]}],
        "output": [{"name": info.graph.output, "data_type": frame_type, "dims": hr_dims}],
        "sequence_batching": {**_oldest_first(streams), "state": state},
    }


def _oldest_first(streams: int) -> dict:
    """Triton's sequence batcher, `oldest` strategy: up to `streams` sequences in a batch."""
    return {
        "max_sequence_idle_microseconds": IDLE_SECONDS * 1_000_000,
        "oldest": {
            "max_candidate_sequences": streams,
            "preferred_batch_size": [streams],
            "max_queue_delay_microseconds": QUEUE_DELAY_US,
        },
    }


def model_py(site_packages: list[Path]) -> str:
    """The Python backend's model.py: this toolkit's model, found in the server's Python or in the
    `site_packages` folders it is told of (Triton's Python stub ignores PYTHONPATH)."""
    if not site_packages:
        return MODEL_IMPORT
    folders = ", ".join(repr(str(Path(folder).resolve())) for folder in site_packages)
    return f"import site\n\nfor folder in [{folders}]:\n    site.addsitedir(folder)\n\n{MODEL_IMPORT}"


def _model_files(source: Path) -> list[Path]:
    """The file and what must travel with it: an OpenVINO IR's weights, an engine's sidecar."""
    from ..trt.cache import sidecar_path

    if source.suffix.lower() == ".xml":
        return [source, source.with_suffix(".bin")]
    if source.suffix.lower() in (".plan", ".engine"):
        return [source, sidecar_path(source)]
    return [source]


def read_served_model(source: Path, streams: int) -> tuple[ModelInfo, str, str | None]:
    """(the model's interface, the backend that runs it, the platform of Triton's own backend that
    runs it or None) of a graph or engine; refuses what cannot be served as `streams` streams of a batch."""
    from ..runtime.backends import GRAPH_BACKENDS, backend_for

    backend = backend_for(source).name
    platform = "onnxruntime_onnx" if backend == "onnxruntime" else None
    if backend == "tensorrt":
        from ..trt.engine import read_engine_sidecar

        sidecar = read_engine_sidecar(source)
        info = sidecar.info
        platform = "tensorrt_plan" if sidecar.key.flavor == "tensorrt" else None  # not TensorRT for RTX's
        if sidecar.key.streams < streams:
            raise ReportedError(
                f"{source}: built for at most {sidecar.key.streams} stream(s) a run, not {parameter('max_streams')} {streams}; "
                f"rebuild it with repvsr-trt build --streams {streams}"
            )
    elif backend in GRAPH_BACKENDS:
        if backend == "openvino":
            from ..runtime.openvino_backend import read_ir

            _, info = read_ir(source)
        else:
            from ..graph_file import read_graph

            _, info = read_graph(source)
    else:
        raise ReportedError(f"{source}: not a graph or engine (.onnx, OpenVINO's .xml, .plan, .engine)")
    if info.graph is not GraphKind.STEP or info.delay:
        raise ReportedError(f"{source}: model '{info.model}' does not stream frame by frame: it cannot be served")
    if not info.streams:
        raise ReportedError(
            f"{source}: this graph takes one stream (exported before step graphs took a batch): re-export it"
        )
    return info, backend, platform


def write_repository(
    source: Path,
    repository: Path,
    name: str,
    streams: int,
    device: str,
    native_size: tuple[int, int] | None = None,
    site_packages: list[Path] = (),
) -> list[Path]:
    """The model folders written under `repository` (replacing ones of the same name); everything
    is checked before anything is written."""
    source = Path(source)
    info, backend, platform = read_served_model(source, streams)
    files = _model_files(source)
    for file in files:
        if not file.is_file():
            raise ReportedError(f"{file}: no such file")
    python_model = python_model_config(name, info, source.name, backend, device, streams)
    models = [(repository / name, python_model, files, None, {"model.py": model_py(list(site_packages))})]
    if native_size is not None:
        if platform is None:
            raise ReportedError(
                f"{source}: Triton's own backends run .onnx graphs and TensorRT engines, not this one ({parameter('native_size')})"
            )
        _check_native_size(info, native_size)
        native = f"{name}_native"
        target = "model.onnx" if platform == "onnxruntime_onnx" else "model.plan"
        models.append(
            (
                repository / native,
                native_model_config(native, info, platform, streams, native_size),
                [source],
                target,
                {},
            )
        )
    for model in models:
        _write_model(*model)
    return [folder for folder, *_ in models]


def _check_native_size(info: ModelInfo, size: tuple[int, int]) -> None:
    height, width = size
    info.check_frame(height, width)
    if width % info.size_multiple or height % info.size_multiple:
        raise ReportedError(
            f"{parameter('native_size')} {width}x{height}: the graph runs frames whose sides are multiples of {info.size_multiple}"
        )


def _write_model(folder: Path, config: dict, files: list[Path], rename: str | None, texts: dict[str, str]) -> None:
    """config.pbtxt and version 1 holding `files` (the first renamed to `rename`) and `texts`
    ({name: content}), written beside it and then put in place of an earlier model of the name."""
    staging = folder.parent / f".{folder.name}.staging"  # what a killed export left goes first
    shutil.rmtree(staging, ignore_errors=True)
    version = staging / "1"
    try:
        version.mkdir(parents=True)
        (staging / "config.pbtxt").write_text(model_config_text(config))
        for k, file in enumerate(files):
            shutil.copy2(file, version / (rename if rename and k == 0 else file.name))
        for name, text in texts.items():
            (version / name).write_text(text)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
