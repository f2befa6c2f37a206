"""The loop on real footage: repvsr-upscale, repvsr-train, repvsr-eval, degradations and the demo data."""

import importlib.util
import math
import shutil
from dataclasses import replace

import av
import numpy as np
import pytest
import torch
from helpers import make_video, run_cli

from repvsr_deploy.data.degrade import degrade, gaussian_taps
from repvsr_deploy.data.synthetic import camera_clip, photo
from repvsr_deploy.data.training_sets import ArraySequence
from repvsr_deploy.metrics import psnr, ssim
from repvsr_deploy.models import build_model, save_checkpoint
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.train.clips import ClipDataset
from repvsr_deploy.train.recipes import REPVSR, compute_loss
from repvsr_deploy.video.scenes import SceneCuts
from repvsr_deploy.video.upscale import upscale_frames


@pytest.fixture(scope="module")
def onnx_model(exported):
    return exported("repvsr")[1]


def streams(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        info = {s.type for s in container.streams}, video.width, video.height, video.codec_context.colorspace
        return (*info, sum(1 for _ in container.decode(video=0)))


def test_upscale_keeps_frames_audio_and_colour(tmp_path, onnx_model):
    make_video(tmp_path / "in.mp4", frames=6, width=48, height=32)
    result = run_cli("repvsr-upscale", tmp_path / "in.mp4", tmp_path / "out.mkv", "--onnx", onnx_model)
    assert result.returncode == 0, result.stderr
    types, width, height, colorspace, frames = streams(tmp_path / "out.mkv")
    assert (width, height, frames) == (192, 128, 6) and "audio" in types and colorspace == 1  # BT.709 kept


def test_odd_sized_input_and_a_frame_range(tmp_path, onnx_model):
    make_video(tmp_path / "odd.mp4", frames=6, width=49, height=33, audio=False)
    result = run_cli(
        "repvsr-upscale", tmp_path / "odd.mp4", tmp_path / "out.mp4", "--onnx", onnx_model, "--start", 2, "--frames", 3
    )
    assert result.returncode == 0, result.stderr
    assert streams(tmp_path / "out.mp4")[1:3] == (196, 132) and streams(tmp_path / "out.mp4")[-1] == 3


def test_image_folders_in_and_out(tmp_path, onnx_model):
    make_video(tmp_path / "in.mp4", frames=3, width=40, height=24, audio=False)
    assert run_cli("repvsr-upscale", tmp_path / "in.mp4", tmp_path / "frames", "--onnx", onnx_model).returncode == 0
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert run_cli("repvsr-upscale", tmp_path / "frames", tmp_path / "again.mp4", "--onnx", onnx_model).returncode == 0
    assert streams(tmp_path / "again.mp4")[1:3] == (640, 384)


@pytest.mark.parametrize("case", ["missing", "corrupt"])
def test_bad_input_fails_in_one_line_and_writes_nothing(tmp_path, onnx_model, case):
    source = tmp_path / "in.mp4"
    if case == "corrupt":
        source.write_bytes(b"not a video at all")
    before = set(tmp_path.iterdir())
    result = run_cli("repvsr-upscale", source, tmp_path / "out.mp4", "--onnx", onnx_model)
    assert result.returncode != 0 and result.stderr.count("\n") == 1
    assert ("no such video file" if case == "missing" else "not a readable video") in result.stderr
    assert set(tmp_path.iterdir()) == before


class CountingSession:
    """Stands in for a session: HR = the LR frame repeated 4x, as levels; counts resets."""

    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1

    def run_levels(self, frames, dtype):
        for frame in frames:
            yield frame.transpose(1, 2, 0).repeat(4, axis=0).repeat(4, axis=1).astype(dtype)


def test_state_resets_at_scene_cuts():
    dark, bright = np.full((16, 16, 3), 20, np.uint8), np.full((16, 16, 3), 230, np.uint8)
    session = CountingSession()
    out = list(upscale_frames(session, [dark, dark, bright, bright], SceneCuts(0.25)))
    assert session.resets == 2 and len(out) == 4 and out[2].shape == (64, 64, 3) and out[2][0, 0, 0] == 230
    session = CountingSession()
    list(upscale_frames(session, [dark, dark, bright, bright]))
    assert session.resets == 1


def test_psnr_by_hand_and_ssim_of_identical_frames():
    target = np.full((16, 16, 3), 100, np.uint8)
    output = np.full((16, 16, 3), 110, np.uint8)
    assert psnr(output, target) == pytest.approx(10 * math.log10(255**2 / 100))  # 28.1308 dB
    assert ssim(target, target) == pytest.approx(1.0)


def test_bd_degradation():
    taps = gaussian_taps()
    assert taps.shape == (13,) and float(torch.outer(taps, taps).sum()) == pytest.approx(1.0)
    flat = torch.full((2, 3, 32, 48), 0.5)
    lr = degrade(flat, "bd")
    assert lr.shape == (2, 3, 8, 12) and torch.allclose(lr, torch.full_like(lr, 0.5))
    assert degrade(flat, "bi").shape == (2, 3, 8, 12)


def test_camera_clips_move_and_are_reproducible():
    image = photo("astronaut")
    a = camera_clip(image, 4, (64, 64), np.random.default_rng(1))
    b = camera_clip(image, 4, (64, 64), np.random.default_rng(1))
    assert a.shape == (4, 64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert np.abs(a[0].astype(int) - a[3].astype(int)).mean() > 1  # the camera moved


def test_a_few_iterations_reduce_the_loss():
    torch.manual_seed(0)
    model = build_model("repvsr")
    clips = [camera_clip(photo("chelsea"), 4, (64, 64), np.random.default_rng(s)) for s in range(3)]
    dataset = ClipDataset([ArraySequence(str(i), c) for i, c in enumerate(clips)], 3, 8, "bd", seed=0)

    def batch(first: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = zip(*(dataset[n] for n in range(first, first + 4)))
        return torch.stack(lr).float() / 255, torch.stack(hr).float() / 255

    fixed = batch(0)
    recipe = replace(REPVSR, lr=1e-3)

    def loss_on_fixed():
        with torch.no_grad():
            return float(compute_loss(recipe, model, *fixed)[0])

    before = loss_on_fixed()
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    for step in range(15):
        loss, _ = compute_loss(recipe, model, *batch(4 + 4 * step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss_on_fixed() < 0.7 * before


def test_train_writes_a_checkpoint_that_exports_and_resumes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    make_video(data / "a.mp4", frames=4, width=64, height=64, audio=False)
    args = [
        "repvsr-train",
        data,
        "--patch",
        8,
        "--clip-frames",
        2,
        "--batch",
        2,
        "--save-every",
        2,
        "-o",
        tmp_path / "run.pth",
    ]
    first = run_cli(*args, "--iterations", 2)
    assert first.returncode == 0, first.stderr
    resumed = run_cli(*args, "--iterations", 4, "--resume")
    assert resumed.returncode == 0 and "after 4 iterations" in resumed.stdout, resumed.stderr
    state = torch.load(tmp_path / "run.pth", weights_only=True)["training"]
    assert state["iteration"] == 4 and state["optimizer"]["state"]
    verify = ("--verify-size", "48x32", "--verify-frames", "2")  # the checkpoint is what is tested here
    exported = run_cli("repvsr-export", tmp_path / "run.pth", "--onnx", "-o", tmp_path / "run.onnx", *verify)
    assert exported.returncode == 0, exported.stderr
    # --init: another run from these weights, at iteration 0 (a vanishing LR keeps them as they were)
    init = run_cli(*args[:-1], tmp_path / "init.pth", "--iterations", 1, "--init", tmp_path / "run.pth", "--lr", 1e-12)
    assert init.returncode == 0, init.stderr
    started, trained = (torch.load(tmp_path / name, weights_only=True) for name in ("init.pth", "run.pth"))
    assert started["training"]["iteration"] == 1
    assert all(torch.allclose(started["state_dict"][k], v, atol=1e-8) for k, v in trained["state_dict"].items())


def test_demo_clips_fit_photographs_smaller_than_the_window():
    """chelsea is 300 px high; the default --patch 64 asks for 320 px HR clips and a margin."""
    from repvsr_deploy.data.synthetic import camera_clip, photo

    clip = camera_clip(photo("chelsea"), 12, (320, 320), np.random.default_rng(0))
    assert clip.shape == (12, 320, 320, 3) and clip.std() > 10


def test_eval_exported_graph_loses_under_0_01_db(tmp_path, exported):
    gt = tmp_path / "vid" / "GT"
    (gt).mkdir(parents=True)
    make_video(gt / "clip.mp4", frames=4, width=96, height=64, audio=False)
    model, graph = exported("repvsr")  # the model in its training form, and its graph
    save_checkpoint(model, tmp_path / "m.pth")
    shutil.copy(graph, tmp_path / "m.onnx")
    result = run_cli(
        "repvsr-eval", tmp_path / "vid", tmp_path / "m.pth", tmp_path / "m.onnx", "--unfused", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    import json

    rows = {r["model"]: r for r in json.loads(result.stdout)["rows"] if r["sequence"] == "average"}
    unfused, fused, graph = (
        rows[f"m.{k}"]["psnr"] for k in ("pth (torch, unfused)", "pth (torch, fused)", "onnx (onnxruntime)")
    )
    assert abs(fused - unfused) < 0.01 and abs(graph - unfused) < 0.01
    assert rows["bicubic"]["frames"] == 4


def test_y_psnr_by_hand_and_the_cropped_border():
    target = np.zeros((16, 16, 3), np.uint8)
    output = target.copy()
    output[..., 0] = 10  # red alone: Y moves by 65.481 x 10 / 255 (BT.601), RGB's MSE is 100 / 3
    assert psnr(output, target, "y") == pytest.approx(20 * math.log10(255 / (65.481 * 10 / 255)))  # 39.931 dB
    assert psnr(output, target) == pytest.approx(10 * math.log10(255**2 / (100 / 3)))  # 32.902 dB
    framed = output.copy()
    framed[:2], framed[-2:], framed[:, :2], framed[:, -2:] = 255, 255, 255, 255
    assert psnr(framed, target, "y", crop_border=2) == pytest.approx(psnr(output, target, "y"))
    assert ssim(framed, target, "y", crop_border=2) == pytest.approx(ssim(output, target, "y"))
    assert ssim(target, target, "y") == pytest.approx(1.0)


def test_eval_reports_y_psnr_as_computed_by_hand(tmp_path):
    import json

    from PIL import Image

    from repvsr_deploy.demo import CHECKPOINT
    from repvsr_deploy.evaluate import bicubic

    rng = np.random.default_rng(0)
    gt = (rng.random((2, 64, 96, 3)) * 255).astype(np.uint8)
    lr = (rng.random((2, 16, 24, 3)) * 255).astype(np.uint8)
    for name, frames in (("GT", gt), ("LR", lr)):
        (tmp_path / "vid" / name / "seq").mkdir(parents=True)
        for t, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp_path / "vid" / name / "seq" / f"{t:03d}.png")
    result = run_cli(
        "repvsr-eval", tmp_path / "vid", CHECKPOINT, "--channel", "y", "--crop-border", 0, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    row = next(r for r in json.loads(result.stdout)["rows"] if r["model"] == "bicubic" and r["sequence"] == "seq")

    def y(frames):
        return 16 + frames.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255

    up = np.stack(list(bicubic(iter(lr))))
    by_hand = np.mean([10 * math.log10(255**2 / np.mean((y(u) - y(g)) ** 2)) for u, g in zip(up, gt)])
    assert (row["psnr"], row["channel"], row["crop_border"]) == (pytest.approx(by_hand, abs=1e-9), "y", 0)
    table = run_cli("repvsr-eval", tmp_path / "vid", CHECKPOINT, "--channel", "y", "--crop-border", 4)
    assert "PSNR and SSIM on the Y channel of BT.601 YCbCr, 4 border pixels cropped" in table.stdout, table.stderr
    refused = run_cli("repvsr-eval", tmp_path / "vid", CHECKPOINT, "--crop-border", 30)
    assert refused.returncode != 0 and "--crop-border" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize("instructions", ["AMX", None])
def test_the_demo_runs_in_int8_on_openvino_where_the_cpu_has_int8_dot_products(monkeypatch, instructions):
    pytest.importorskip("openvino")
    from repvsr_deploy.demo import GRAPH, INT8_OPENVINO, demo_model_for, why_this_precision
    from repvsr_deploy.runtime import cpu_features

    monkeypatch.setattr(cpu_features, "int8_dot_product", lambda: instructions)
    assert demo_model_for("openvino") == (INT8_OPENVINO if instructions else GRAPH)
    assert demo_model_for("onnxruntime") == GRAPH
    said = why_this_precision(demo_model_for("openvino"), "openvino")
    assert said == ("this CPU has AMX" if instructions else "no int8 dot products (VNNI, AMX) on this CPU")
    assert why_this_precision(GRAPH, "onnxruntime") == ""  # fp32 there whatever the CPU


def test_the_shipped_int8_model_was_checked_on_held_out_footage_and_follows_the_fp32_graph():
    """Its metadata says what `repvsr-quantize` checked (a clip it was not calibrated on, within 0.1
    dB), and here it runs as that check said: close to the fp32 graph on a moving picture."""
    pytest.importorskip("openvino")
    from repvsr_deploy.clips import moving_clip
    from repvsr_deploy.demo import GRAPH, INT8_OPENVINO
    from repvsr_deploy.runtime.frame_layout import hwc_levels
    from repvsr_deploy.runtime.openvino_backend import read_ir
    from repvsr_deploy.runtime.session import open_session

    _, info = read_ir(INT8_OPENVINO)
    made = info.quantization
    assert info.precision == "int8" and made["for"] == "openvino"
    checked_on, calibrated_on = made["check"]["clip"].split("[")[0], made["calibration"]["sources"]
    assert made["check"]["frames"] >= 100 and all(not source.startswith(checked_on) for source in calibrated_on)
    assert made["check"]["psnr_fp32"] - made["check"]["psnr_quantized"] <= 0.1
    clip = moving_clip(6, 64, 96)
    with open_session(GRAPH, Backend.OpenVINO()) as fp32, open_session(INT8_OPENVINO, Backend.OpenVINO()) as int8:
        for frame in clip:
            assert psnr(hwc_levels(int8.step(frame)), hwc_levels(fp32.step(frame))) > 40


def test_the_demo_runs_on_the_fastest_backend_present_and_its_graph_is_its_checkpoint():
    from repvsr_deploy.clips import moving_clip
    from repvsr_deploy.demo import CHECKPOINT, GRAPH, INT8_OPENVINO, demo_model
    from repvsr_deploy.runtime.backends import fastest_backend
    from repvsr_deploy.runtime.cpu_features import int8_dot_product
    from repvsr_deploy.runtime.session import open_session

    backend, device = fastest_backend(engines=False)
    graph = INT8_OPENVINO if backend == "openvino" and int8_dot_product() else GRAPH
    assert demo_model() == ((CHECKPOINT if backend == "torch" else graph), backend, device)
    if not torch.cuda.is_available():  # the CPU order as measured: OpenVINO, else onnxruntime
        assert backend == ("openvino" if importlib.util.find_spec("openvino") else "onnxruntime")
    clip = moving_clip(4, 36, 44)
    shipped, checkpoint = (
        open_session(path, b) for path, b in ((GRAPH, Backend.OnnxRuntime("cpu")), (CHECKPOINT, Backend.Torch("cpu")))
    )
    for frame in clip:  # the shipped graph is the checkpoint's export, step for step
        assert np.abs(shipped.step(frame) - checkpoint.step(frame)).max() < 1e-4
