"""repvsr-deploy: re-parameterizable video super-resolution, from checkpoint to engine.

`upscale` and `upscaled_frames` do what `repvsr-upscale` does (`repvsr_deploy.upscaling` holds
their options). Everything below loads lazily, so that the runtime path (`repvsr_deploy.runtime`,
`repvsr_deploy.trt`) imports on machines without torch.
"""

__version__ = "0.1.0"

_LAZY = {
    "build_model": "repvsr_deploy.models",
    "fuse": "repvsr_deploy.models",
    "count_params": "repvsr_deploy.models",
    "count_flops": "repvsr_deploy.bench.flops",
    "upscale": "repvsr_deploy.upscaling",
    "upscaled_frames": "repvsr_deploy.upscaling",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'repvsr_deploy' has no attribute {name!r}")
