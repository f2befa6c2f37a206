"""Frames over pipes: repvsr-upscale reading standard input and writing standard output (y4m by
default; nut, matroska with --format / --input-format), as vspipe and ffmpeg pipe frames; the
output checked by its own streams (frames, times, bit depth, audio); a pipe cut short, and bad
input, refused in one line with nothing left behind. ffmpeg's part is played by PyAV."""

import io
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from footage import Audio, decode_audio, decode_video, frame_times, make_clip, stream_summary, write_y4m
from helpers import BIN

import repvsr_deploy
from repvsr_deploy.demo import GRAPH
from repvsr_deploy.errors import ParameterError, ReportedError
from repvsr_deploy.runtime import Backend
from repvsr_deploy.upscaling import Encoding, Live, Model, Selection
from repvsr_deploy.video.sink import open_sink
from repvsr_deploy.video.source import open_source
from repvsr_deploy.video.timeline import FrameTime

pytest.importorskip("onnxruntime")
MODEL = Model(GRAPH, Backend.OnnxRuntime())
UPSCALE = [str(BIN / "repvsr-upscale")]
ONNX = ["--onnx", str(GRAPH)]  # the demo on onnxruntime: the same in every run


def _has_srt() -> bool:
    try:
        av.open("srt://127.0.0.1:9", timeout=0.1)
    except av.error.ProtocolNotFoundError:
        return False
    except av.FFmpegError:
        return True
    return True


HAS_SRT = _has_srt()


def upscale_process(*args, stdin: bytes = b"", timeout: float = 120) -> subprocess.CompletedProcess:
    """repvsr-upscale in a process of its own, `stdin` piped in, standard output kept as bytes."""
    return subprocess.run([*UPSCALE, *map(str, args)], input=stdin, capture_output=True, timeout=timeout)


def lines(stderr: bytes) -> list[str]:
    """stderr's lines, less the progress bar's."""
    return [line for line in stderr.decode().replace("\r", "\n").splitlines() if line.strip() and "frame/s" not in line]


@pytest.fixture(scope="module")
def y4m(tmp_path_factory):
    """8- and 10-bit y4m clips of 6 frames, 64x48."""
    folder = tmp_path_factory.mktemp("y4m")
    for bits, pix_fmt in ((8, "yuv420p"), (10, "yuv420p10le")):
        make_clip(folder / f"{bits}.mkv", 6, 64, 48, codec="ffv1", pix_fmt=pix_fmt)
        write_y4m(folder / f"{bits}.mkv", str(folder / f"{bits}.y4m"))
    return folder


@pytest.mark.parametrize("bits", [8, 10])
def test_y4m_from_standard_input_to_standard_output_is_what_the_file_gives(y4m, tmp_path, bits):
    clip = y4m / f"{bits}.y4m"
    piped = upscale_process("-", "-", *ONNX, stdin=clip.read_bytes())
    assert piped.returncode == 0, piped.stderr
    from_file = upscale_process(clip, "-", *ONNX)
    assert from_file.returncode == 0, from_file.stderr
    assert piped.stdout == from_file.stdout  # standard input reads as the file does
    # standard output holds the stream alone: every message went to standard error
    assert piped.stdout.startswith(b"YUV4MPEG2 W256 H192 F25:1")
    assert (
        lines(piped.stderr)[0].startswith("model: ") and lines(piped.stderr)[-1] == "standard output: 6 frames, 256x192"
    )
    out = tmp_path / "out.y4m"
    out.write_bytes(piped.stdout)
    decoded = decode_video(out)
    assert decoded.pix_fmt == ("yuv420p" if bits == 8 else "yuv420p10le") and len(decoded.frames) == 6
    expected = np.stack([f.rgb for f in repvsr_deploy.upscaled_frames(clip, MODEL, dtype=decoded.frames.dtype)])
    top = 255 if bits == 8 else 65535
    assert np.abs(decoded.frames.astype(float) - expected).mean() < 0.01 * top  # the model's frames, as 4:2:0
    assert len({frame.tobytes() for frame in decoded.frames}) == 6


@pytest.fixture(scope="module")
def vfr_with_audio(tmp_path_factory) -> Path:
    """Matroska: H.264 whose rate falls from 25 to 10 fps, starting after its AAC audio."""
    path = tmp_path_factory.mktemp("vfr") / "in.mkv"
    make_clip(path, 12, 48, 32, times=frame_times(12, late=0.2, slow_after=6), audio=(Audio(),))
    return path


@pytest.mark.parametrize("out_format", ["nut", "matroska"])
def test_a_variable_rate_clip_through_pipes_keeps_its_times_and_audio(vfr_with_audio, tmp_path, out_format):
    piped = upscale_process(
        "-", "-", *ONNX, "--input-format", "matroska", "--format", out_format, stdin=vfr_with_audio.read_bytes()
    )
    assert piped.returncode == 0, piped.stderr
    assert lines(piped.stderr)[-1] == "standard output: 12 frames, 192x128, 1 stream(s) carried"
    out = tmp_path / f"out.{out_format}"
    out.write_bytes(piped.stdout)
    reference = tmp_path / "reference.mkv"
    assert upscale_process(vfr_with_audio, reference, *ONNX).returncode == 0
    got, want = decode_video(out), decode_video(reference)
    # nut stores no negative time (AAC's priming): it moves every stream on by as much
    shift = got.times[0] - want.times[0]
    assert np.allclose(np.array(got.times) - shift, want.times, atol=1e-3) and shift < 0.03
    assert np.allclose(np.diff(got.times)[-3:], 0.1, atol=1e-3)  # 10 fps at the end: the times carried
    assert [s[:2] for s in stream_summary(out)][1] == ("audio", "aac")
    audio_start, samples, _ = decode_audio(out)
    assert abs(got.times[0] - audio_start - 0.2) < 0.03 and samples.shape[1] > 0.6 * 44100  # its audio, in sync
    assert got.frames.shape == (12, 128, 192, 3)


def y4m_cut(clip: Path) -> bytes:
    """The clip less the second half of its last frame (4608 bytes after its 6-byte header)."""
    data = clip.read_bytes()
    return data[: len(data) - 64 * 48 * 3 // 4]


def test_a_pipe_closed_part_way_through_a_frame_is_refused_and_leaves_nothing(y4m, tmp_path):
    out = tmp_path / "out.mkv"
    cut = upscale_process("-", out, *ONNX, stdin=y4m_cut(y4m / "8.y4m"))
    assert cut.returncode == 1 and len(lines(cut.stderr)) <= 2  # the model line, then the error
    assert "closed part-way through a frame: 5 whole frames, then 2310 bytes of the next" in lines(cut.stderr)[-1]
    assert list(tmp_path.iterdir()) == []  # no output, no staging
    to_stdout = upscale_process("-", "-", *ONNX, stdin=y4m_cut(y4m / "8.y4m"))
    assert to_stdout.returncode == 1 and "closed part-way" in lines(to_stdout.stderr)[-1]
    partial = upscale_process("-", out, *ONNX, "--allow-partial", stdin=y4m_cut(y4m / "8.y4m"))
    assert partial.returncode == 0 and "warning: standard input: closed part-way" in partial.stderr.decode()
    assert len(decode_video(out).frames) == 5


def test_a_nut_pipe_of_raw_frames_closed_part_way_is_refused(tmp_path):
    """nut of raw frames, as `--format nut` writes, cut inside a frame: its decoder fails on it."""
    nut = tmp_path / "in.nut"
    make_clip(nut, 30, 64, 48, codec="rawvideo")
    data = nut.read_bytes()
    cut = upscale_process("-", tmp_path / "out.mkv", *ONNX, "--input-format", "nut", stdin=data[: len(data) * 2 // 3])
    assert cut.returncode == 1 and "standard input: damaged data after frame " in lines(cut.stderr)[-1]
    assert not (tmp_path / "out.mkv").exists()
    whole = upscale_process("-", tmp_path / "out.mkv", *ONNX, "--input-format", "nut", stdin=data)
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout.decode().splitlines()[-1] == f"{tmp_path / 'out.mkv'}: 30 frames, 256x192"


WRITER = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from footage import write_y4m; "
WRITER += "write_y4m(sys.argv[1], sys.stdout.buffer)"
READER = textwrap.dedent(
    """
    import sys, av
    with av.open(sys.stdin.buffer, format="yuv4mpegpipe") as pipe:
        frames = list(pipe.decode(video=0))
    print(len(frames), frames[0].width, frames[0].height, frames[0].format.name)
    """
)


def test_the_documented_chain_ffmpeg_to_repvsr_upscale_to_ffmpeg(tmp_path):
    """`ffmpeg -i in.mkv -f yuv4mpegpipe - | repvsr-upscale - - | ffmpeg -i - ...`, three processes."""
    clip = tmp_path / "in.mkv"
    make_clip(clip, 8, 64, 48)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(clip)], stdout=subprocess.PIPE)
    upscaler = subprocess.Popen(
        [*UPSCALE, "-", "-", *ONNX], stdin=writer.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    writer.stdout.close()  # the upscaler holds it now
    reader = subprocess.run(
        [sys.executable, "-c", READER], stdin=upscaler.stdout, capture_output=True, text=True, timeout=120
    )
    upscaler.stdout.close()
    assert upscaler.wait(timeout=30) == 0, upscaler.stderr.read()
    assert writer.wait(timeout=30) == 0 and reader.returncode == 0, reader.stderr
    assert reader.stdout.split() == ["8", "256", "192", "yuv420p"]


def test_the_api_reads_standard_input_and_checks_what_goes_with_a_stream(y4m, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((y4m / "8.y4m").read_bytes())))
    (result,) = repvsr_deploy.upscale("-", tmp_path / "out.mkv", model=MODEL)
    assert (result.source, result.frames, result.size) == ("-", 6, (256, 192))
    assert len(decode_video(tmp_path / "out.mkv").frames) == 6
    with pytest.raises(ParameterError, match="live= is for a pipe or URL input"):
        repvsr_deploy.upscale(y4m / "8.y4m", tmp_path / "x.mkv", model=MODEL, live=Live())
    with pytest.raises(ParameterError, match="reconnect= opens a URL again"):
        repvsr_deploy.upscale("-", tmp_path / "x.mkv", model=MODEL, live=Live(reconnect=2))
    with pytest.raises(ParameterError, match="live= takes the input as it comes: it does not take frames="):
        repvsr_deploy.upscale("-", tmp_path / "x.mkv", model=MODEL, live=Live(), select=Selection(frames=5))
    with pytest.raises(ParameterError, match="format= 'avi': one of y4m, nut, matroska, mpegts, flv"):
        Encoding(format="avi")
    with pytest.raises(ParameterError, match="unknown URL scheme foo://"):
        repvsr_deploy.upscale("foo://x", tmp_path / "x.mkv", model=MODEL)
    with pytest.raises(ReportedError, match="connection refused"):
        list(repvsr_deploy.upscaled_frames("tcp://127.0.0.1:9", MODEL, Selection(timeout=2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]


@pytest.mark.parametrize(
    "args, stdin, code, says",
    [
        (
            ["foo://host/x", "OUT"],
            b"",
            2,
            "foo://host/x: unknown URL scheme foo:// (known: rtmp, rtsp, srt, udp, tcp, http, https",
        ),
        (["tcp://127.0.0.1:9", "OUT"], b"", 1, "tcp://127.0.0.1:9: connection refused (nothing listens there)"),
        (["udp://127.0.0.1:9", "OUT", "--timeout", "1"], b"", 1, "udp://127.0.0.1:9: nothing within 1 s (--timeout)"),
        pytest.param(
            ["srt://127.0.0.1:9", "OUT"],
            b"",
            1,
            "srt://127.0.0.1:9: this FFmpeg has no srt protocol",
            marks=pytest.mark.skipif(HAS_SRT, reason="this FFmpeg has the srt protocol"),
        ),
        (
            ["-", "OUT"],
            b"not a y4m stream at all\n" * 100,
            1,
            "standard input: not a y4m stream (Invalid argument); give --input-format",
        ),
        (["IN", "tcp://127.0.0.1:9"], b"", 1, "tcp://127.0.0.1:9: connection refused (nothing listens there)"),
        (["IN", "OUT", "--live"], b"", 2, "--live is for a pipe or URL input"),
        (["IN", "OUT", "--reconnect", "2"], b"", 2, "--reconnect goes with --live"),
        (["IN", "OUT", "--timeout", "2"], b"", 2, "--timeout is for a URL input or output"),
        (["-", "OUT"], b"", 1, "standard input: empty (nothing came down the pipe)"),
        (["IN", "tcp://127.0.0.1:9?listen=1", "--timeout", "1"], b"", 1, "no reader within 1 s (--timeout)"),
        (["IN", "OUT", "--format", "nut"], b"", 2, "--format names the container of a pipe or URL"),
        (["-", "OUT", "--input-format", "nosuch"], b"", 2, "--input-format nosuch: not a format this FFmpeg reads"),
    ],
)
def test_bad_streams_are_one_line_within_seconds_and_write_nothing(y4m, tmp_path, args, stdin, code, says):
    named = {"IN": str(y4m / "8.y4m"), "OUT": str(tmp_path / "out.mkv")}
    started = time.monotonic()
    result = upscale_process(*(named.get(a, a) for a in args), *ONNX, stdin=stdin, timeout=30)
    assert time.monotonic() - started < 15
    assert result.returncode == code, result.stderr
    said = [line for line in lines(result.stderr) if not line.startswith("model: ")]
    assert len(said) == 1 and says in said[0] and "Traceback" not in said[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("live", [False, True])
def test_y4m_counts_frames_so_a_gap_is_refused_or_live_held(y4m, monkeypatch, live):
    """y4m has no timestamps: frames at 0, 1, 3 (one dropped) are refused, or live, frame 1 held
    through the gap (written twice) and counted."""
    written = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(written, write_through=True))
    frames = [np.full((192, 256, 3), level, np.uint8) for level in (40, 120, 200)]
    with open_source(y4m / "8.y4m") as clip, open_sink("-", clip, 4, live=live) as sink:
        sink.write(frames[0], FrameTime(0, 1))
        sink.write(frames[1], FrameTime(1, 1))
        if not live:
            with pytest.raises(ReportedError, match="y4m holds a constant frame rate, and frame 2 comes after a gap"):
                sink.write(frames[2], FrameTime(3, 1))
            return
        sink.write(frames[2], FrameTime(3, 1))
    assert sink.held == 1
    with av.open(io.BytesIO(written.getvalue()), format="yuv4mpegpipe") as out:
        levels = [round(f.to_ndarray(format="rgb24").mean()) for f in out.decode(video=0)]
    assert np.allclose(levels, [40, 120, 120, 200], atol=1)  # through 4:2:0 and back


def test_audio_into_y4m_and_a_reader_that_goes_away_are_one_line_each(vfr_with_audio, tmp_path):
    refused = upscale_process(vfr_with_audio, "-", *ONNX)
    assert refused.returncode == 1 and refused.stdout == b""
    assert lines(refused.stderr) == [
        "repvsr-upscale: error: input stream 1 (audio, aac) cannot go into y4m: give --format nut, matroska, "
        "mpegts, flv or leave it out (--drop-stream 1)"
    ]
    # `repvsr-upscale in.mkv - | head -c 1000`: the reader takes 1000 bytes and closes the pipe
    upscaler = subprocess.Popen(
        [*UPSCALE, vfr_with_audio, "-", "--drop-stream", "audio", *ONNX], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    upscaler.stdout.read(1000)
    upscaler.stdout.close()
    said = lines(upscaler.stderr.read())
    assert upscaler.wait(timeout=60) == 1
    assert said[-1].startswith("repvsr-upscale: error: standard output: its reader went away after ")
    assert len(said) == 2  # the model line, then this


def test_a_frame_without_a_time_base_is_timed_in_its_streams():
    """HEVC from MPEG-TS over UDP gave frames with a pts and no time base (a crash, seen live)."""
    from types import SimpleNamespace

    from repvsr_deploy.video.source import VideoFile

    stream = SimpleNamespace(time_base=Fraction(1, 90000), rate=Fraction(25))
    frames = [SimpleNamespace(pts=pts, time_base=None) for pts in (0, 3600, 10800)]
    timed = list(VideoFile._timed(stream, iter(frames)))
    assert [(start, duration) for _, start, duration in timed] == [
        (0, Fraction(1, 25)),
        (Fraction(1, 25), Fraction(2, 25)),
        (Fraction(3, 25), Fraction(2, 25)),
    ]
