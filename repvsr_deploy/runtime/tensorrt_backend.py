"""TensorRT backend for the session API, for engines of either flavour: execute_async_v3 with tensor
addresses, input shapes set per frame size, the recurrent state resident on the GPU.

The state lives in two sets of device buffers per frame size; each step reads one set and writes
the other (ping-pong), so it never leaves the GPU and no copy moves it. CUDA graphs: a streaming
TensorRT engine is captured once per (frame size, set), after one direct run, and replayed; where
capture fails it runs directly. A TensorRT for RTX engine uses the library's own CUDA graphs
(whole-graph capture, which follows its JIT's shape-specialised kernels), and keeps what its JIT
compiles in the runtime cache. Bidirectional graphs run directly: their per-frame features live in
fresh buffers, which a captured graph could not address.
"""

from __future__ import annotations

import numpy as np

from ..errors import ReportedError
from ..modelinfo import GraphKind
from ..trt import cuda
from ..trt.engine import load_engine
from ..trt.flavors import TensorRTForRTX
from ..trt.profiles import Profile, select_profile
from ..trt.runtime_cache import RuntimeCache, runtime_cache_path
from .arrays import host_array
from .runner import GraphRunner


class TensorRTBackend(GraphRunner):
    name = "tensorrt"
    device = "cuda"

    def __init__(
        self, engine_path, trust_host_code: bool = False, cuda_graphs: bool = True, stream: cuda.Stream | None = None
    ):
        self.path = engine_path
        loaded = load_engine(engine_path, trust_host_code)
        self.engine, self.trt, self.flavor = loaded.engine, loaded.trt, loaded.flavor
        sidecar = loaded.sidecar
        self.info = sidecar.info
        self.profiles = [Profile(name, (height, width)) for name, height, width in sidecar.key.profiles]
        self.max_streams = sidecar.key.streams
        self.runtime_cache: RuntimeCache | None = None
        if isinstance(self.flavor, TensorRTForRTX):
            self.name = "tensorrt-rtx"
            self.context = self._rtx_context(loaded.gpu, loaded.compute_capability)
            cuda_graphs = False  # the library captures its own
        else:
            self.context = self.engine.create_execution_context()
        self._owns_stream = stream is None  # twins share the stream of the one opened first
        self.stream = stream or cuda.Stream()
        self.output = self.info.graph.output
        self.cuda_graphs = cuda_graphs and self.info.graph is GraphKind.STEP
        self.graph_fallback: str | None = None  # why CUDA graphs are off, where capture failed
        self._shape: tuple[int, int, int] | None = None  # (streams, height, width) prepared

    def _rtx_context(self, gpu: str, capability: str):
        config = self.engine.create_runtime_config()
        self.runtime_cache = RuntimeCache(config, runtime_cache_path(self.trt.__version__, gpu, capability))
        if self.info.graph is GraphKind.STEP:
            config.cuda_graph_strategy = self.trt.CudaGraphStrategy.WHOLE_GRAPH_CAPTURE
        return self.engine.create_execution_context(config)

    @property
    def execution_mode(self) -> str:
        """How frames run, in words (`repvsr-trt run` prints it)."""
        if isinstance(self.flavor, TensorRTForRTX):
            return "TensorRT for RTX's own CUDA graphs" if self.info.graph is GraphKind.STEP else "direct execution"
        if self.cuda_graphs:
            return "CUDA graphs"
        return (
            f"direct execution, CUDA graph capture failed: {self.graph_fallback}"
            if self.graph_fallback
            else "direct execution"
        )

    # -- shapes and buffers, once per frame size ---------------------------------------------------

    def _dtype(self, name: str):
        return np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(name)))

    def _buffer(self, name: str, shape) -> cuda.DeviceBuffer:
        return cuda.DeviceBuffer(shape, self._dtype(name))

    def _prepare(self, height: int, width: int, streams: int = 1) -> None:
        """Select the profile, set the input shapes, allocate the buffers of this many streams of this
        size: once per (streams, size) (the CUDA graphs captured on them stay valid), the last one's freed."""
        if self._shape == (streams, height, width):
            return
        if streams > self.max_streams:
            raise ReportedError(
                f"{self.path}: built for at most {self.max_streams} stream(s) a run, not {streams}; "
                f"rebuild with repvsr-trt build --streams {streams}"
            )
        self._free_size()
        profile = select_profile(self.profiles, (height, width), str(self.path))
        self.context.set_optimization_profile_async(profile, self.stream.ptr)
        lr_shape = (streams, 3, height, width)
        self.context.set_input_shape("lr", lr_shape)
        if self.info.graph is GraphKind.FORWARD:
            self.context.set_input_shape("feature", self._feature_shape(height, width))
        states = self.info.states
        for spec in states:
            self.context.set_input_shape(spec.input_name, spec.shape(height, width, streams))
        self._state_sets = [
            [self._buffer(s.input_name, s.shape(height, width, streams)) for s in states] for _ in range(2)
        ]
        self._lr = self._buffer("lr", lr_shape)
        self._lr_host = cuda.PinnedArray(lr_shape, self._dtype("lr"))
        out_shape = tuple(self.context.get_tensor_shape(self.output))
        self._out_shape = out_shape
        if self.output == "hr":
            self._hr = self._buffer("hr", out_shape)
            self._hr_host = cuda.PinnedArray(out_shape, self._dtype("hr"))
        self._graphs: dict[int, cuda.CudaGraph | None] = {}
        self._shape = (streams, height, width)

    def _feature_shape(self, height: int, width: int) -> tuple[int, ...]:
        channels = self.engine.get_tensor_shape("feature")[1]
        return (1, channels, height, width)

    # -- the GraphRunner methods -----------------------------------------------------------------------

    def zero_state(self, height: int, width: int) -> list:
        self._prepare(height, width)
        for buffer in self._state_sets[0]:
            buffer.zero(self.stream)
        return self._state_sets[0]  # the set itself: `run` tells the two sets apart by identity

    def load_state(self, arrays: list[np.ndarray]) -> list:
        """The state of as many streams as the arrays hold (their dimension 0)."""
        spec = self.info.states[0]
        height, width = (size // spec.scale for size in arrays[0].shape[-2:])
        self._prepare(height, width, arrays[0].shape[0])
        state = self._state_sets[0]
        for buffer, array in zip(state, arrays):
            buffer.upload(array, self.stream)
        return state

    def upload(self, array: np.ndarray) -> cuda.DeviceBuffer:
        return cuda.DeviceBuffer(array.shape, self._dtype("lr")).upload(array, self.stream)

    def to_host(self, value: cuda.DeviceBuffer) -> np.ndarray:
        return host_array(value.download(self.stream))

    def _run(self, lr, state: list, feature, download: bool) -> tuple:
        side = 0 if state is self._state_sets[0] else 1
        next_state = self._state_sets[1 - side]
        if isinstance(lr, np.ndarray):
            if (lr.shape[0], *lr.shape[-2:]) != self._shape:
                raise ReportedError(f"{self.path}: frame size or streams changed without a new zero state")
            self._lr_host.array[...] = lr
            self._lr_host.upload(self._lr, self.stream)
        else:  # an uploaded frame: a copy on the device, into the address the CUDA graph reads
            self._lr.copy_from(lr, self.stream)
        out = self._hr if self.output == "hr" else self._buffer("feature", self._out_shape)
        self._bind(state, next_state, out, feature)
        self._execute(side)
        if self.output == "feature" or not download:
            return out, next_state
        self._hr_host.download(self._hr, self.stream)
        self.stream.synchronize()
        return host_array(self._hr_host.array).copy(), next_state

    def synchronize(self) -> None:
        self.stream.synchronize()

    def _release(self) -> None:
        """Free what the backend holds: its CUDA graphs, device and pinned buffers, execution context,
        engine and (if it made it) its stream; TensorRT for RTX's runtime cache is saved first, so what
        its JIT compiled is kept. Twins sharing a stream: the one that made it destroys it."""
        self.stream.synchronize()
        if self.runtime_cache is not None:
            self.runtime_cache.save()
        self._free_size()
        self.context = self.engine = None
        if self._owns_stream:
            self.stream.destroy()

    def _free_size(self) -> None:
        """The graphs and buffers of the frame size prepared last, freed."""
        if self._shape is None:
            return
        for graph in self._graphs.values():
            if graph is not None:
                graph.destroy()
        buffers: list = [*self._state_sets[0], *self._state_sets[1], self._lr, self._lr_host]
        if self.output == "hr":
            buffers += [self._hr, self._hr_host]
        for buffer in buffers:
            buffer.free()
        self._shape = None

    def _bind(self, state, next_state, out, feature) -> None:
        set_address = self.context.set_tensor_address
        set_address("lr", self._lr.ptr)
        set_address(self.output, out.ptr)
        if feature is not None:
            set_address("feature", feature.ptr)
        for spec, current, following in zip(self.info.states, state, next_state):
            set_address(spec.input_name, current.ptr)
            set_address(spec.output_name, following.ptr)

    def _execute(self, side: int) -> None:
        if not self.cuda_graphs:
            self._enqueue()
            return
        if side not in self._graphs:
            self._enqueue()  # one direct run first: TensorRT allocates on its first enqueue per shape
            try:
                self._graphs[side] = cuda.CudaGraph(self._enqueue, self.stream)
            except ReportedError as exc:
                self.graph_fallback = str(exc)
                self.cuda_graphs = False
            return
        graph = self._graphs[side]
        assert graph is not None
        graph.launch(self.stream)

    def _enqueue(self) -> None:
        if not self.context.execute_async_v3(self.stream.ptr):
            raise ReportedError(f"{self.path}: TensorRT failed to run the engine")
