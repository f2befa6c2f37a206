"""Official BasicSR checkpoints made here: the public architectures' key names and shapes (BasicSR's
spynet_arch, basicvsr_arch and edvr_arch) with random values, so that imports are tested without a
download."""

import torch


def conv(out, inp, k=3):
    return {"weight": (out, inp, k, k), "bias": (out,)}


def add(shapes, name, spec):
    shapes.update({f"{name}.{part}": shape for part, shape in spec.items()})


def spynet_shapes(prefix=""):
    """BasicSR SpyNet: basic_module[6] of Sequential(conv 8-32-64-32-16-2, 7x7, ReLUs at odd indices)."""
    shapes = {}
    widths = [8, 32, 64, 32, 16, 2]
    for level in range(6):
        for i, (cin, cout) in enumerate(zip(widths, widths[1:])):
            add(shapes, f"{prefix}basic_module.{level}.basic_module.{2 * i}", conv(cout, cin, 7))
    return shapes


def basicvsr_shapes(c=64, blocks=30):
    shapes = spynet_shapes("spynet.")
    for branch in ("backward", "forward"):
        add(shapes, f"{branch}_trunk.main.0", conv(c, c + 3))
        for i in range(blocks):
            add(shapes, f"{branch}_trunk.main.2.{i}.conv1", conv(c, c))
            add(shapes, f"{branch}_trunk.main.2.{i}.conv2", conv(c, c))
    add(shapes, "fusion", conv(c, 2 * c, 1))
    add(shapes, "upconv1", conv(4 * c, c))
    add(shapes, "upconv2", conv(4 * 64, c))
    add(shapes, "conv_hr", conv(64, 64))
    add(shapes, "conv_last", conv(3, 64))
    return shapes


def edvr_shapes(c=64, frames=5, groups=8, extract=5, reconstruct=10):
    shapes = {}
    add(shapes, "conv_first", conv(c, 3))
    for i in range(extract):
        add(shapes, f"feature_extraction.{i}.conv1", conv(c, c))
        add(shapes, f"feature_extraction.{i}.conv2", conv(c, c))
    for name in ("conv_l2_1", "conv_l2_2", "conv_l3_1", "conv_l3_2"):
        add(shapes, name, conv(c, c))
    dcn = {
        "weight": (c, c, 3, 3),
        "bias": (c,),
        "conv_offset.weight": (27 * groups, c, 3, 3),
        "conv_offset.bias": (27 * groups,),
    }
    for level in (3, 2, 1):
        add(shapes, f"pcd_align.offset_conv1.l{level}", conv(c, 2 * c))
        add(shapes, f"pcd_align.offset_conv2.l{level}", conv(c, c if level == 3 else 2 * c))
        if level < 3:
            add(shapes, f"pcd_align.offset_conv3.l{level}", conv(c, c))
            add(shapes, f"pcd_align.feat_conv.l{level}", conv(c, 2 * c))
        add(shapes, f"pcd_align.dcn_pack.l{level}", dcn)
    add(shapes, "pcd_align.cas_offset_conv1", conv(c, 2 * c))
    add(shapes, "pcd_align.cas_offset_conv2", conv(c, c))
    add(shapes, "pcd_align.cas_dcnpack", dcn)
    for name, spec in [
        ("temporal_attn1", conv(c, c)),
        ("temporal_attn2", conv(c, c)),
        ("feat_fusion", conv(c, frames * c, 1)),
        ("spatial_attn1", conv(c, frames * c, 1)),
        ("spatial_attn2", conv(c, 2 * c, 1)),
        ("spatial_attn3", conv(c, c)),
        ("spatial_attn4", conv(c, c, 1)),
        ("spatial_attn5", conv(c, c)),
        ("spatial_attn_l1", conv(c, c, 1)),
        ("spatial_attn_l2", conv(c, 2 * c)),
        ("spatial_attn_l3", conv(c, c)),
        ("spatial_attn_add1", conv(c, c, 1)),
        ("spatial_attn_add2", conv(c, c, 1)),
    ]:
        add(shapes, f"fusion.{name}", spec)
    for i in range(reconstruct):
        add(shapes, f"reconstruction.{i}.conv1", conv(c, c))
        add(shapes, f"reconstruction.{i}.conv2", conv(c, c))
    add(shapes, "upconv1", conv(4 * c, c))
    add(shapes, "upconv2", conv(4 * 64, c))
    add(shapes, "conv_hr", conv(64, 64))
    add(shapes, "conv_last", conv(3, 64))
    return shapes


def random_weights(shapes, seed=0):
    """float32 values, as checkpoints hold them."""
    gen = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=gen) * 0.05 for name, shape in shapes.items()}
