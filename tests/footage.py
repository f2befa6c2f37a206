"""Small clips with what phones and cameras put in real footage, made with PyAV for the tests:
10-bit PQ and HLG with HDR10 metadata, variable frame rates, a video that starts after its audio,
rotation, non-square pixels, several audio tracks with tags, subtitles, interlacing, truncation;
and readers of what a command wrote (frames at their bit depth and time, audio samples, tags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from repvsr_deploy.clips import moving_clip
from repvsr_deploy.video.picture import read_side_data

BT709 = dict(colorspace=1, color_range=1, color_primaries=1, color_trc=1)
PQ = dict(colorspace=9, color_range=1, color_primaries=9, color_trc=16)
HLG = dict(colorspace=9, color_range=1, color_primaries=9, color_trc=18)
HDR10_X265 = "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400"


@dataclass
class Audio:
    codec: str = "aac"
    rate: int = 44100
    tags: dict = field(default_factory=dict)
    default: bool = True


def frame_times(
    count: int, rate: float = 25, late: float = 0.0, slow_after: int | None = None, slow_rate: float = 10
) -> list[Fraction]:
    """Start times in seconds: `rate` fps from `late`, and `slow_rate` from frame `slow_after` on (VFR)."""
    times, t = [], Fraction(late).limit_denominator(1000)
    for index in range(count):
        times.append(t)
        t += Fraction(1) / Fraction(
            slow_rate if slow_after is not None and index >= slow_after else rate
        ).limit_denominator(1000)
    return times


def make_clip(
    path: Path,
    frames: int = 10,
    width: int = 64,
    height: int = 48,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    colour: dict = BT709,
    times: list[Fraction] | None = None,
    rate: int = 25,
    rotation: int | None = None,
    sar: Fraction | None = None,
    audio: tuple = (),
    subtitles: str | None = None,
    options: dict | None = None,
    container_options: dict | None = None,
    video_tags: dict | None = None,
) -> np.ndarray:
    """Write a clip of moving texture; returns the RGB frames that went in ([T, H, W, 3], uint8 or
    uint16 by `pix_fmt`'s depth). `times` (seconds) default to `rate` from 0; audio tracks (a 440 Hz
    tone, as long as the video's end) and an SRT text's subtitles are muxed beside."""
    times = times or frame_times(frames, rate)
    deep = "10" in pix_fmt
    clip = camera_like(frames, height, width)
    levels = (clip * (65535 if deep else 255) + 0.5).astype(np.uint16 if deep else np.uint8)
    time_base = Fraction(1, 1000 * rate)
    with av.open(str(path), "w", options=container_options or {}) as container:
        video = container.add_stream(codec, rate=rate)
        context = video.codec_context
        context.width, context.height, context.pix_fmt, context.time_base = width, height, pix_fmt, time_base
        for key, value in colour.items():
            setattr(context, key, value)
        if sar:
            context.sample_aspect_ratio = sar
        if rotation is not None:
            video.set_display_rotation(rotation)
        video.options = {"x265-params": "log-level=error", **(options or {})} if codec == "libx265" else (options or {})
        video.metadata.update(video_tags or {})
        sounds = []
        for track in audio:
            sound = container.add_stream(track.codec, rate=track.rate)
            sound.codec_context.layout = "mono"
            sound.metadata.update(track.tags)
            sound.disposition = av.stream.Disposition.default if track.default else av.stream.Disposition(0)
            sounds.append((sound, track))
        subtitle_stream, subtitle_input = None, None
        if subtitles:
            srt = path.with_suffix(".srt")
            srt.write_text(subtitles)
            subtitle_input = av.open(str(srt))
            subtitle_stream = container.add_stream_from_template(subtitle_input.streams[0])
            subtitle_stream.metadata.update({"language": "deu", "title": "Untertitel"})
        end = times[-1] + (times[-1] - times[-2])  # the last frame lasts as the one before it
        durations = {round(t / time_base): round((n - t) / time_base) for t, n in zip(times, [*times[1:], end])}

        def mux(packets):  # each packet as long as its frame shows, as cameras write them
            for packet in packets:
                packet.duration = durations[packet.pts]
                container.mux(packet)

        for rgb, time in zip(levels, times):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if deep else "rgb24")
            frame = frame.reformat(
                format=pix_fmt, dst_colorspace=colour["colorspace"], dst_color_range=colour["color_range"]
            )
            frame.pts, frame.time_base = round(time / time_base), time_base
            mux(video.encode(frame))
        mux(video.encode(None))
        for sound, track in sounds:
            _mux_tone(container, sound, track.rate, end)
        if subtitle_input:
            for packet in subtitle_input.demux():
                if packet.dts is not None:
                    packet.stream = subtitle_stream
                    container.mux(packet)
            subtitle_input.close()
    return levels


def write_y4m(source, target) -> None:
    """The video of `source` (a file) as y4m at 25 fps into `target` (a path, or a binary file such
    as standard output), at its 8 or 10 bits: what `ffmpeg -i source -f yuv4mpegpipe` writes."""
    with av.open(str(source)) as clip, av.open(target, "w", format="yuv4mpegpipe", options={"strict": "-1"}) as y4m:
        video = clip.streams.video[0]
        out = y4m.add_stream("rawvideo", rate=25)  # y4m counts frames at a rate
        out.width, out.height, out.pix_fmt = video.width, video.height, video.codec_context.pix_fmt
        for frame in clip.decode(video):
            frame.pts = None
            y4m.mux(out.encode(frame))
        y4m.mux(out.encode(None))


def camera_like(frames: int, height: int, width: int) -> np.ndarray:
    """[T, H, W, 3] float RGB: a moving texture in brightness whose colour varies smoothly, as in
    camera footage (so that 4:2:0 chroma keeps nearly all of it; the independent textures per
    channel of `moving_clip` lose 7 dB to it)."""
    brightness = moving_clip(frames, height, width)[:, 0]
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    tint = np.stack([0.8 + 0.2 * x, 0.85 + 0.15 * y, 1 - 0.2 * x * y], axis=-1)
    return np.clip(brightness[..., None] * tint, 0, 1)


def _mux_tone(container, stream, rate: int, seconds: Fraction) -> None:
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
    encoder_format = stream.codec_context.codec.audio_formats[0].name
    resampler = av.AudioResampler(format=encoder_format, layout="mono", rate=rate)
    for start in range(0, samples.shape[1], 960):
        chunk = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, start : start + 960]), format="flt", layout="mono"
        )
        chunk.sample_rate, chunk.pts = rate, start
        for resampled in resampler.resample(chunk):
            container.mux(stream.encode(resampled))
    container.mux(stream.encode(None))


@dataclass
class Decoded:
    """What a file's video stream holds: frames (RGB, matrix and range only, at their depth) with times."""

    frames: np.ndarray
    times: list[float]  # seconds
    ends: list[float]
    pix_fmt: str
    colour: dict
    side_data: dict
    rotation: int
    sar: Fraction | None
    interlaced: bool


def decode_video(path: Path) -> Decoded:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, times, ends, first = [], [], [], None
        for frame in container.decode(stream):
            first = first or frame
            deep = max(c.bits for c in frame.format.components) > 8
            frames.append(
                frame.to_ndarray(
                    format="rgb48le" if deep else "rgb24",
                    src_colorspace=frame.colorspace,
                    src_color_range=frame.color_range,
                )
            )
            times.append(float(frame.pts * frame.time_base))
            ends.append(float((frame.pts + frame.duration) * frame.time_base))
        colour = {k: int(getattr(first, k)) for k in BT709}
        return Decoded(
            np.stack(frames),
            times,
            ends,
            first.format.name,
            colour,
            read_side_data(first),
            first.rotation,
            stream.sample_aspect_ratio,
            bool(first.interlaced_frame),
        )


def decode_audio(path: Path, index: int = 0) -> tuple[float, np.ndarray, int]:
    """(start in seconds, samples [channels, n] float32, rate) of the file's `index`-th audio stream,
    as a player presents it (priming trimmed by the decoder)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[index]
        chunks, start = [], None
        resampler = av.AudioResampler(
            format="fltp", layout=stream.codec_context.layout, rate=stream.codec_context.sample_rate
        )
        for frame in container.decode(stream):
            if start is None:
                start = float(frame.pts * frame.time_base)
            for resampled in resampler.resample(frame):
                chunks.append(resampled.to_ndarray())
        return start, np.concatenate(chunks, axis=1), stream.codec_context.sample_rate


def stream_summary(path: Path) -> list[tuple]:
    """(type, codec, tags less the muxer's own, disposition) of every stream."""
    with av.open(str(path)) as container:
        return [
            (
                s.type,
                s.codec_context.name,
                {k: v for k, v in s.metadata.items() if k in ("language", "title", "name")},
                int(s.disposition),
            )
            for s in container.streams
        ]


def mp4_presented_seconds(path: Path) -> float:
    """How long an mp4/mov's first track is shown: its edit list's segments (empty ones included, a
    late start) over the movie's time scale, what players go by. (FFmpeg's demuxer reports the sum
    of the decoding steps instead, short of the last frame's end where B-frames reorder a
    variable-rate clip's last frames.)"""
    import struct

    data = Path(path).read_bytes()

    def children(start: int, end: int):
        while start < end:
            size, kind = struct.unpack(">I4s", data[start : start + 8])
            yield kind.decode("latin-1"), start + 8, start + size
            start += size

    moov = next((b, e) for k, b, e in children(0, len(data)) if k == "moov")
    boxes = dict((k, (b, e)) for k, b, e in children(*moov))
    timescale = struct.unpack(">I", data[boxes["mvhd"][0] + 12 : boxes["mvhd"][0] + 16])[0]
    trak = dict((k, (b, e)) for k, b, e in children(*boxes["trak"]))
    elst = dict((k, (b, e)) for k, b, e in children(*trak["edts"]))["elst"][0]
    count = struct.unpack(">I", data[elst + 4 : elst + 8])[0]
    return sum(struct.unpack(">I", data[elst + 8 + 12 * i : elst + 12 + 12 * i])[0] for i in range(count)) / timescale


def psnr(a: np.ndarray, b: np.ndarray, top: float) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(top**2 / mse)) if mse else float("inf")
