"""Images read at their bit depth and channel layout: 16-bit grayscale, gray + alpha, RGBA, palette."""

import importlib.util

import numpy as np
import pytest
from helpers import run_cli
from PIL import Image

from repvsr_deploy.data.sequences import list_sequences
from repvsr_deploy.data.training_sets import open_training_data
from repvsr_deploy.demo import GRAPH
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.video.source import read_image

pytestmark = pytest.mark.fast  # the tier `make check` runs


def gray_levels(height=40, width=48) -> np.ndarray:
    """16-bit levels of a smooth pattern that uses the whole range, dark and bright."""
    y, x = np.mgrid[:height, :width]
    return (32767.5 + 32767.5 * np.sin(x / 5.0) * np.cos(y / 7.0)).round().astype(np.uint16)


def test_16_bit_grayscale_is_read_at_16_bits_not_as_white(tmp_path):
    levels = gray_levels()
    Image.fromarray(levels).save(tmp_path / "g.png")
    rgb = read_image(tmp_path / "g.png")
    assert rgb.dtype == np.uint16 and rgb.shape == (40, 48, 3)
    assert all(np.array_equal(rgb[..., c], levels) for c in range(3))


def test_training_and_evaluation_read_16_bit_frames_as_rounded_8_bit_levels(tmp_path):
    sequence = tmp_path / "data" / "seq"
    sequence.mkdir(parents=True)
    for index in range(2):
        Image.fromarray(gray_levels()).save(sequence / f"{index}.png")
    (indexed,) = open_training_data([tmp_path / "data"]).train
    frames = indexed.read(0, 2)
    assert frames.dtype == np.uint8 and frames.shape == (2, 40, 48, 3)
    assert np.abs(frames[0, ..., 0] - gray_levels() / 257).max() <= 0.5
    assert frames.std() > 50  # the pattern, not a white page


def test_alpha_opaque_everywhere_is_dropped_and_transparency_refused(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    opaque = np.full((16, 20, 1), 255, np.uint8)
    Image.fromarray(np.concatenate([rgb, opaque], 2), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.concatenate([gray[..., None], opaque], 2), "LA").save(tmp_path / "la.png")
    assert np.array_equal(read_image(tmp_path / "rgba.png"), rgb)
    assert np.array_equal(read_image(tmp_path / "la.png"), np.repeat(gray[..., None], 3, 2))
    seethrough = opaque.copy()
    seethrough[3, 4] = 0
    Image.fromarray(np.concatenate([rgb, seethrough], 2), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.concatenate([gray[..., None], seethrough], 2), "LA").save(tmp_path / "la.png")
    palette = Image.fromarray(gray).convert("P")
    palette.info["transparency"] = int(np.asarray(palette)[3, 4])
    palette.save(tmp_path / "p.png", transparency=palette.info["transparency"])
    for name in ("rgba.png", "la.png", "p.png"):
        with pytest.raises(ReportedError, match="has transparent pixels"):
            read_image(tmp_path / name)


# OpenVINO where installed: its levels are made inside the graph (`Session.run_levels`)
GRAPH_BACKEND = ("--graph-backend", "openvino") if importlib.util.find_spec("openvino") else ()


def test_upscale_of_a_16_bit_gray_folder_matches_its_8_bit_twin(tmp_path):
    """The demo's fp32 graph through repvsr-upscale: the 16-bit frames come out as their 8-bit twins
    do (within a level), where they used to come out all white. (Its int8 model, the default where
    the CPU has VNNI or AMX, may round a quantization step the other way for the two.)"""
    for depth in (8, 16):
        folder = tmp_path / f"in{depth}"
        folder.mkdir()
        levels = gray_levels()
        image = Image.fromarray(levels if depth == 16 else ((levels.astype(np.uint32) + 128) // 257).astype(np.uint8))
        for index in range(2):
            image.save(folder / f"{index}.png")
        result = run_cli("repvsr-upscale", folder, tmp_path / f"out{depth}", "--onnx", GRAPH, *GRAPH_BACKEND)
        assert result.returncode == 0, result.stderr
    for index in range(2):
        wide, narrow = (np.asarray(Image.open(tmp_path / f"out{d}" / f"{index:06d}.png"), np.int16) for d in (16, 8))
        assert narrow.std() > 50 and np.abs(wide - narrow).max() <= 2


def test_a_transparent_image_is_refused_by_the_commands_in_one_line(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGBA", (40, 40), (10, 20, 30, 128)).save(folder / "0.png")
    result = run_cli("repvsr-upscale", folder, tmp_path / "out")
    assert result.returncode == 1 and "has transparent pixels" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_hidden_entries_are_not_sequences_or_frames(tmp_path):
    """A writer's leftover staging (`.name.staging-*`) is neither a sequence nor a frame."""
    (tmp_path / "seq").mkdir()
    (tmp_path / ".seq.staging-1234-x").mkdir()
    for folder in ("seq", ".seq.staging-1234-x"):
        Image.new("RGB", (16, 16)).save(tmp_path / folder / "0.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "seq" / "._0.png")
    assert list_sequences(tmp_path) == [tmp_path / "seq"]
    (indexed,) = open_training_data([tmp_path]).train
    assert indexed.frames == ("0.png",) and indexed.read(0, 1).shape == (1, 16, 16, 3)
