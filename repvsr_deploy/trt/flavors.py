"""The two TensorRT flavours. Their Python APIs mirror each other; what differs between them is
here, so that the builder, the engine loader and the session backend share everything else.

- TensorRT (`import tensorrt`; 10.x from 10.1, and 11.x): an engine is built on the GPU it will run
  on, for that GPU alone, with a timing cache. ONNX DeformConv becomes libnvinfer_plugin's
  ModulatedDeformConv2d, whose library must be initialised before parsing and before
  deserializing. Our Triton plugin (`--dcn plugin`) needs 10.9 (the Python AOT plugin API).
- TensorRT for RTX (`import tensorrt_rtx`): an engine is built ahead of time on any machine, GPU or
  not, for a set of compute capabilities (by default its portable set), and specialised for the
  GPU when it is loaded (just in time); the JIT's kernels persist in a runtime cache. Networks are
  strongly typed. It has no plugin library: deformable convolutions go in as `--dcn portable`.
"""

from __future__ import annotations

import importlib

from ..errors import GPU_INSTALL, ReportedError, first_sentence, parameter

FLAVOR_NAMES = ("tensorrt", "rtx")


class Flavor:
    name: str  # what --flavor and the sidecar say
    module: str  # what Python imports
    title: str
    install: str  # how to get it
    builds_on_gpu: bool  # TensorRT builds for the GPU at hand; TensorRT for RTX ahead of time, anywhere

    def import_library(self):
        version, problem = self.version()
        if version is None:
            raise ReportedError(f"{self.title} is not usable here ({problem}); {self.install}")
        return importlib.import_module(self.module)

    def version(self) -> tuple[str | None, str | None]:
        """(version, None) where the library imports, else (None, why not)."""
        try:
            return importlib.import_module(self.module).__version__, None
        except (ImportError, OSError) as exc:  # not installed, or the bindings without the libraries
            return None, first_sentence(exc)

    def strongly_typed_only(self, trt) -> bool:
        """True where every network is strongly typed: FP16 engines then come from FP16 graphs."""
        raise NotImplementedError

    def network_flags(self, trt, strongly_typed: bool) -> int:
        """The flags the network is created with."""
        raise NotImplementedError

    def init_plugins(self, trt, logger) -> None:
        """Register the plugin creators the parser and the runtime look up."""
        raise NotImplementedError

    def compute_capabilities(self, trt, text: str) -> tuple[str, ...]:
        """The GPUs an engine is built for ahead of time (TensorRT for RTX)."""
        raise ReportedError(f"{parameter('compute_capabilities')}: {self.title} builds for the GPU at hand")

    def set_compute_capabilities(self, trt, config, capabilities: tuple[str, ...]) -> None:
        """Set them on the build's config (TensorRT for RTX)."""


class TensorRT(Flavor):
    name, module, title = "tensorrt", "tensorrt", "TensorRT"
    install = f"on a machine with an NVIDIA GPU, {GPU_INSTALL}"
    builds_on_gpu = True
    plugin_floor = (10, 9)  # tensorrt.plugin.aot_impl

    def strongly_typed_only(self, trt) -> bool:
        return major(trt.__version__) >= 11  # TensorRT 11 removed the precision builder flags

    def network_flags(self, trt, strongly_typed: bool) -> int:
        """TensorRT 11's networks are all strongly typed (its flag is deprecated and ignored)."""
        if not strongly_typed or major(trt.__version__) >= 11:
            return 0
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)

    def init_plugins(self, trt, logger) -> None:
        """libnvinfer_plugin's creators (ModulatedDeformConv2d for ONNX DeformConv), registered before
        the parser looks them up and before an engine holding them is deserialized."""
        trt.init_libnvinfer_plugins(logger, "")


class TensorRTForRTX(Flavor):
    name, module, title = "rtx", "tensorrt_rtx", "TensorRT for RTX"
    install = "pip install 'repvsr-deploy[rtx]' (builds on any machine; runs on an NVIDIA GPU, driver >= 580)"
    builds_on_gpu = False

    def strongly_typed_only(self, trt) -> bool:
        return True

    def network_flags(self, trt, strongly_typed: bool) -> int:
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)

    def init_plugins(self, trt, logger) -> None:
        """No plugin library comes with it."""

    def compute_capabilities(self, trt, text: str) -> tuple[str, ...]:
        """`8.6,8.9` -> ("8.6", "8.9"), each one TensorRT for RTX can build for; "" -> () (its default set)."""
        wanted = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        known = [name[2:-1] + "." + name[-1] for name in trt.ComputeCapability.__members__ if name.startswith("SM")]
        for capability in wanted:
            if capability not in known:
                raise ReportedError(
                    f"{parameter('compute_capabilities')} {capability}: {self.title} {trt.__version__} builds for {', '.join(known)}"
                )
        return wanted

    def set_compute_capabilities(self, trt, config, capabilities: tuple[str, ...]) -> None:
        if not capabilities:
            return  # the library's default, portable set
        config.num_compute_capabilities = len(capabilities)
        for index, capability in enumerate(capabilities):
            config.set_compute_capability(getattr(trt.ComputeCapability, "SM" + capability.replace(".", "")), index)


FLAVORS: dict[str, Flavor] = {"tensorrt": TensorRT(), "rtx": TensorRTForRTX()}


def flavor(name: str) -> Flavor:
    if name not in FLAVORS:
        raise ReportedError(f"unknown TensorRT flavour '{name}' (known: {', '.join(FLAVORS)})")
    return FLAVORS[name]


def major(version: str) -> int:
    return int(version.split(".")[0])


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())
