"""The resampling custom ops the models call (repvsr::sample_bilinear, upsample_bilinear, resize_bilinear):
the functions they stand for, in value and gradient, and one GridSample or Resize node each in ONNX."""

import onnx
import pytest
import torch
import torch.nn.functional as F

from repvsr_deploy.export import resize, warp
from repvsr_deploy.models.resize import resize_bilinear, upsample_bilinear
from repvsr_deploy.models.warp import sample_bilinear

pytestmark = pytest.mark.fast  # the tier `make check` runs

CASES = {
    "sample_bilinear": (
        lambda x, g: sample_bilinear(x, g, "zeros"),
        lambda x, g: F.grid_sample(x, g, mode="bilinear", padding_mode="zeros", align_corners=False),
    ),
    "upsample_bilinear": (
        lambda x, g: upsample_bilinear(x, 3),
        lambda x, g: F.interpolate(x, scale_factor=3, mode="bilinear", align_corners=False),
    ),
    "resize_bilinear": (
        lambda x, g: resize_bilinear(x, 4, 9, True),
        lambda x, g: F.interpolate(x, size=(4, 9), mode="bilinear", align_corners=True),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_are_torchs(name):
    ours, theirs = CASES[name]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64, generator=gen, requires_grad=True)
    grid = (torch.rand(2, 6, 8, 2, dtype=torch.float64, generator=gen) * 2.4 - 1.2).requires_grad_()
    weight = torch.randn_like(theirs(x, grid))
    expected = torch.autograd.grad((theirs(x, grid) * weight).sum(), [x, grid], allow_unused=True)
    got = torch.autograd.grad((ours(x, grid) * weight).sum(), [x, grid], allow_unused=True)
    assert torch.equal(ours(x, grid), theirs(x, grid))
    for e, g in zip(expected, got):
        assert (e is None and g is None) or torch.allclose(e, g, rtol=1e-12, atol=1e-12)


class _Resampling(torch.nn.Module):
    def forward(self, x, grid):
        height, width = x.shape[-2:]
        y = sample_bilinear(x, grid, "border")
        return upsample_bilinear(y, 2), resize_bilinear(y, height + 1, width // 2, False)


def test_each_is_one_node_in_onnx_and_runs_there_as_in_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    x, grid = torch.rand(1, 3, 8, 10), torch.rand(1, 8, 10, 2) * 2 - 1
    h, w = torch.export.Dim("H", min=4, max=64), torch.export.Dim("W", min=4, max=64)
    program = torch.onnx.export(
        _Resampling().eval(),
        (x, grid),
        input_names=["x", "grid"],
        dynamic_shapes=({2: h, 3: w}, {1: h, 2: w}),
        opset_version=19,
        custom_translation_table={**resize.TRANSLATIONS, **warp.TRANSLATIONS},
        dynamo=True,
        verbose=False,
    )
    nodes = program.model_proto.graph.node
    assert [n.op_type for n in nodes if n.op_type in ("GridSample", "Resize")] == ["GridSample", "Resize", "Resize"]
    attributes = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in nodes]
    assert {"mode": b"bilinear", "padding_mode": b"border", "align_corners": 0}.items() <= attributes[
        [n.op_type for n in nodes].index("GridSample")
    ].items()
    session = ort.InferenceSession(program.model_proto.SerializeToString())
    x, grid = torch.rand(1, 3, 13, 21), torch.rand(1, 13, 21, 2) * 2.2 - 1.1  # another size than traced
    for got, expected in zip(session.run(None, {"x": x.numpy(), "grid": grid.numpy()}), _Resampling()(x, grid)):
        assert got.shape == tuple(expected.shape)
        assert abs(got - expected.numpy()).max() < 1e-5
