"""repvsr-upscale on what real footage holds: HDR and 10 bits, timestamps and sync, rotation and
pixel shape, every stream's edges and tags, containers, truncated and interlaced input. Each output
is checked on its own streams against the input's (bicubic stands in for the model where colours
are compared)."""

import hashlib
import os
import platform
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from footage import (
    BT709,
    HDR10_X265,
    HLG,
    PQ,
    Audio,
    decode_audio,
    decode_video,
    frame_times,
    make_clip,
    mp4_presented_seconds,
    psnr,
    stream_summary,
)
from helpers import BIN, run_cli

from repvsr_deploy.video.encoders import x264_capabilities
from repvsr_deploy.video.picture import ContentLight, MasteringDisplay

pytestmark = pytest.mark.fast  # the tier `make check` runs


def upscale(*args):
    result = run_cli("repvsr-upscale", *args)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return result


def bicubic_levels(frames: np.ndarray) -> np.ndarray:
    """The x4 bicubic of decoded frames, at their depth: what `--bicubic` must give, colours and all."""
    top = np.iinfo(frames.dtype).max
    lr = torch.from_numpy(frames.astype(np.float32) / top).permute(0, 3, 1, 2)  # torch's own, as the reference
    up = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
    return (up.permute(0, 2, 3, 1).numpy() * top + 0.5).astype(frames.dtype)


def one_line_refusal(result, *words):
    assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
    assert all(word in result.stderr for word in words), result.stderr


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_hdr_video_comes_out_10_bit_tagged_and_true_to_bicubic(tmp_path, transfer):
    colour, params = (PQ, HDR10_X265) if transfer == "pq" else (HLG, "")
    make_clip(
        tmp_path / "in.mp4",
        8,
        96,
        64,
        codec="libx265",
        pix_fmt="yuv420p10le",
        colour=colour,
        options={"x265-params": f"log-level=error:{params}"},
        audio=(Audio(),),
    )
    result = upscale(tmp_path / "in.mp4", tmp_path / "out.mp4", "--bicubic")
    assert result.returncode == 0, result.stderr
    given, out = decode_video(tmp_path / "in.mp4"), decode_video(tmp_path / "out.mp4")
    assert (out.pix_fmt, out.colour) == ("yuv420p10le", colour)
    assert psnr(out.frames, bicubic_levels(given.frames), 65535) >= 40
    if transfer == "pq":
        assert (
            out.side_data
            == given.side_data
            == {
                "mastering_display": MasteringDisplay(
                    (0.68, 0.32), (0.265, 0.69), (0.15, 0.06), (0.3127, 0.329), 0.0001, 1000.0
                ),
                "content_light": ContentLight(1000, 400),
            }
        )
    eight = upscale(tmp_path / "in.mp4", tmp_path / "out8.mkv", "--bicubic", "--bit-depth", 8)
    assert eight.returncode == 0 and decode_video(tmp_path / "out8.mkv").pix_fmt == "yuv420p", eight.stderr


def test_sdr_colours_are_true_to_bicubic(tmp_path):
    make_clip(tmp_path / "in.mp4", 6, 96, 64, colour=BT709)
    assert upscale(tmp_path / "in.mp4", tmp_path / "out.mkv", "--bicubic").returncode == 0
    given, out = decode_video(tmp_path / "in.mp4"), decode_video(tmp_path / "out.mkv")
    assert (out.pix_fmt, out.colour) == ("yuv420p", BT709)
    assert psnr(out.frames, bicubic_levels(given.frames), 255) >= 40


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_video_that_starts_after_its_audio_stays_in_sync(tmp_path, suffix):
    make_clip(tmp_path / f"in{suffix}", 8, times=frame_times(8, late=0.5), audio=(Audio(),))
    assert upscale(tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", "--bicubic").returncode == 0
    for name in ("in", "out"):
        video = decode_video(tmp_path / f"{name}{suffix}")
        audio_start = decode_audio(tmp_path / f"{name}{suffix}")[0]
        assert video.times[0] - audio_start == pytest.approx(0.5, abs=1e-3), name


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_variable_frame_rate_is_kept(tmp_path, suffix):
    times = frame_times(12, rate=25, slow_after=6, slow_rate=10)  # 25 fps, then 10 fps
    make_clip(tmp_path / f"in{suffix}", 12, times=times)
    assert upscale(tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", "--bicubic").returncode == 0
    out = decode_video(tmp_path / f"out{suffix}")
    assert out.times == pytest.approx([float(t) for t in times], abs=1e-3)
    assert out.times[10] == pytest.approx(0.64, abs=1e-3)  # 0.24 s at frame 6, then 0.1 s a frame
    if suffix == ".mp4":  # the last frame shows for its 0.1 s
        assert mp4_presented_seconds(tmp_path / "out.mp4") == pytest.approx(float(times[-1]) + 0.1, abs=1e-3)
    else:
        with av.open(str(tmp_path / "out.mkv")) as container:
            assert container.duration / 1e6 == pytest.approx(float(times[-1]) + 0.1, abs=1e-3)


@pytest.mark.parametrize(
    "suffix, size, sar, rotation",
    [(".mp4", (64, 48), Fraction(4, 3), 90), (".mkv", (176, 144), Fraction(128, 117), None)],
)
def test_rotation_and_pixel_shape_are_carried(tmp_path, suffix, size, sar, rotation):
    make_clip(tmp_path / f"in{suffix}", 4, *size, sar=sar, rotation=rotation)
    assert upscale(tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", "--bicubic").returncode == 0
    out = decode_video(tmp_path / f"out{suffix}")
    assert (out.rotation, out.sar) == (rotation or 0, sar)


TRACKS = (
    Audio("aac", 44100, {"language": "fra", "title": "commentaire"}, default=True),
    Audio("libopus", 48000, {"language": "eng", "title": "director"}, default=False),
)


def test_the_whole_input_keeps_every_stream_sample_for_sample_with_its_tags(tmp_path):
    make_clip(
        tmp_path / "in.mkv",
        10,
        audio=TRACKS,
        video_tags={"title": "take 3"},
        subtitles="1\n00:00:00,100 --> 00:00:00,300\nHallo\n",
    )
    assert upscale(tmp_path / "in.mkv", tmp_path / "out.mkv", "--bicubic").returncode == 0
    given, out = stream_summary(tmp_path / "in.mkv"), stream_summary(tmp_path / "out.mkv")
    assert out[1:] == given[1:] and out[0][2:] == given[0][2:]  # tags and dispositions; video re-encoded
    for index in (0, 1):  # priming (AAC) and pre-skip (Opus) packets included: the same samples
        start, samples, _ = decode_audio(tmp_path / "in.mkv", index)
        out_start, out_samples, _ = decode_audio(tmp_path / "out.mkv", index)
        assert out_start == pytest.approx(start, abs=1e-3) and np.array_equal(out_samples, samples)


def test_a_frame_range_cuts_every_stream_to_it(tmp_path):
    make_clip(tmp_path / "in.mp4", 20, audio=(TRACKS[0],))
    result = upscale(tmp_path / "in.mp4", tmp_path / "out.mp4", "--bicubic", "--start", 5, "--frames", 10)
    assert result.returncode == 0, result.stderr
    out = decode_video(tmp_path / "out.mp4")
    assert out.times == pytest.approx([0.04 * i for i in range(10)], abs=1e-3)  # frames 5..14, moved to 0
    _, samples, rate = decode_audio(tmp_path / "in.mp4")
    start, cut, _ = decode_audio(tmp_path / "out.mp4")
    assert start == pytest.approx(0, abs=1e-3)
    assert 0.4 <= cut.shape[1] / rate < 0.4 + 1024 / rate  # the range, to the packet
    begin = round(0.2 * rate)  # the range starts at frame 5, 0.2 s into the input: the same samples
    assert np.abs(cut - samples[:, begin : begin + cut.shape[1]]).max() < 1e-5  # (to the decoder's rounding)
    assert stream_summary(tmp_path / "out.mp4")[1][2] == stream_summary(tmp_path / "in.mp4")[1][2]


def test_a_stream_the_container_cannot_hold_is_named_with_the_ways_out(tmp_path):
    make_clip(tmp_path / "in.mkv", 4, audio=(Audio(),), subtitles="1\n00:00:00,000 --> 00:00:00,100\nHi\n")
    refused = upscale(tmp_path / "in.mkv", tmp_path / "out.mp4", "--bicubic")
    one_line_refusal(refused, "stream 2 (subtitle, srt)", ".mp4", ".mkv", "--drop-stream 2")
    assert not (tmp_path / "out.mp4").exists()
    dropped = upscale(tmp_path / "in.mkv", tmp_path / "out.mp4", "--bicubic", "--drop-stream", "subtitle")
    assert dropped.returncode == 0 and [s[0] for s in stream_summary(tmp_path / "out.mp4")] == ["video", "audio"]
    unknown = upscale(tmp_path / "in.mkv", tmp_path / "out2.mp4", "--bicubic", "--drop-stream", 7)
    one_line_refusal(unknown, "--drop-stream")


def test_webm_gets_an_encoder_it_takes_and_audio_re_encoded_on_request(tmp_path):
    make_clip(tmp_path / "in.mp4", 6, audio=(Audio(),))
    refused = upscale(tmp_path / "in.mp4", tmp_path / "out.webm", "--bicubic")
    one_line_refusal(refused, "stream 1 (audio, aac)", ".webm", "--audio-codec")
    result = upscale(tmp_path / "in.mp4", tmp_path / "out.webm", "--bicubic", "--audio-codec", "libopus")
    assert result.returncode == 0, result.stderr
    assert [s[:2] for s in stream_summary(tmp_path / "out.webm")] == [("video", "vp9"), ("audio", "opus")]
    given, out = decode_audio(tmp_path / "in.mp4"), decode_audio(tmp_path / "out.webm")
    assert out[1].shape[1] / out[2] == pytest.approx(given[1].shape[1] / given[2], abs=0.025)


def test_encoders_get_only_the_options_they_have(tmp_path):
    make_clip(tmp_path / "in.mp4", 3)
    assert upscale(tmp_path / "in.mp4", tmp_path / "out.mkv", "--bicubic", "--codec", "mjpeg").returncode == 0
    assert stream_summary(tmp_path / "out.mkv")[0][1] == "mjpeg"
    one_line_refusal(
        upscale(tmp_path / "in.mp4", tmp_path / "o2.mkv", "--bicubic", "--codec", "mjpeg", "--crf", 5), "--crf", "mjpeg"
    )


PLAIN_X264 = """
import sys
from fractions import Fraction
import av
with av.open(sys.argv[1]) as source, av.open(sys.argv[2], "w") as target:
    video = target.add_stream("libx264", rate=25)
    context = video.codec_context
    context.width, context.height, context.pix_fmt, context.time_base = 704, 192, "yuv420p", Fraction(1, 25)
    video.options = {"crf": "18"}
    for index, frame in enumerate(source.decode(video=0)):
        frame.pts, frame.time_base = index, context.time_base
        target.mux(video.encode(frame))
    target.mux(video.encode(None))
"""


def video_digest(path) -> str:
    with av.open(str(path)) as container:
        return hashlib.sha256(b"".join(bytes(p) for p in container.demux(video=0))).hexdigest()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="fills fresh memory with glibc's MALLOC_PERTURB_")
def test_an_x264_output_is_the_same_whatever_fresh_memory_held(tmp_path):
    """At 704 pixels (44 macroblocks) x264's AVX-512 macroblock-tree code reads memory it never
    wrote: plain x264 writes other files when fresh memory holds other bytes; the upscaler's does not."""
    if "AVX512" not in x264_capabilities(av):
        pytest.skip("x264 uses no AVX-512 on this CPU: nothing to hold it to")
    make_clip(tmp_path / "in.mp4", 16, 176, 48)
    fills = (1, 128, 255)  # glibc fills fresh memory with these bytes' complements

    def run(fill: int, *command) -> None:
        subprocess.run(list(command), env={**os.environ, "MALLOC_PERTURB_": str(fill)}, check=True, capture_output=True)

    for fill in fills:
        run(fill, BIN / "repvsr-upscale", tmp_path / "in.mp4", tmp_path / f"up{fill}.mp4", "--bicubic")
        run(fill, sys.executable, "-c", PLAIN_X264, tmp_path / f"up{fills[0]}.mp4", tmp_path / f"plain{fill}.mp4")
    if len({video_digest(tmp_path / f"plain{fill}.mp4") for fill in fills}) == 1:
        pytest.skip("plain x264 here writes one file whatever memory held: nothing to hold it to")
    assert len({video_digest(tmp_path / f"up{fill}.mp4") for fill in fills}) == 1


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_truncated_input_is_refused_or_kept_partial_on_request(tmp_path, suffix):
    make_clip(tmp_path / f"whole{suffix}", 20, audio=(Audio(),), container_options={"movflags": "+faststart"})
    data = (tmp_path / f"whole{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])  # a download cut short
    refused = upscale(tmp_path / f"cut{suffix}", tmp_path / "out.mkv", "--bicubic")
    one_line_refusal(refused, "truncated", "--allow-partial")
    assert not (tmp_path / "out.mkv").exists()
    kept = upscale(tmp_path / f"cut{suffix}", tmp_path / "out.mkv", "--bicubic", "--allow-partial")
    assert kept.returncode == 0 and "warning" in kept.stderr and "truncated" in kept.stderr, kept.stderr
    assert 0 < len(decode_video(tmp_path / "out.mkv").times) < 20


def test_interlaced_input_is_refused_or_deinterlaced(tmp_path):
    make_clip(tmp_path / "in.mp4", 6, options={"flags": "+ildct+ilme"})
    assert decode_video(tmp_path / "in.mp4").interlaced
    one_line_refusal(upscale(tmp_path / "in.mp4", tmp_path / "out.mp4", "--bicubic"), "interlaced", "--deinterlace")
    assert upscale(tmp_path / "in.mp4", tmp_path / "out.mp4", "--bicubic", "--deinterlace").returncode == 0
    given, out = decode_video(tmp_path / "in.mp4"), decode_video(tmp_path / "out.mp4")
    assert not out.interlaced and out.times == pytest.approx(given.times, abs=1e-3)
