"""repvsr-eval --report: a folder a person opens from disk. Its page names only files that are there,
its crops are the regions its rule states (checked against the GT, bicubic and the model's own
frames), its plots' data are its table's, its video decodes with every frame; an existing folder
is replaced only with --overwrite, and a failed run leaves none. A headless browser loads it all
where Debian's chromium is installed."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import av
import numpy as np
import pytest
from footage import camera_like, make_clip
from helpers import run_cli
from PIL import Image

from repvsr_deploy.demo import GRAPH
from repvsr_deploy.eval_report import CROP, GAP, TEMPORAL_CAP, ZOOM, crop_places, temporal_psnr
from repvsr_deploy.evaluate import bicubic, degraded, through
from repvsr_deploy.runtime import Backend
from repvsr_deploy.runtime.session import open_session

pytest.importorskip("onnxruntime")
pytest.importorskip("matplotlib")
FRAMES, WIDTH, HEIGHT = 6, 200, 192  # crops on a 2x2 grid of 96-pixel windows
MODEL = "repvsr-demo.onnx (onnxruntime)"


@pytest.mark.fast
def test_temporal_psnr_compares_frame_differences():
    rng = np.random.default_rng(0)
    gt0, gt1 = (rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(2))
    assert temporal_psnr(gt1, gt0, gt1, gt0) == TEMPORAL_CAP
    brighter = np.clip(gt1.astype(int) + 10, 0, 255).astype(np.uint8)  # a flicker: this frame 10 levels up
    expected = 10 * np.log10(255**2 / np.mean(((brighter.astype(int) - gt0) - (gt1.astype(int) - gt0)) ** 2))
    assert temporal_psnr(brighter, gt0, gt1, gt0) == pytest.approx(expected)
    same_offset = np.clip(gt0.astype(int) + 10, 0, 255).astype(np.uint8)
    assert temporal_psnr(brighter, same_offset, gt1, gt0) > temporal_psnr(brighter, gt0, gt1, gt0)  # steady: no flicker


@pytest.mark.fast
def test_crops_go_where_the_detail_is():
    frame = np.full((192, 288, 3), 128, np.uint8)
    frame[96:, 192:] = np.random.default_rng(1).integers(0, 256, (96, 96, 3))  # noise: the most detail
    frame[:96, 96:192:2] = 0  # stripes: some
    assert crop_places(frame) == (96, [(0, 96), (96, 192)])
    assert crop_places(frame, border=8) == (96, [(8, 104), (88, 184)])  # only where the table measures
    assert crop_places(frame[:40]) == (40, [(0, 120), (0, 160)])  # a frame lower than a crop: the stripes


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """DATA/GT: a folder of PNG frames and a video (lossless), textured and moving."""
    root = tmp_path_factory.mktemp("data")
    folder = root / "GT" / "pictures"
    folder.mkdir(parents=True)
    for index, frame in enumerate(camera_like(FRAMES, HEIGHT, WIDTH)):
        Image.fromarray((frame * 255 + 0.5).astype(np.uint8)).save(folder / f"{index:03d}.png")
    make_clip(root / "GT" / "clip.mkv", FRAMES, WIDTH, HEIGHT, codec="ffv1", pix_fmt="yuv444p")
    return root


@pytest.fixture(scope="module")
def report(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports") / "rep"
    result = run_cli("repvsr-eval", data, GRAPH, "--report", folder)
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


class _Sources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.files, self.cells = [], []

    def handle_starttag(self, tag, attrs):
        self.files += [value for name, value in attrs if name in ("src", "href")]

    def handle_data(self, text):
        self.cells.append(text)


def test_the_page_names_only_files_that_are_there_and_every_file_is_shown(report):
    folder, _ = report
    page = _Sources()
    page.feed((folder / "index.html").read_text())
    assert page.files and all((folder / name).is_file() for name in page.files)
    shown = set(page.files) | {"index.html", "data.json"}
    assert sorted(p.name for p in folder.iterdir()) == sorted(shown)
    assert (
        sum(name.endswith(".mp4") for name in page.files) == 2
        and sum(name.endswith(".png") for name in page.files) == 12
    )


def test_the_crops_are_the_stated_regions_of_gt_bicubic_and_the_model(report, data):
    folder, _ = report
    sequence = next(s for s in json.loads((folder / "data.json").read_text())["sequences"] if s["name"] == "pictures")
    gts = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((data / "GT" / "pictures").iterdir())]
    lrs = [degraded(gt, "bd") for gt in gts]
    with open_session(GRAPH, Backend.OnnxRuntime()) as session:
        model = list(through(session)(iter(lrs)))[-1]
    last_bicubic = list(bicubic(iter(lrs)))[-1]
    side, places = crop_places(gts[-1])
    assert sequence["crop_frame"] == FRAMES - 1 and [(c["top"], c["left"]) for c in sequence["crops"]] == places
    assert side == CROP and {c["side"] for c in sequence["crops"]} == {CROP}
    assert len(places) == 2
    for number, (top, left) in enumerate(places):
        window = np.s_[top : top + CROP, left : left + CROP]
        row = np.asarray(Image.open(folder / f"pictures-crop{number + 1}-1x.png"))
        panels = [row[:, k * (CROP + GAP) : k * (CROP + GAP) + CROP] for k in range(3)]
        for panel, expected in zip(panels, (last_bicubic[window], model[window], gts[-1][window])):
            assert np.array_equal(panel, expected)
        assert not np.array_equal(panels[0], panels[1])  # the model is not bicubic
        zoomed = np.asarray(Image.open(folder / f"pictures-crop{number + 1}-{ZOOM}x.png"))
        assert np.array_equal(zoomed[::ZOOM, : CROP * ZOOM : ZOOM], panels[0])


def test_the_plots_data_are_the_tables_numbers(report):
    folder, printed = report
    data = json.loads((folder / "data.json").read_text())
    page = _Sources()
    page.feed((folder / "index.html").read_text())
    cells = [c.strip() for c in page.cells if c.strip()]
    for sequence in data["sequences"]:
        for model, series in sequence["models"].items():
            assert len(series["psnr_rgb"]) == FRAMES and len(series["temporal"]) == FRAMES - 1
            mean = np.mean(series["psnr_rgb"])
            at = next(k for k in range(len(cells) - 2) if cells[k] == sequence["name"] and cells[k + 1] == model)
            assert cells[at + 3] == f"{mean:.3f}" and cells[at + 7] == f"{np.mean(series['temporal']):.3f}"
            # the command's own table (RGB) says the same
            assert re.search(rf"{re.escape(sequence['name'])}\s+{re.escape(model)}\s+{FRAMES}\s+{mean:.3f}", printed)
    means = data["mean"][MODEL]
    assert means["psnr_rgb"] == pytest.approx(np.mean([s["means"][MODEL]["psnr_rgb"] for s in data["sequences"]]))
    assert means["psnr_rgb"] > data["mean"]["bicubic"]["psnr_rgb"]


def test_the_video_is_bicubic_beside_the_model_and_decodes_every_frame(report, data):
    folder, _ = report
    with av.open(str(folder / "clip-side-by-side.mp4")) as video:
        stream = video.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(stream)]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
    assert len(frames) == FRAMES and frames[0].shape == (HEIGHT, 2 * WIDTH + GAP, 3)
    left, right = frames[-1][:, :WIDTH].astype(float), frames[-1][:, WIDTH + GAP :].astype(float)
    assert np.abs(left - right).mean() > 0.5  # two different upscalers, side by side
    with av.open(str(data / "GT" / "clip.mkv")) as clip:
        gt = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)][-1]
    with open_session(GRAPH, Backend.OnnxRuntime()) as session:
        lrs = []
        with av.open(str(data / "GT" / "clip.mkv")) as clip:
            lrs = [degraded(f.to_ndarray(format="rgb24"), "bd") for f in clip.decode(video=0)]
        model = list(through(session)(iter(lrs)))[-1]
    bicubic_last = list(bicubic(iter(lrs)))[-1]
    assert gt.shape == model.shape
    # bicubic on the left, the model on the right (through H.264 at crf 18, 4:2:0)
    assert np.abs(left - bicubic_last).mean() < np.abs(left - model).mean()
    assert np.abs(right - model).mean() < np.abs(right - bicubic_last).mean()


def test_an_existing_folder_is_replaced_only_with_overwrite_and_a_failure_leaves_none(data, tmp_path):
    folder = tmp_path / "rep"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    refused = run_cli("repvsr-eval", data, GRAPH, "--report", folder, "--frames", 2)
    assert refused.returncode == 1 and "a folder that is not empty" in refused.stderr and refused.stdout == ""
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    (folder / "notes.txt").unlink()
    (folder / "index.html").write_text("an older report")
    (folder / "data.json").write_text(json.dumps({"report": "repvsr-eval", "command": "repvsr-eval old"}))
    replaced = run_cli("repvsr-eval", data, GRAPH, "--report", folder, "--frames", 2, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert "repvsr-eval report" in (folder / "index.html").read_text()
    failed = run_cli("repvsr-eval", data, tmp_path / "missing.onnx", "--report", tmp_path / "new")
    assert failed.returncode == 1 and not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no staging left
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "a.png").write_bytes(b"")
    refused = run_cli("repvsr-eval", data, GRAPH, "--report", pictures, "--frames", 2, "--overwrite")
    assert refused.returncode == 1 and "holds more than a report of repvsr-eval" in refused.stderr
    assert [p.name for p in pictures.iterdir()] == ["a.png"]
    (folder / "figure-for-paper.png").write_bytes(b"")  # a file of the user's beside a report
    kept = run_cli("repvsr-eval", data, GRAPH, "--report", folder, "--frames", 2, "--overwrite")
    assert kept.returncode == 1 and (folder / "figure-for-paper.png").exists()


def test_a_sequence_that_fails_after_another_was_reported_leaves_no_report(tmp_path):
    data = tmp_path / "data" / "GT"
    (data / "b").mkdir(parents=True)
    make_clip(data / "a.mkv", 3, 64, 48, codec="ffv1")
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(data / "b" / "0.png")
    (data / "b" / "1.png").write_bytes(b"not a picture")
    failed = run_cli("repvsr-eval", tmp_path / "data", GRAPH, "--report", tmp_path / "rep")
    assert failed.returncode == 1 and "not a readable image" in failed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_odd_names_one_frame_and_small_frames_make_a_valid_report(tmp_path):
    """A name with $, <, & and quotes (HTML, matplotlib's maths), a sequence of one frame (no
    temporal PSNR), frames lower than a crop, two models of one file name."""
    name = 'a $\\alpha$ <b>&"x"'
    data = tmp_path / "data" / "GT"
    (data / name).mkdir(parents=True)
    Image.fromarray((camera_like(1, 48, 64)[0] * 255).astype(np.uint8)).save(data / name / "0.png")
    make_clip(data / "two.mkv", 2, 64, 48, codec="ffv1")
    copy = tmp_path / "copy" / GRAPH.name
    copy.parent.mkdir()
    shutil.copy(GRAPH, copy)
    folder = tmp_path / "rep"
    result = run_cli("repvsr-eval", tmp_path / "data", GRAPH, copy, "--report", folder)
    assert result.returncode == 0, result.stderr
    data_json = json.loads((folder / "data.json").read_text())  # strict JSON: no NaN
    one = next(s for s in data_json["sequences"] if s["name"] == name)
    assert one["means"]["bicubic"]["temporal"] is None and one["crops"][0]["side"] == 48
    assert str(GRAPH) in " ".join(one["models"]) and str(copy) in " ".join(one["models"])
    page = (folder / "index.html").read_text()
    assert "&lt;b&gt;&amp;&quot;x&quot;" in page and "<b>&" not in page
    assert "<td>–</td>" in page  # the temporal PSNR of one frame
    assert data_json["mean"]["bicubic"]["temporal"] is not None  # from the sequence that has one


def test_an_out_file_inside_the_report_folder_is_refused_before_any_work(data, tmp_path):
    for out in (tmp_path / "rep", tmp_path / "rep" / "table.json"):
        refused = run_cli("repvsr-eval", data, GRAPH, "--report", tmp_path / "rep", "--out", out)
        assert refused.returncode == 2 and "--out would be written where --report's folder goes" in refused.stderr
    assert list(tmp_path.iterdir()) == []


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_a_headless_browser_shows_every_picture_and_video(report):
    folder, _ = report
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom",
         (folder / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert 'data-images="12/12"' in dom.stdout and 'data-videos="2/2"' in dom.stdout, dom.stdout[-2000:]


@pytest.mark.fast
def test_the_quality_pages_numbers_are_its_reports():
    """docs/quality.md quotes the report kept beside it (docs/quality-report/data.json)."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    data = json.loads((docs / "quality-report" / "data.json").read_text())
    page = (docs / "quality.md").read_text()
    for model, row in zip(data["mean"], [r for r in page.splitlines() if r.startswith("| ") and "---" not in r][1:4]):
        means = data["mean"][model]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1:] == [
            f"{means[k]:{f}}"
            for k, f in (
                ("psnr_rgb", ".3f"),
                ("ssim_rgb", ".4f"),
                ("psnr_y", ".3f"),
                ("ssim_y", ".4f"),
                ("temporal", ".3f"),
            )
        ], (model, row)
    assert data["command"] in page.replace("\\\n", "")
