"""TensorRT for the step graphs: what the machine offers (environment), profiles, the builder and
its engine cache, loading engines, the session backend, and our deformable-conv plugin. No torch:
deployment machines are slim. Modules that need TensorRT, cuda-python or Triton import them when used.
"""

from .environment import Probe, probe

__all__ = ["Probe", "probe"]
