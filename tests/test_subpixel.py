"""Work at the output resolution done at LR in sub-pixel form (`models.subpixel`): the bilinear x4
of the LR frame and of the flow, and the flow's sampling grid, equal what they replace (F.interpolate
and a grid built at full size), borders included, and a frame-recurrent model's recurrence with
them equals the recurrence without them."""

import pytest
import torch
import torch.nn.functional as F
from helpers import make_nontrivial

from repvsr_deploy.models import build_model, frame_recurrent, fuse, layers
from repvsr_deploy.models.subpixel import (
    bilinear_phase_weights,
    bilinear_phases,
    phase_convolution,
    upsample_bilinear_subpixel,
    upsampled_flow_grid_by_phase,
)
from repvsr_deploy.models.warp import flow_warp, warped_space_to_depth

TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5}


def interpolated(x, scale):
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def warped_at_full_size(image, flow, scale):
    """What the step computed before: the flow upsampled to full size, the grid built there, the
    warped image then put into space-to-depth form."""
    flow = flow.float() if flow.dtype == torch.float16 else flow
    return F.pixel_unshuffle(flow_warp(image, scale * interpolated(flow, scale)), scale)


@pytest.mark.fast
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("size", [(1, 1), (1, 5), (7, 9), (13, 22)])
@pytest.mark.parametrize("scale", [2, 4])
def test_bilinear_upsampling_at_lr_equals_interpolate(dtype, size, scale):
    x = torch.rand(2, 3, *size, dtype=dtype, generator=torch.Generator().manual_seed(0))
    assert (upsample_bilinear_subpixel(x, scale) - interpolated(x, scale)).abs().max() <= TOLERANCE[dtype] / 10
    assert bilinear_phases(x, scale).shape == (2, 3 * scale * scale, *size)


@pytest.mark.fast
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_flows_sampling_grid_at_lr_warps_as_the_full_size_one(dtype):
    generator = torch.Generator().manual_seed(1)
    flow = (torch.rand(2, 2, 7, 9, dtype=dtype, generator=generator) - 0.5) * 30  # well past the borders
    image = torch.rand(2, 3, 28, 36, dtype=dtype, generator=generator)
    expected = warped_at_full_size(image, flow, 4)
    assert (warped_space_to_depth(image, flow, 4) - expected).abs().max() <= TOLERANCE[dtype]
    grid = upsampled_flow_grid_by_phase(flow, 4)
    assert grid.shape == (2, 16 * 7, 9, 2)
    sampled = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    assert torch.equal(sampled.reshape(2, 48, 7, 9), warped_space_to_depth(image, flow, 4))


@pytest.mark.parametrize("name", ["repvsr", "frvsr"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_recurrence_in_sub_pixel_form_equals_the_full_size_one(monkeypatch, name, dtype):
    """8 frames of 13x22 (no multiple of 16), fused and random: every HR frame within tolerance."""
    torch.manual_seed(0)
    model = fuse(make_nontrivial(build_model(name))).eval().to(dtype)
    frames = torch.rand(8, 1, 3, 13, 22, dtype=dtype)

    def run():
        lr_prev, hr_prev = model.init_state(frames[0])
        out = []
        with torch.no_grad():
            for lr in frames:
                hr, lr_prev, hr_prev = model.step(lr, lr_prev, hr_prev)
                out.append(hr)
        return torch.stack(out)

    sub_pixel = run()
    calls = []

    def counted(function):
        return lambda *args: calls.append(function.__name__) or function(*args)

    monkeypatch.setattr(frame_recurrent, "warped_space_to_depth", counted(warped_at_full_size))
    monkeypatch.setattr(layers, "upsample_bilinear_subpixel", counted(interpolated))
    full_size = run()
    assert sorted(set(calls)) == ["interpolated", "warped_at_full_size"] and len(calls) == 16  # the old way ran
    assert (sub_pixel - full_size).abs().max() <= TOLERANCE[dtype]
    assert sub_pixel.abs().max() > 0.1  # frames, not zeros


@pytest.mark.fast
def test_phase_convolution_is_a_well_formed_op():
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    weight = bilinear_phase_weights(4, torch.float64).repeat(3, 1, 1, 1)
    torch.library.opcheck(phase_convolution, (x, weight, 3))
    assert torch.autograd.gradcheck(lambda t: phase_convolution(t, weight, 3), (x,))


@pytest.mark.fast
def test_int8_keeps_the_interpolation_float_by_its_shape_alone():
    """The shipped graph with the exporter's node metadata dropped (as some ONNX tools drop it): the
    phase convolutions are still found, and the sampling walk passes them to the flow head."""
    import onnx

    from repvsr_deploy.demo import GRAPH
    from repvsr_deploy.quantize.float_scope import DEFAULT_RULES, float_nodes

    graph = onnx.load(GRAPH)
    for node in graph.graph.node:
        del node.metadata_props[:]
    kept = float_nodes(graph, DEFAULT_RULES)
    assert {(n.name, n.rule) for n in kept if n.op == "Conv"} == {
        ("node_conv2d_13", "sampling"),  # the flow head
        ("node_phase_convolution", "interpolation"),  # the flow's x4
        ("node_phase_convolution_1", "interpolation"),  # the base frame's x4
    }
    hr = next(n for n in graph.graph.node if graph.graph.output[0].name in n.output)  # the residual's Add
    carried = {n.op for n in kept if n.rule == "interpolation" and n.op not in ("Conv", "Pad")}
    assert carried == {"DepthToSpace", "Add"} and hr.name in {n.name for n in kept}  # the base, float to its sum
