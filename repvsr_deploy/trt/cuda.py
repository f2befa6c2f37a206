"""The few CUDA runtime calls the TensorRT path needs, through cuda-python; no torch.

Every call is checked: a failure becomes a ReportedError naming the call and CUDA's reason.
"""

from __future__ import annotations

import ctypes
import shutil
from importlib import metadata

import numpy as np

from ..errors import MissingDependency, ReportedError


def runtime():
    """cuda-python's runtime module (cuda.bindings.runtime; `cuda.cudart` before 12.6). The one probe
    for cuda-python: `repvsr-trt check` asks it too."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise MissingDependency("cuda-python", "rtx", "running TensorRT engines") from None
    return cudart


def cuda_python_version() -> str | None:
    """The installed cuda-python's version, or None where its runtime module does not import."""
    try:
        runtime()
    except MissingDependency:
        return None
    for package in ("cuda-bindings", "cuda-python"):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return "unknown"


def driver_version() -> tuple[int, int]:
    """The CUDA version the installed driver supports, (major, minor): what PTX it can compile."""
    version = call("cudaDriverGetVersion")
    return version // 1000, version % 1000 // 10


def call(name: str, *args):
    """cudart.<name>(*args), its error checked; returns the remaining results."""
    cudart = runtime()
    err, *results = getattr(cudart, name)(*args)
    if err != cudart.cudaError_t.cudaSuccess:
        reason = cudart.cudaGetErrorString(err)[1].decode()
        raise ReportedError(f"CUDA {name} failed: {reason}")
    return results[0] if len(results) == 1 else tuple(results)


def device() -> tuple[str, str]:
    """(name, compute capability 'major.minor') of the current GPU; a clear error where there is none."""
    runtime()  # cuda-python missing: say so, not "no GPU"
    try:
        count = call("cudaGetDeviceCount")
    except ReportedError as exc:  # no driver: "CUDA driver version is insufficient", and the like
        if shutil.which("nvidia-smi") is None:
            raise ReportedError("no NVIDIA GPU here (no NVIDIA driver: nvidia-smi is not found)") from None
        raise ReportedError(f"no usable NVIDIA GPU here ({exc})") from None
    if not count:
        raise ReportedError("no NVIDIA GPU here (CUDA sees none)")
    props = call("cudaGetDeviceProperties", 0)
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return name.rstrip("\x00").strip(), f"{props.major}.{props.minor}"


class Stream:
    def __init__(self):
        self.handle = call("cudaStreamCreate")  # cudaStream_t, for cuda-python's calls
        self.ptr = int(self.handle)  # the raw handle, for TensorRT's calls

    def synchronize(self) -> None:
        call("cudaStreamSynchronize", self.handle)

    def destroy(self) -> None:
        """Wait for the stream's work, then destroy it."""
        if self.ptr:
            self.synchronize()
            call("cudaStreamDestroy", self.handle)
            self.ptr = 0


class DeviceBuffer:
    """Device memory for one tensor; cudaMalloc returns 256-byte aligned addresses, as TensorRT wants."""

    def __init__(self, shape: tuple[int, ...], dtype):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.nbytes = int(np.prod(shape)) * self.dtype.itemsize
        self.ptr = int(call("cudaMalloc", max(self.nbytes, 1)))

    def zero(self, stream: Stream) -> DeviceBuffer:
        call("cudaMemsetAsync", self.ptr, 0, self.nbytes, stream.handle)
        return self

    def copy_from(self, source: DeviceBuffer, stream: Stream) -> None:
        kind = runtime().cudaMemcpyKind.cudaMemcpyDeviceToDevice
        call("cudaMemcpyAsync", self.ptr, source.ptr, min(self.nbytes, source.nbytes), kind, stream.handle)

    def upload(self, array: np.ndarray, stream: Stream) -> DeviceBuffer:
        """`array` copied in (through pinned memory); returns when the copy is done."""
        host = PinnedArray(self.shape, self.dtype)
        host.array[...] = array
        host.upload(self, stream)
        stream.synchronize()
        return self

    def download(self, stream: Stream) -> np.ndarray:
        host = PinnedArray(self.shape, self.dtype)
        host.download(self, stream)
        stream.synchronize()
        return host.array.copy()

    def free(self) -> None:
        if getattr(self, "ptr", None):
            runtime().cudaFree(self.ptr)
            self.ptr = 0

    __del__ = free  # a buffer dropped without `free` (a backward feature) is freed when collected


class PinnedArray:
    """Page-locked host memory seen as a numpy array, for asynchronous copies."""

    def __init__(self, shape: tuple[int, ...], dtype):
        self.nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.ptr = int(call("cudaMallocHost", self.nbytes))
        raw = (ctypes.c_byte * self.nbytes).from_address(self.ptr)
        self.array = np.frombuffer(memoryview(raw), dtype=dtype).reshape(shape)

    def upload(self, device: DeviceBuffer, stream: Stream) -> None:
        kind = runtime().cudaMemcpyKind.cudaMemcpyHostToDevice
        call("cudaMemcpyAsync", device.ptr, self.ptr, self.nbytes, kind, stream.handle)

    def download(self, device: DeviceBuffer, stream: Stream) -> None:
        kind = runtime().cudaMemcpyKind.cudaMemcpyDeviceToHost
        call("cudaMemcpyAsync", self.ptr, device.ptr, self.nbytes, kind, stream.handle)

    def free(self) -> None:
        """Unpin and free; `array` is gone with it."""
        if getattr(self, "ptr", None):
            del self.array
            runtime().cudaFreeHost(self.ptr)
            self.ptr = 0

    __del__ = free


class CudaGraph:
    """What `enqueue(stream)` does, captured once and replayed with one launch."""

    def __init__(self, enqueue, stream: Stream):
        cudart = runtime()
        call("cudaStreamBeginCapture", stream.handle, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal)
        try:
            enqueue()
        finally:
            self.graph = call("cudaStreamEndCapture", stream.handle)
        try:
            self.exec = call("cudaGraphInstantiate", self.graph, 0)
        except ReportedError:
            call("cudaGraphDestroy", self.graph)
            raise

    def launch(self, stream: Stream) -> None:
        call("cudaGraphLaunch", self.exec, stream.handle)

    def destroy(self) -> None:
        if self.graph is not None:
            call("cudaGraphExecDestroy", self.exec)
            call("cudaGraphDestroy", self.graph)
            self.graph = None
