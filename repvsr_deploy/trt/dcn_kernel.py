"""FlowGuidedDeformConv as one Triton kernel: KSNet's D(O_n + s̄_n) (Eq. 12) without intermediates.

Per output pixel and tap it forms the offset max_residue * tanh(residual) + flow, the mask
sigmoid(mask logit), samples the input bilinearly (zero outside, as ONNX DeformConv) and
accumulates the 3x3 convolution as an implicit GEMM (tl.dot over channel blocks), so the offsets,
the mask and the [C x 9, H x W] column matrix never reach memory.

Argument order is TensorRT's for AOT plugins: the input tensors, the scalar arguments, the output.
The kernel imports only Triton; `repvsr_deploy.trt.plugin` compiles it for TensorRT, and tests run
it on the CPU with TRITON_INTERPRET=1.
"""

from dataclasses import dataclass

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget

BLOCKS = {"BLOCK_P": 64, "BLOCK_C": 16, "BLOCK_O": 64}  # pixels, input channels, output channels


@triton.jit
def _tanh(v):
    return 2.0 * tl.sigmoid(2.0 * v) - 1.0


@triton.jit
def _corner(channel_ptrs, y, x, height, width, inside):
    ok = inside & (y >= 0) & (y < height) & (x >= 0) & (x < width)
    return tl.load(channel_ptrs + y * width + x, mask=ok, other=0.0).to(tl.float32)


@triton.jit
def flow_guided_deform_conv_kernel(
    x_ptr,
    residual_ptr,
    mask_ptr,
    flow_ptr,
    weight_ptr,
    bias_ptr,
    height,
    width,
    out_ptr,
    C: tl.constexpr,
    O: tl.constexpr,  # noqa: E741  (output channels, as the kernel names its sizes)
    G: tl.constexpr,
    MAX_RESIDUE: tl.constexpr,
    HALF_DOT: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_O: tl.constexpr,
):
    pixel_block, out_block, n = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    plane = height * width
    pixels = pixel_block * BLOCK_P + tl.arange(0, BLOCK_P)
    pixel_ok = pixels < plane
    row = (pixels // width).to(tl.float32)
    col = (pixels % width).to(tl.float32)
    outs = out_block * BLOCK_O + tl.arange(0, BLOCK_O)
    out_ok = outs < O

    x_image = x_ptr + n * C * plane
    residual_image = residual_ptr + n * (18 * G) * plane
    mask_image = mask_ptr + n * (9 * G) * plane
    flow_x = tl.load(flow_ptr + n * 2 * plane + pixels, mask=pixel_ok, other=0.0).to(tl.float32)
    flow_y = tl.load(flow_ptr + n * 2 * plane + plane + pixels, mask=pixel_ok, other=0.0).to(tl.float32)

    acc = tl.zeros((BLOCK_P, BLOCK_O), dtype=tl.float32)
    for tap in range(9):
        for c0 in range(0, C, BLOCK_C):
            channels = c0 + tl.arange(0, BLOCK_C)
            channel_ok = channels < C
            inside = pixel_ok[:, None] & channel_ok[None, :]
            group_tap = (channels // (C // G)) * 9 + tap  # offsets and mask of each channel's group
            dy_raw = tl.load(
                residual_image + (2 * group_tap)[None, :] * plane + pixels[:, None], mask=inside, other=0.0
            )
            dx_raw = tl.load(
                residual_image + (2 * group_tap + 1)[None, :] * plane + pixels[:, None], mask=inside, other=0.0
            )
            mask_raw = tl.load(mask_image + group_tap[None, :] * plane + pixels[:, None], mask=inside, other=0.0)
            y = row[:, None] + (tap // 3 - 1) + MAX_RESIDUE * _tanh(dy_raw.to(tl.float32)) + flow_y[:, None]
            x = col[:, None] + (tap % 3 - 1) + MAX_RESIDUE * _tanh(dx_raw.to(tl.float32)) + flow_x[:, None]
            y0f, x0f = tl.floor(y), tl.floor(x)
            ly, lx = y - y0f, x - x0f
            y0, x0 = y0f.to(tl.int32), x0f.to(tl.int32)
            channel_ptrs = x_image + channels[None, :] * plane
            sampled = (
                _corner(channel_ptrs, y0, x0, height, width, inside) * (1 - ly) * (1 - lx)
                + _corner(channel_ptrs, y0, x0 + 1, height, width, inside) * (1 - ly) * lx
                + _corner(channel_ptrs, y0 + 1, x0, height, width, inside) * ly * (1 - lx)
                + _corner(channel_ptrs, y0 + 1, x0 + 1, height, width, inside) * ly * lx
            ) * tl.sigmoid(mask_raw.to(tl.float32))
            weights = tl.load(
                weight_ptr + outs[None, :] * (C * 9) + channels[:, None] * 9 + tap,
                mask=channel_ok[:, None] & out_ok[None, :],
                other=0.0,
            ).to(tl.float32)
            if HALF_DOT:
                acc += tl.dot(sampled.to(tl.float16), weights.to(tl.float16))
            else:
                acc += tl.dot(sampled, weights, input_precision="ieee")
    acc += tl.load(bias_ptr + outs, mask=out_ok, other=0.0).to(tl.float32)[None, :]
    out_ptrs = out_ptr + n * O * plane + outs[None, :] * plane + pixels[:, None]
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=pixel_ok[:, None] & out_ok[None, :])


def launch_grid(n: int, out_channels: int, height: int, width: int) -> tuple[int, int, int]:
    return triton.cdiv(height * width, BLOCKS["BLOCK_P"]), triton.cdiv(out_channels, BLOCKS["BLOCK_O"]), n


def flow_guided_deform_conv(x, residual, mask_logits, flow, weight, bias, offset_groups: int, max_residue: float):
    """Launch on torch tensors (a GPU, or the CPU with TRITON_INTERPRET=1): the reference's contract."""
    n, channels, height, width = x.shape
    out = x.new_empty(n, weight.shape[0], height, width)
    flow_guided_deform_conv_kernel[launch_grid(n, weight.shape[0], height, width)](
        x.contiguous(),
        residual.contiguous(),
        mask_logits.contiguous(),
        flow.contiguous(),
        weight.contiguous(),
        bias.contiguous(),
        height,
        width,
        out,
        C=channels,
        O=weight.shape[0],
        G=offset_groups,
        MAX_RESIDUE=max_residue,
        HALF_DOT=str(x.dtype) == "torch.float16",
        enable_fp_fusion=True,
        **BLOCKS,
    )
    return out


@dataclass(frozen=True)
class PtxTarget:
    """What the PTX is written for: the GPU's compute capability (90 for 9.0) and the PTX ISA version
    (84 for 8.4). TensorRT hands an AOT plugin's PTX to the driver, which compiles only the PTX ISA
    versions of its CUDA version and older: Triton by default writes its own (newer) ISA version."""

    capability: int
    ptx_version: int


def ptx_target() -> PtxTarget:
    """The GPU at hand, and the newest PTX ISA both its driver and Triton's compiler handle."""
    from triton.backends.nvidia.compiler import CUDAOptions, get_ptx_version_from_options, ptx_get_version

    from . import cuda

    _, capability = cuda.device()
    major, minor = cuda.driver_version()
    arch = int(capability.replace(".", ""))
    return PtxTarget(arch, min(ptx_get_version(f"{major}.{minor}"), get_ptx_version_from_options(CUDAOptions(), arch)))


def compile_for_tensorrt(
    dtypes: dict[str, str], channels: int, out_channels: int, offset_groups: int, max_residue: float, target: PtxTarget
) -> tuple[str, str, int, int]:
    """PTX of the kernel for TensorRT's AOT plugin: (kernel name, PTX, threads per block, shared bytes).

    `dtypes` maps x, residual, mask, flow, weight, bias, out to "fp32" or "fp16". The PTX targets
    `target.capability` (Triton's arch-specific variant from 9.0, e.g. sm_90a: TensorRT engines run
    on the GPU they were built on) in PTX ISA `target.ptx_version`.
    """
    pointers = ["x_ptr", "residual_ptr", "mask_ptr", "flow_ptr", "weight_ptr", "bias_ptr"]
    signature = {name: f"*{dtypes[name.removesuffix('_ptr')]}" for name in pointers}
    signature |= {"height": "i32", "width": "i32", "out_ptr": f"*{dtypes['out']}"}
    constants = dict(
        C=channels, O=out_channels, G=offset_groups, MAX_RESIDUE=max_residue, HALF_DOT=dtypes["x"] == "fp16", **BLOCKS
    )
    compiled = triton.compile(
        triton.compiler.ASTSource(fn=flow_guided_deform_conv_kernel, signature=signature, constexprs=constants),
        target=GPUTarget("cuda", target.capability, 32),
        options={"enable_fp_fusion": True, "ptx_version": target.ptx_version},
    )
    ptx = _with_exactly_tensorrts_arguments(compiled, len(signature))
    return compiled.metadata.name, ptx, compiled.metadata.num_warps * 32, compiled.metadata.shared


def _with_exactly_tensorrts_arguments(compiled, arguments: int) -> str:
    """Triton appends hidden scratch pointers to every kernel's parameters and its own launcher passes
    them; TensorRT passes exactly the inputs, the scalars and the outputs. Where the kernel uses no
    scratch, drop those declarations, so that the entry matches what TensorRT passes."""
    name, ptx, metadata = compiled.metadata.name, compiled.asm["ptx"], compiled.metadata
    start = ptx.index("(", ptx.index(f".entry {name}")) + 1
    end = ptx.index(")", start)
    params = [line for line in ptx[start:end].split(",") if line.strip()]
    hidden = params[arguments:]
    used = any(f"[{name}_param_{i}]" in ptx for i in range(arguments, len(params)))
    if hidden and (
        used or getattr(metadata, "global_scratch_size", None) or getattr(metadata, "profile_scratch_size", None)
    ):
        raise RuntimeError(f"{name} uses Triton scratch memory, which TensorRT's AOT plugins do not provide")
    return ptx[:start] + ",".join(params[:arguments]) + "\n" + ptx[end:]
