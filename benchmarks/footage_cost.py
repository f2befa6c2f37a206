"""What repvsr-upscale's pipeline costs around the model, per frame, for SDR and HDR footage.

Writes a clip per kind (8-bit H.264 BT.709; 10-bit HEVC BT.2020 HLG and PQ with HDR10 metadata) at
an LR size, then times through the toolkit's own source and sink: decoding with the conversion to
RGB (matrix and range only), and the conversion back to YUV with encoding (the container's default
encoder for the bit depth: libx264 for 8 bits, libx265 for 10). The model is left out (its HR frames
are the bicubic of the LR ones, made before timing): what is measured is what every model pays.

    python benchmarks/footage_cost.py --res 720p --frames 40 --out benchmarks/results/cpu-footage-cost-720p.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.clips import moving_clip
from repvsr_deploy.resolutions import RESOLUTIONS
from repvsr_deploy.runtime.bicubic_backend import BicubicBackend
from repvsr_deploy.runtime.session import Session
from repvsr_deploy.video.sink import open_sink
from repvsr_deploy.video.source import open_source
from repvsr_deploy.video.upscale import upscale_frames

KINDS = {  # codec, pixel format, (matrix, range, primaries, transfer), encoder options
    "sdr": ("libx264", "yuv420p", (1, 1, 1, 1), {}),
    "hlg": ("libx265", "yuv420p10le", (9, 1, 9, 18), {"x265-params": "log-level=error"}),
    "pq": (
        "libx265",
        "yuv420p10le",
        (9, 1, 9, 16),
        {
            "x265-params": "log-level=error:master-display="
            "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
            "L(10000000,1):max-cll=1000,400"
        },
    ),
}


def write_clip(path: Path, kind: str, frames: int, height: int, width: int) -> None:
    codec, pix_fmt, (matrix, full, primaries, transfer), options = KINDS[kind]
    deep = pix_fmt.endswith("10le")
    clip = moving_clip(frames, height, width).transpose(0, 2, 3, 1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        context = stream.codec_context
        context.width, context.height, context.pix_fmt = width, height, pix_fmt
        context.colorspace, context.color_range, context.color_primaries, context.color_trc = (
            matrix,
            full,
            primaries,
            transfer,
        )
        stream.options = options
        for index, rgb in enumerate(clip):
            levels = (rgb * (65535 if deep else 255) + 0.5).astype(np.uint16 if deep else np.uint8)
            frame = av.VideoFrame.from_ndarray(levels, format="rgb48le" if deep else "rgb24")
            frame = frame.reformat(format=pix_fmt, dst_colorspace=matrix, dst_color_range=full)
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def measure(path: Path, workdir: Path) -> dict:
    with open_source(path) as source:
        start = time.perf_counter()
        decoded = list(source.frames())
        decode_s = time.perf_counter() - start
    session = Session(BicubicBackend())
    hr = list(upscale_frames(session, (rgb for rgb, _ in decoded), dtype=decoded[0][0].dtype))
    with open_source(path) as source:
        start = time.perf_counter()
        with open_sink(workdir / f"{path.stem}.out.mkv", source, 4) as sink:  # flushed and closed at its end
            codec = sink.video.codec_context.name
            for frame, (_, frame_time) in zip(hr, decoded):
                sink.write(frame, frame_time)
        encode_s = time.perf_counter() - start
    count = len(decoded)
    return {
        "frames": count,
        "decode_ms": 1000 * decode_s / count,
        "encode_ms": 1000 * encode_s / count,
        "encoder": codec,
        "bit_depth": 16 if decoded[0][0].dtype == np.uint16 else 8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", default="720p", choices=sorted(RESOLUTIONS))
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    height, width = RESOLUTIONS[args.res]
    rows = {}
    with tempfile.TemporaryDirectory() as workdir:
        for kind in KINDS:
            clip = Path(workdir) / f"{kind}.mkv"
            write_clip(clip, kind, args.frames, height, width)
            rows[kind] = measure(clip, Path(workdir))
            row = rows[kind]
            print(
                f"{kind}: decode + RGB {row['decode_ms']:.1f} ms/frame, YUV + {row['encoder']} "
                f"{row['encode_ms']:.1f} ms/frame ({width * 4}x{height * 4} out)"
            )
    if args.out:
        record = {
            "command": shlex.join(["python", *sys.argv]),
            "machine": describe_machine(),
            "lr_size": f"{width}x{height}",
            "rows": rows,
        }
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
