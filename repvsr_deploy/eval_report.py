"""An evaluation a person can look at: `repvsr-eval ... --report DIR` writes DIR/index.html, which
opens from disk (no server, no network), and beside it, per sequence:

- the per-frame PSNR of every model and bicubic as a plot (where the recurrence warms up, where a
  scene change hurts);
- the per-frame temporal PSNR as a plot: the PSNR of the output's frame difference against the
  GT's, out_t - out_{t-1} against gt_t - gt_{t-1} on RGB levels with the peak at 255. Flicker and
  ghosting move a frame against its neighbours, which per-frame PSNR averages away; this needs no
  learned weights (no flow network);
- crops of the last frame (the recurrence has warmed up most) at the CROPS most detailed places of
  its GT: of a grid of CROP x CROP windows (smaller where the frame is) over the area the table
  measures, from its top left (the last row and column flush with its far edges), those whose
  BT.601 luma has the largest variance of its 4-neighbour Laplacian. Each a row of panels, bicubic | each model | GT,
  at 1:1 and at ZOOMx nearest-neighbour;
- a side-by-side video, bicubic on the left and the first model on the right, of the first
  VIDEO_FRAMES frames at VIDEO_RATE fps, in H.264 yuv420p mp4 (what browsers play).

The table holds PSNR and SSIM on RGB and on Y with the run's border crop, per sequence and as the
mean over sequences, and the mean temporal PSNR; `data.json` holds every number the table and the
plots show. The folder appears whole when the run ends, or not at all.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .atomic import staged_folder
from .errors import ReportedError, parameter
from .headless_plot import pyplot
from .metrics import psnr, ssim, y_channel

CROP = 96  # GT pixels a side of a crop
CROPS = 2  # crops per sequence
ZOOM = 2  # the enlarged crops' nearest-neighbour factor
GAP = 4  # pixels between panels (white)
VIDEO_FRAMES = 100
VIDEO_RATE = 25
TEMPORAL_CAP = 100.0  # dB for a frame difference matched exactly (no finite PSNR)
REPORT_SUFFIXES = (".html", ".png", ".mp4", ".json")


def temporal_psnr(out: np.ndarray, previous_out: np.ndarray, gt: np.ndarray, previous_gt: np.ndarray) -> float:
    """PSNR (dB, peak 255) of the output's frame difference against the GT's, uint8 RGB frames."""
    error = (out.astype(np.int16) - previous_out) - (gt.astype(np.int16) - previous_gt)
    mse = float(np.mean(error.astype(np.float64) ** 2))
    return TEMPORAL_CAP if mse == 0 else min(TEMPORAL_CAP, 10 * np.log10(255.0**2 / mse))


def detail(window: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of an RGB window's BT.601 luma (its inner pixels)."""
    y = y_channel(window)
    laplacian = y[1:-1, :-2] + y[1:-1, 2:] + y[:-2, 1:-1] + y[2:, 1:-1] - 4 * y[1:-1, 1:-1]
    return float(laplacian.var())


def crop_places(
    gt: np.ndarray, size: int = CROP, count: int = CROPS, border: int = 0
) -> tuple[int, list[tuple[int, int]]]:
    """(side, [(top, left)...]): the `count` most detailed windows of a grid of `size` x `size`
    windows (smaller where the frame less its `border` is) from the measured area's top left, a
    last row and column flush with its far edges, by the rule above; ties keep the earlier window."""
    height, width = gt.shape[0] - 2 * border, gt.shape[1] - 2 * border
    side = min(size, height, width)
    places = [(border + top, border + left) for top in _steps(height, side) for left in _steps(width, side)]
    ranked = sorted(places, key=lambda p: -detail(gt[p[0] : p[0] + side, p[1] : p[1] + side]))
    return side, sorted(ranked[:count])


def _steps(length: int, side: int) -> list[int]:
    """Window starts every `side` pixels, and one flush with the end where the steps leave a remainder."""
    starts = list(range(0, length - side + 1, side))
    return starts + [length - side] if starts[-1] != length - side else starts


def side_by_side(panels: list[np.ndarray], zoom: int = 1) -> np.ndarray:
    """RGB panels of one height in a row, GAP white pixels between, each enlarged `zoom`x (nearest)."""
    scaled = [np.repeat(np.repeat(p, zoom, 0), zoom, 1) for p in panels]
    gap = np.full((scaled[0].shape[0], GAP, 3), 255, np.uint8)
    row = [scaled[0]]
    for panel in scaled[1:]:
        row += [gap, panel]
    return np.concatenate(row, axis=1)


@dataclass
class Series:
    """One model on one sequence, frame by frame."""

    psnr_rgb: list[float] = field(default_factory=list)
    ssim_rgb: list[float] = field(default_factory=list)
    psnr_y: list[float] = field(default_factory=list)
    ssim_y: list[float] = field(default_factory=list)
    temporal: list[float] = field(default_factory=list)  # from the second frame on

    def means(self) -> dict[str, float]:
        """Per measure, the mean over frames (NaN where there are none: temporal PSNR of one frame)."""
        return {name: _mean(values) for name, values in vars(self).items()}


def _mean(values: list[float]) -> float:
    """The mean of the numbers that are not NaN; NaN if none are."""
    kept = [v for v in values if not np.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


def _finite(numbers):
    """`numbers` (a dict of numbers or of lists of them) with NaN and infinities as None: strict
    JSON, which browsers parse."""
    if isinstance(numbers, dict):
        return {k: _finite(v) for k, v in numbers.items()}
    if isinstance(numbers, list):
        return [_finite(v) for v in numbers]
    return numbers if np.isfinite(numbers) else None


class SequenceRecord:
    """What a report keeps of one sequence as its models run: every frame's numbers, the last
    frame's HR frames (for the crops), and the side-by-side video."""

    def __init__(self, report: Report, name: str):
        self.report, self.name, self.file = report, name, report.file_name(name)
        self.last = 0  # the index of the last frame
        self.series: dict[str, Series] = {}
        self.kept: dict[str, np.ndarray] = {}  # model -> its latest HR frame; "GT" -> the GT's
        self.video: _Mp4 | None = None
        self.side, self.places = 0, []  # of the crops, once finished

    def hook(self, model: str, first_model: bool) -> Callable:
        """on_frame(index, gt, lr, hr) for `measure`: `model`'s numbers (and with `first_model`, the
        video's frames)."""
        series = self.series.setdefault(model, Series())
        crop = self.report.crop_border

        def on_frame(index: int, gt: np.ndarray, lr: np.ndarray, hr: np.ndarray) -> None:
            series.psnr_rgb.append(psnr(hr, gt, "rgb", crop))
            series.ssim_rgb.append(ssim(hr, gt, "rgb", crop))
            series.psnr_y.append(psnr(hr, gt, "y", crop))
            series.ssim_y.append(ssim(hr, gt, "y", crop))
            if index:  # the frames before, still held for this model
                area = np.s_[crop : hr.shape[0] - crop, crop : hr.shape[1] - crop]  # as the table measures
                series.temporal.append(temporal_psnr(hr[area], self.kept[model][area], gt[area], self.kept["GT"][area]))
            self.kept[model], self.kept["GT"], self.last = hr, gt, index
            if first_model and index < VIDEO_FRAMES:
                self._video_frame(lr, hr)

        return on_frame

    def _video_frame(self, lr: np.ndarray, hr: np.ndarray) -> None:
        from .evaluate import bicubic

        if self.video is None:
            self.video = _Mp4(self.report.stage / f"{self.file}-side-by-side.mp4", hr.shape[1] * 2 + GAP, hr.shape[0])
        self.video.write(side_by_side([next(bicubic(iter([lr]))), hr]))

    def finish(self, models: list[str]) -> None:
        """The crops, the plots and the video, written; the frames kept, let go."""
        self.close()
        gt = self.kept["GT"]
        self.side, self.places = crop_places(gt, border=self.report.crop_border)
        for number, (top, left) in enumerate(self.places):
            window = np.s_[top : top + self.side, left : left + self.side]
            panels = [self.kept[m][window] for m in models] + [gt[window]]
            for zoom in (1, ZOOM):
                _write_png(side_by_side(panels, zoom), self.report.stage / self.crop_file(number, zoom))
        self.kept.clear()
        self.report.plot(self, "psnr_rgb", "PSNR (dB, RGB)", f"{self.file}-psnr.png", first_frame=0)
        self.report.plot(self, "temporal", "temporal PSNR (dB)", f"{self.file}-temporal.png", first_frame=1)

    def close(self) -> None:
        """The video finished (where it was begun)."""
        if self.video is not None:
            self.video.close()
            self.video = None

    def crop_file(self, number: int, zoom: int) -> str:
        return f"{self.file}-crop{number + 1}-{zoom}x.png"


class Report:
    """A report folder being written (staged; it replaces `folder` whole when `commit`ted)."""

    def __init__(self, stage: Path, crop_border: int, command: str):
        self.stage, self.crop_border, self.command = stage, crop_border, command
        self.sequences: list[SequenceRecord] = []
        self.names: set[str] = set()
        self.plt = pyplot("the report's plots")

    def file_name(self, name: str) -> str:
        """A sequence's name as a file name, unique in the report."""
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "sequence"
        file, number = base, 1
        while file.casefold() in self.names:  # as file systems that ignore case see them
            number += 1
            file = f"{base}-{number}"
        self.names.add(file.casefold())
        return file

    def sequence(self, name: str) -> SequenceRecord:
        record = SequenceRecord(self, name)
        self.sequences.append(record)
        return record

    def plot(self, record: SequenceRecord, measure: str, label: str, file: str, first_frame: int) -> None:
        with self.plt.rc_context({"text.parse_math": False}):  # a "$" in a name is a dollar sign
            self._plot(record, measure, label, file, first_frame)

    def _plot(self, record: SequenceRecord, measure: str, label: str, file: str, first_frame: int) -> None:
        figure, axes = self.plt.subplots(figsize=(8, 3.2), layout="constrained")
        from matplotlib.ticker import MaxNLocator

        for model, series in record.series.items():
            values = getattr(series, measure)
            axes.plot(
                range(first_frame, first_frame + len(values)),
                values,
                label=model,
                linewidth=1.2,
                marker=".",
                markersize=4,
            )
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # frames are whole
        axes.set_xlabel("frame")
        axes.set_ylabel(label)
        axes.set_title(f"{record.name}: {label} per frame")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
        figure.savefig(self.stage / file, dpi=110)
        self.plt.close(figure)

    def write(self, models: list[str]) -> None:
        """data.json and index.html, once every sequence has finished."""
        data = {
            "command": self.command,
            "crop_border": self.crop_border,
            "crop": {"size": CROP, "zoom": ZOOM},
            "video": {"most_frames": VIDEO_FRAMES, "rate": VIDEO_RATE, "left": "bicubic", "right": models[1]},
            "report": "repvsr-eval",  # what --overwrite looks for
            "sequences": [
                {
                    "name": r.name,
                    "file": r.file,
                    "crop_frame": r.last,
                    "video_frames": min(r.last + 1, VIDEO_FRAMES),
                    "crops": [{"top": top, "left": left, "side": r.side} for top, left in r.places],
                    "models": {model: _finite(vars(series)) for model, series in r.series.items()},
                    "means": {model: _finite(series.means()) for model, series in r.series.items()},
                }
                for r in self.sequences
            ],
            "mean": {model: _finite(self._mean_over_sequences(model)) for model in models},
        }
        (self.stage / "data.json").write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
        crop = f", {self.crop_border} border pixels cropped" if self.crop_border else ""
        convention = f"PSNR and SSIM on RGB and on the Y channel of BT.601 YCbCr{crop}, 8-bit frames"
        (self.stage / "index.html").write_text(_page(data, models, convention))

    def _mean_over_sequences(self, model: str) -> dict[str, float]:
        """Each sequence counting once; a sequence of one frame has no temporal PSNR to count."""
        means = [r.series[model].means() for r in self.sequences]
        return {name: _mean([m[name] for m in means]) for name in means[0]}

    def close(self) -> None:
        for record in self.sequences:
            record.close()


@contextlib.contextmanager
def open_report(folder: Path, overwrite: bool, crop_border: int, command: str):
    """A `Report` staged beside `folder`, which it replaces when the block ends without an error.
    An existing folder that is not empty is refused before any work; with `overwrite`, one that
    holds an earlier report and nothing else (`_is_report`) is replaced."""
    folder = Path(folder).resolve()  # "." has no name to stage beside
    if overwrite and folder.is_dir() and any(folder.iterdir()) and not _is_report(folder):
        raise ReportedError(
            f"{folder}: holds more than a report of repvsr-eval: {parameter('overwrite')} replaces an earlier report, "
            "and nothing else"
        )
    with staged_folder(folder, REPORT_SUFFIXES, overwrite) as stage:
        report = Report(stage, crop_border, command)
        try:
            yield report
        finally:
            report.close()


def _is_report(folder: Path) -> bool:
    """The folder holds a report of repvsr-eval and nothing else: its data.json says so, and every
    file is one a report writes."""
    try:
        if json.loads((folder / "data.json").read_text()).get("report") != "repvsr-eval":
            return False
    except (OSError, ValueError, AttributeError):
        return False
    return all(p.is_file() and _REPORT_FILE.fullmatch(p.name) for p in folder.iterdir())


_REPORT_FILE = re.compile(r"index\.html|data\.json|.+-(psnr|temporal)\.png|.+-crop\d+-\d+x\.png|.+-side-by-side\.mp4")


def _write_png(rgb: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path)


class _Mp4:
    """H.264 yuv420p in mp4, its index at the front (a browser plays it as it loads)."""

    def __init__(self, path: Path, width: int, height: int):
        from .video.source import import_av

        av = import_av()
        self.av = av
        self.container = av.open(str(path), "w", options={"movflags": "+faststart"})
        self.stream = self.container.add_stream("libx264", rate=VIDEO_RATE)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.codec_context.time_base = Fraction(1, VIDEO_RATE)
        self.stream.options = {"crf": "18", "preset": "veryfast"}
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = self.av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = self.frames
        self.frames += 1
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
tr.mean td { font-weight: 600; background: #f4f4f4; }
figure { margin: 1em 0; overflow-x: auto; }
figcaption { font-size: 0.85em; color: #555; }
img.crisp { image-rendering: pixelated; }
video { max-width: 100%; }
code { background: #f4f4f4; padding: 0 0.2em; }
#loaded { font-size: 0.85em; color: #555; }
"""

# Says, once the page has loaded, whether every picture and video did: a person sees a missing file,
# and a headless browser's dump of the page shows it (the report's test reads it).
_LOADED_SCRIPT = """
window.addEventListener("load", () => {
  const images = [...document.images], videos = [...document.querySelectorAll("video")];
  const shown = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  const playable = videos.filter((v) => v.readyState >= 1).length;
  const line = document.getElementById("loaded");
  line.dataset.images = `${shown}/${images.length}`;
  line.dataset.videos = `${playable}/${videos.length}`;
  line.textContent = `${shown} of ${images.length} pictures and ${playable} of ${videos.length} videos loaded.`;
});
"""


def _page(data: dict, models: list[str], convention: str) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>repvsr-eval report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>repvsr-eval report</h1>",
        f"<p><code>{e(data['command'])}</code></p>",
        _table(data, models, convention),
        "<h2>How to read it</h2>",
        _method(data),
    ]
    for sequence in data["sequences"]:
        parts.append(_sequence_section(sequence, models, data["video"]))
    parts += ['<p id="loaded">Loading…</p>', f"<script>{_LOADED_SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"


def _table(data: dict, models: list[str], convention: str) -> str:
    e = html.escape
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Sequence",
            "Model",
            "Frames",
            "PSNR RGB (dB)",
            "SSIM RGB",
            "PSNR Y (dB)",
            "SSIM Y",
            "temporal PSNR (dB)",
        )
    )
    rows = []
    for sequence in data["sequences"]:
        for model in models:
            rows.append(
                _row(
                    e(sequence["name"]),
                    e(model),
                    len(sequence["models"][model]["psnr_rgb"]),
                    sequence["means"][model],
                    "",
                )
            )
    for model in models:
        frames = sum(len(s["models"][model]["psnr_rgb"]) for s in data["sequences"])
        rows.append(_row("mean", e(model), frames, data["mean"][model], ' class="mean"'))
    note = (
        f"{e(convention)}; mean = over sequences, each counting once (the temporal PSNR from each "
        "sequence's second frame); – where there is no number (a frame matched exactly has no finite PSNR)."
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table><p>{note}</p>"


def _row(sequence: str, model: str, frames: int, means: dict, attributes: str) -> str:
    cells = [sequence, model, str(frames)] + [
        "–" if means[name] is None else f"{means[name]:{form}}"
        for name, form in (
            ("psnr_rgb", ".3f"),
            ("ssim_rgb", ".4f"),
            ("psnr_y", ".3f"),
            ("ssim_y", ".4f"),
            ("temporal", ".3f"),
        )
    ]
    return f"<tr{attributes}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _method(data: dict) -> str:
    return (
        "<ul>"
        "<li><b>Per-frame PSNR</b> shows where the recurrence warms up (the first frames) and where a scene "
        "change or fast motion costs a model.</li>"
        "<li><b>Temporal PSNR</b> of frame <i>t</i>: the PSNR (peak 255, RGB) of the output's frame difference "
        "<i>out<sub>t</sub> − out<sub>t−1</sub></i> against the GT's <i>gt<sub>t</sub> − gt<sub>t−1</sub></i>. "
        "Flicker and ghosting move a frame against its neighbours, which per-frame PSNR averages away; it needs no "
        f"learned weights. A difference matched exactly counts {TEMPORAL_CAP:g} dB.</li>"
        f"<li><b>Crops</b>: of the last frame (the recurrence has warmed up most), the {CROPS} most detailed "
        f"{CROP}×{CROP} windows (smaller where the frame is) of a grid over the area measured (the largest "
        "variance of the 4-neighbour "
        "Laplacian of its BT.601 luma), not chosen by hand. Panels left to right: bicubic, each model, GT; at 1:1 and "
        f"at {ZOOM}× nearest-neighbour.</li>"
        f"<li><b>Video</b>: bicubic on the left, {html.escape(data['video']['right'])} on the right, the first "
        f"{VIDEO_FRAMES} frames at most, {VIDEO_RATE} fps, H.264.</li>"
        "</ul>"
    )


def _sequence_section(sequence: dict, models: list[str], video: dict) -> str:
    e, file = html.escape, sequence["file"]
    names = " | ".join(e(m) for m in models) + " | GT"
    parts = [
        f"<h2>{e(sequence['name'])}</h2>",
        f'<figure><img src="{file}-psnr.png" alt="per-frame PSNR of {e(sequence["name"])}"></figure>',
        f'<figure><img src="{file}-temporal.png" alt="per-frame temporal PSNR of {e(sequence["name"])}"></figure>',
    ]
    for number, place in enumerate(sequence["crops"]):
        where = (
            f"frame {sequence['crop_frame']}, {place['side']}×{place['side']} at x {place['left']}, y {place['top']}"
        )
        for zoom in (1, ZOOM):
            parts.append(
                f'<figure><img class="crisp" src="{file}-crop{number + 1}-{zoom}x.png" alt="crop {number + 1}">'
                f"<figcaption>{names}: {where}, {zoom}×</figcaption></figure>"
            )
    parts.append(
        f'<figure><video controls loop muted playsinline src="{file}-side-by-side.mp4"></video>'
        f"<figcaption>{e(video['left'])} (left) | {e(video['right'])} (right)</figcaption></figure>"
    )
    return "\n".join(parts)
