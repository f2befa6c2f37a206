"""repvsr-eval at real sizes: frames read, degraded and measured one at a time (memory flat in the
sequence's length), the BD degradation in float32 as exact as float64 at 8 bits, and every layout
the docs name."""

import json
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F
from footage import camera_like, make_clip
from helpers import run_cli

from repvsr_deploy.data.degrade import KERNEL, degrade, gaussian_taps
from repvsr_deploy.demo import GRAPH


def test_bd_is_the_2d_blur_at_the_kept_pixels_and_float32_is_within_a_level():
    frames = torch.from_numpy((camera_like(2, 180, 320) * 255 + 0.5).astype(np.uint8)).permute(0, 3, 1, 2) / 255.0
    hr = frames.double()
    kernel = torch.outer(gaussian_taps(), gaussian_taps()).expand(3, 1, KERNEL, KERNEL)
    blurred = F.conv2d(F.pad(hr, [KERNEL // 2] * 4, mode="reflect"), kernel, groups=3)  # blur everything
    reference = blurred[..., 2::4, 2::4]  # then keep pixel 4i+2
    assert (degrade(hr) - reference).abs().max() < 1e-12
    levels = [(x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).int() for x in (degrade(frames.float()), reference)]
    difference = levels[0] - levels[1]
    assert difference.abs().max() <= 1 and (difference != 0).float().mean() < 1e-4


def peak_rss_mb(*args) -> float:
    """repvsr-eval run in a process of its own; its peak resident memory."""
    script = (
        "import resource, sys\nfrom repvsr_deploy.cli.eval import main\nsys.argv = ['repvsr-eval', *sys.argv[1:]]\n"
        "try:\n    main()\nfinally:\n    print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return int(result.stderr.rsplit("peak", 1)[1]) / 1024


def test_memory_does_not_grow_with_the_sequence(tmp_path):
    (tmp_path / "GT").mkdir()
    make_clip(tmp_path / "GT" / "clip.mp4", 30, 320, 180)
    short = peak_rss_mb(tmp_path, GRAPH, "--frames", 5, "--format", "json")
    long = peak_rss_mb(tmp_path, GRAPH, "--frames", 30, "--format", "json")
    assert long - short < 40, (short, long)  # MB; a sequence held whole would add 30 x 320x180 frames and more


def test_a_sequence_folder_may_hold_one_video(tmp_path):
    for folder in ("GT/walk", "LR/walk"):
        (tmp_path / folder).mkdir(parents=True)
    make_clip(tmp_path / "GT" / "walk" / "walk.mp4", 4, 96, 64)
    make_clip(tmp_path / "GT" / "talk.mkv", 4, 96, 64)
    make_clip(tmp_path / "LR" / "walk" / "walk.mp4", 4, 24, 16)
    result = run_cli("repvsr-eval", tmp_path, GRAPH, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert {(r["sequence"], r["frames"]) for r in rows if r["model"] == "bicubic"} == {
        ("talk", 4),
        ("walk", 4),
        ("average", 8),
    }
    (tmp_path / "LR" / "walk" / "again.mp4").write_bytes((tmp_path / "LR" / "walk" / "walk.mp4").read_bytes())
    two = run_cli("repvsr-eval", tmp_path, GRAPH)
    assert two.returncode == 1 and "holds 2 videos" in two.stderr and two.stderr.count("\n") == 1, two.stderr
