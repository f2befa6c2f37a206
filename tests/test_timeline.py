"""One rule for when each frame shows, on both paths that read a video: the sequential one (a whole
file in order) and the chunked one (segments cut at keyframes, resumed, run on Ray), which must agree
frame for frame on clips whose timestamps repeat, go missing or go back."""

from fractions import Fraction

import av
import numpy as np
import pytest
from footage import decode_video

import repvsr_deploy
from repvsr_deploy.demo import GRAPH
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.runtime import Backend
from repvsr_deploy.upscaling import Chunks, Model
from repvsr_deploy.video.segments import index_frames, plan_segments, segment_frames
from repvsr_deploy.video.source import VideoFile
from repvsr_deploy.video.timeline import timed

TICK = Fraction(1, 1000)
# ms; frames 0, 4 and 8 are keyframes: 3 repeats 2, 6 goes back before 5
ODD_STAMPS = [0, 40, 80, 80, 160, 240, 200, 280, 320, 360, 400, 440]


def _times(stamps, rate=25):
    return [(start, duration) for _, start, duration in timed(((None, s) for s in stamps), TICK, Fraction(rate))]


@pytest.mark.fast
def test_the_rule_moves_on_past_repeated_missing_and_earlier_timestamps():
    f = Fraction
    assert _times([f(0), f(1, 10), f(2, 10)]) == [(0, f(1, 10)), (f(1, 10), f(1, 10)), (f(2, 10), f(1, 10))]
    repeated = _times([f(0), f(1, 10), f(1, 10), f(3, 10)])
    assert [t for t, _ in repeated] == [0, f(1, 10), f(1, 10) + TICK, f(3, 10)]
    earlier = _times([f(0), f(2, 10), f(1, 10), f(3, 10)])
    assert [t for t, _ in earlier] == [0, f(2, 10), f(2, 10) + TICK, f(3, 10)]
    missing = _times([None, None, f(3, 10), None])  # the gap of the rate, then the last gap
    gap = f(3, 10) - f(1, 25)
    assert missing == [(0, f(1, 25)), (f(1, 25), gap), (f(3, 10), gap), (f(3, 10) + gap, gap)]
    assert _times([f(5)]) == [(f(5), f(1, 25))]  # a lone frame lasts 1/rate
    assert _times([]) == []


def _encode(path, format=None, frames=12, options=(("bframes", "0"), ("g", "4"), ("keyint_min", "4"))):
    """x264 (without B-frames, a keyframe every 4 frames, unless `options` say otherwise); each
    frame a picture of its own."""
    with av.open(str(path), "w", format=format) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {**dict(options), "sc_threshold": "0"}
        for k in range(frames):
            rgb = np.random.default_rng(k).integers(0, 256, (48, 64, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.fixture(scope="module")
def odd_clips(tmp_path_factory):
    """{kind: path}: Matroska whose timestamps repeat and go back; a raw H.264 stream with none."""
    folder = tmp_path_factory.mktemp("timeline")
    _encode(folder / "plain.mkv")
    with av.open(str(folder / "plain.mkv")) as source, av.open(str(folder / "odd.mkv"), "w") as odd:
        stream = odd.add_stream_from_template(source.streams.video[0])
        for k, packet in enumerate(p for p in source.demux(source.streams.video[0]) if p.size):
            packet.stream, packet.time_base = stream, TICK
            packet.pts, packet.dts = ODD_STAMPS[k], k  # decoding times rising, as a muxer wants them
            odd.mux(packet)
    _encode(folder / "bare.h264", format="h264")
    return {"odd": folder / "odd.mkv", "bare": folder / "bare.h264"}


@pytest.fixture(scope="module")
def transport_stream(tmp_path_factory):
    """MPEG-TS with B-frames, a keyframe every 8 frames: a seek there lands past the keyframe asked for."""
    path = tmp_path_factory.mktemp("timeline") / "clip.ts"
    _encode(path, "mpegts", 64, options=(("g", "8"), ("keyint_min", "8")))
    return path


def _check_both_paths(path, streams=3):
    """The index's times are the sequential reader's, and every segment decodes its frames."""
    sequential = list(VideoFile(path, 0, None).frames())
    clip = VideoFile(path, 0, None)
    index = index_frames(clip, [])
    assert index.times == [time for _, time in sequential]
    starts = [time.pts for _, time in sequential]
    assert all(b > a for a, b in zip(starts, starts[1:]))  # a time line that only moves on
    for segment in plan_segments(index, streams, 0.1, warmup=2):
        frames = list(segment_frames(clip, index, segment))[segment.warmup :]
        assert len(frames) == segment.frames
        for k, frame in enumerate(frames):
            assert np.array_equal(frame, sequential[segment.first + k][0]), (segment, k)
    return index


@pytest.mark.parametrize("kind", ["odd", "bare"])
def test_both_paths_time_and_decode_every_frame_alike(odd_clips, kind):
    index = _check_both_paths(odd_clips[kind])
    if kind == "odd":  # decoded to be indexed: its packets share timestamps
        assert index.stamps != sorted(index.stamps) and len(set(index.stamps)) < len(index.stamps)
        assert (index.keyframes, index.cuts) == (3, [0, 4, 8])
    else:  # no timestamp to seek to: one segment
        assert set(index.stamps) == {None} and (index.keyframes, index.cuts) == (3, [0])


def test_a_seek_that_lands_past_its_keyframe_starts_from_an_earlier_one(transport_stream):
    index = _check_both_paths(transport_stream, streams=8)
    assert index.cuts == [0, 8, 16, 24, 32, 40, 48, 56]  # from its packets


def test_a_truncated_file_is_refused_by_the_index_as_by_the_sequential_reader(tmp_path):
    _encode(tmp_path / "whole.mkv", frames=40)
    data = (tmp_path / "whole.mkv").read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])
    with pytest.raises(ReportedError, match="truncated or corrupt: its frames end at"):
        index_frames(VideoFile(tmp_path / "cut.mkv", 0, None), [])


def test_a_chunked_upscale_writes_the_sequential_times_of_an_odd_clip(odd_clips, tmp_path):
    pytest.importorskip("onnxruntime")
    model = Model(GRAPH, Backend.OnnxRuntime("cpu"))
    (whole,) = repvsr_deploy.upscale(odd_clips["odd"], tmp_path / "whole.mkv", model=model)
    (chunked,) = repvsr_deploy.upscale(
        odd_clips["odd"], tmp_path / "chunked.mkv", model=model, chunks=Chunks(2, segment=0.1, warmup=2)
    )
    assert (whole.error, chunked.error, chunked.segments) == (None, None, 3)
    expected, got = decode_video(tmp_path / "whole.mkv"), decode_video(tmp_path / "chunked.mkv")
    assert len(got.times) == 12 and (got.times, got.ends) == (expected.times, expected.ends)
    (bare,) = repvsr_deploy.upscale(odd_clips["bare"], tmp_path / "bare.mkv", model=model, chunks=Chunks(2, 0.1))
    assert bare.segments == 1 and [str(note) for note in bare.warnings] == [
        "1 segment(s) for chunks= 2: of its 3 keyframes, 1 can start a segment: the others have no timestamp, "
        "or one no later than a frame before them (remuxed into .mkv or .mp4, it cuts finer)"
    ]
