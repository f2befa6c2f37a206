"""TensorRT for RTX's runtime cache: the kernels its JIT compiles for this GPU when an engine is
loaded, kept on disk (one file per GPU and library version, under the toolkit's cache folder,
beside TensorRT's timing caches) so that the next load skips the compilation."""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_path
from ..errors import ReportedError
from ..user_cache import cache_dir, slug


def runtime_cache_path(library_version: str, gpu: str, capability: str) -> Path:
    return cache_dir() / f"tensorrt-rtx-{library_version}-{slug(gpu)}-sm{capability.replace('.', '')}.runtime"


class RuntimeCache:
    """The cache of one runtime config: read from `path` when made, written back by `save`."""

    def __init__(self, runtime_config, path: Path):
        self.path = path
        self.cache = runtime_config.create_runtime_cache()
        if path.is_file():
            self.cache.deserialize(path.read_bytes())  # the library ignores a cache of another GPU or version
        runtime_config.set_runtime_cache(self.cache)

    def save(self) -> None:
        """Write what the JIT compiled so far; a cache that cannot be written costs a recompile, nothing else."""
        try:
            with atomic_path(self.path) as tmp:
                tmp.write_bytes(bytes(self.cache.serialize()))
        except (OSError, ReportedError):
            pass
