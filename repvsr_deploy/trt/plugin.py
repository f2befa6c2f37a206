"""`repvsr::FlowGuidedDeformConv`, our TensorRT plugin for KSNet's MFDA, through TensorRT's Python
plugin API with an ahead-of-time Triton kernel (see dcn_kernel): TensorRT embeds the PTX in the
engine, which then runs without Python or Triton. Importing this module registers the plugin; the
builder does so when a graph holds the op (`repvsr-export --dcn plugin`).

Why this route rather than a C++/CUDA library: the package builds nothing at install time (no nvcc
on users' machines), the kernel is one Python function that the tests run on the CPU with
TRITON_INTERPRET=1 against the torch reference, and AOT keeps Python out of the engine.
"""

import numpy as np
import numpy.typing as npt
import tensorrt as trt
import tensorrt.plugin as trtp

from .dcn_kernel import BLOCKS, compile_for_tensorrt, ptx_target
from .plugin_op import PLUGIN_ID

_DTYPES = {trt.float32: "fp32", trt.float16: "fp16"}

# The attributes are declared as 1-element arrays: TensorRT 10.x turns a scalar-typed attribute into
# Python with int(field.data) on a 1-element array, which NumPy >= 2.4 refuses; arrays pass as they are.
OffsetGroups = npt.NDArray[np.int32]
MaxResidue = npt.NDArray[np.float32]


@trtp.register(PLUGIN_ID)
def flow_guided_deform_conv_desc(
    x: trtp.TensorDesc,
    residual: trtp.TensorDesc,
    mask_logits: trtp.TensorDesc,
    flow: trtp.TensorDesc,
    weight: trtp.TensorDesc,
    bias: trtp.TensorDesc,
    offset_groups: OffsetGroups,
    max_residue: MaxResidue,
) -> trtp.TensorDesc:
    out = x.like()
    out.shape_expr[1] = weight.shape_expr[0]
    return out


@trtp.aot_impl(PLUGIN_ID)
def flow_guided_deform_conv_aot(
    x: trtp.TensorDesc,
    residual: trtp.TensorDesc,
    mask_logits: trtp.TensorDesc,
    flow: trtp.TensorDesc,
    weight: trtp.TensorDesc,
    bias: trtp.TensorDesc,
    offset_groups: OffsetGroups,
    max_residue: MaxResidue,
    outputs: tuple[trtp.TensorDesc],
    tactic: int,
) -> tuple[str | bytes, str | bytes, trtp.KernelLaunchParams, trtp.SymIntExprs]:
    out_channels, channels = weight.shape_expr[0].constant_value(), weight.shape_expr[1].constant_value()
    dtypes = {
        "x": x,
        "residual": residual,
        "mask": mask_logits,
        "flow": flow,
        "weight": weight,
        "bias": bias,
        "out": outputs[0],
    }
    name, ptx, threads, shared = compile_for_tensorrt(
        {key: _DTYPES[desc.dtype] for key, desc in dtypes.items()},
        channels,
        out_channels,
        int(offset_groups[0]),
        float(max_residue[0]),
        ptx_target(),
    )
    height, width = x.shape_expr[2], x.shape_expr[3]
    launch = trtp.KernelLaunchParams()
    launch.grid_x = trtp.cdiv(height * width, BLOCKS["BLOCK_P"])
    launch.grid_y = -(-out_channels // BLOCKS["BLOCK_O"])
    launch.grid_z = x.shape_expr[0]
    launch.block_x = threads
    launch.shared_mem = shared
    scalars = trtp.SymIntExprs(2)  # the kernel's `height, width`, between the inputs and the output
    scalars[0] = trtp.SymInt32(height)
    scalars[1] = trtp.SymInt32(width)
    return name, ptx, launch, scalars
