"""The pipelined upscale: decode, model and encode overlap, in order, and a failure anywhere stops every
stage and reaches the caller; many inputs in one command, each on its own."""

import signal
import threading
import time
from time import sleep

import av
import pytest
from helpers import make_video, run_cli

from repvsr_deploy.video.pipeline import pipelined

pytestmark = pytest.mark.fast  # the tier `make check` runs

STAGE_S = 0.02


def _slow(item):
    time.sleep(STAGE_S)
    return item


def test_stages_overlap_and_keep_the_order():
    consumed = []

    def produce():
        for i in range(20):
            yield _slow(i)

    def transform(items):
        for item in items:
            yield _slow(item * 10)

    times = pipelined(produce(), transform, lambda item: consumed.append(_slow(item)))
    assert consumed == [i * 10 for i in range(20)] and times.items == 20
    assert all(busy >= 20 * STAGE_S * 0.9 for busy in times.busy), times
    assert times.wall < 0.75 * sum(times.busy), times  # run one after another, it would be their sum
    assert "ms/frame working" in times.describe()


class Boom(Exception):
    pass


def _failing(at: int):
    def items():
        for i in range(100):
            if i == at:
                raise Boom(f"at {i}")
            yield i

    return items()


@pytest.mark.parametrize("stage", ["produce", "transform", "consume", "interrupt"])
def test_a_failure_in_any_stage_ends_every_thread_and_reaches_the_caller(stage):
    threads_before = threading.active_count()
    consumed = []

    def transform(items):
        for item in items:
            if stage == "transform" and item == 5:
                raise Boom("in the model")
            if stage == "interrupt" and item == 5:
                raise KeyboardInterrupt
            yield item

    def consume(item):
        if stage == "consume" and item == 5:
            raise Boom("in the encoder")
        consumed.append(item)

    produce = _failing(5) if stage == "produce" else iter(range(100))
    with pytest.raises(KeyboardInterrupt if stage == "interrupt" else Boom):
        pipelined(produce, transform, consume)
    assert threading.active_count() == threads_before
    assert consumed == list(range(len(consumed))) and len(consumed) <= 5


def _frame_count(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


class _Stop(BaseException):
    pass


def test_a_stop_while_a_thread_starts_is_raised_once_every_thread_can_be_joined(monkeypatch):
    """The stop comes inside `Thread.start`, after the thread is launched and before it has begun
    (as on a loaded machine): raised there, the cleanup would not see that thread, left running
    while its caller closes what it reads (a crash, seen). Held until the threads have started, it
    ends them all before it reaches the caller."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    if "_start_new_thread" not in threading.Thread.start.__code__.co_names:
        pytest.skip("this Python's Thread.start launches threads another way (3.10-3.12 do it so)")
    launch = threading._start_new_thread

    def launched_late_then_stopped(function, args):
        def late():
            time.sleep(0.3)
            function(*args)

        launch(late, ())
        signal.raise_signal(signal.SIGTERM)  # its handler runs at the next instruction, inside start

    def stop(signum, frame):
        raise _Stop

    previous = signal.signal(signal.SIGTERM, stop)
    monkeypatch.setattr(threading, "_start_new_thread", launched_late_then_stopped)
    try:
        with pytest.raises(_Stop):
            pipelined(iter(range(100)), lambda items: iter(items), _slow)
        left = [t.name for t in threading.enumerate() if t.name in ("producer", "consumer")]
    finally:
        monkeypatch.undo()
        signal.signal(signal.SIGTERM, previous)
    assert left == []


def test_decoding_does_not_wait_on_the_encoder_to_copy_the_other_streams():
    """An audio packet comes with every frame; encoding takes 20 ms a frame, and the queues fill:
    decoding still takes no time, and every packet reaches the sink, in order, before the frame
    that came after it."""
    import numpy as np

    from repvsr_deploy.video import upscale

    class Source:
        def frames(self, carried, on_packet):
            for index in range(40):
                on_packet(("audio", index))
                yield np.zeros((4, 4, 3), np.uint8), index

    class Session:
        def reset(self):
            pass

        def run_levels(self, frames, dtype):
            for _ in frames:
                yield np.zeros((4, 4, 3), dtype)

    class Sink:
        dtype = np.uint8

        def __init__(self):
            self.written = []

        def write(self, rgb, time):
            sleep(0.02)
            self.written.append(("video", time))

        def copy(self, packet):
            self.written.append(packet)

    sink = Sink()
    times = upscale.run(Source(), sink, Session(), None, lambda: None, ["audio"])
    assert times.produce < 0.1 and times.consume >= 0.8
    assert sorted(p for p in sink.written if p[0] == "audio") == [p for p in sink.written if p[0] == "audio"]
    assert all(sink.written.index(("audio", k)) < sink.written.index(("video", k)) for k in range(40))


def test_many_inputs_each_on_its_own_line_and_one_failing_does_not_stop_the_others(tmp_path):
    make_video(tmp_path / "a.mp4", frames=4)
    make_video(tmp_path / "b.mkv", frames=3, audio=False)
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    result = run_cli(
        "repvsr-upscale", tmp_path / "a.mp4", tmp_path / "broken.mp4", tmp_path / "b.mkv", "--out-dir", out, "--bicubic"
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "model: bicubic x4, no model",
        f"{out / 'a.mp4'}: 4 frames, 192x128, 1 stream(s) carried",
        f"{out / 'b.mkv'}: 3 frames, 192x128",
    ]
    errors = [line for line in result.stderr.splitlines() if line.startswith("repvsr-upscale: ")]  # not the bars
    assert len(errors) == 2 and errors[0].startswith(f"repvsr-upscale: {tmp_path / 'broken.mp4'}: ")
    assert errors[1].endswith("1 of 3 inputs failed (each said above); the others are written")
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mkv"]  # nothing of the broken one
    assert _frame_count(out / "a.mp4") == 4 and _frame_count(out / "b.mkv") == 3


def test_what_runs_is_said_once_as_frames_start_and_not_for_an_input_refused_first(tmp_path):
    make_video(tmp_path / "in.mp4", frames=2, audio=False)
    (tmp_path / "out.mkv").write_bytes(b"someone's file")
    refused = run_cli("repvsr-upscale", tmp_path / "in.mp4", tmp_path / "out.mkv", "--bicubic")
    assert refused.returncode == 1 and refused.stdout == "" and refused.stderr.count("\n") == 1
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    both = run_cli(
        "repvsr-upscale", tmp_path / "broken.mp4", tmp_path / "in.mp4", "--out-dir", tmp_path / "o", "--bicubic"
    )
    assert both.stdout.splitlines() == [
        "model: bicubic x4, no model",
        f"{tmp_path / 'o' / 'in.mp4'}: 2 frames, 192x128",
    ]


def test_inputs_listed_in_a_file_relative_to_it(tmp_path):
    (tmp_path / "clips").mkdir()
    make_video(tmp_path / "clips" / "a.mp4", frames=2, audio=False)
    make_video(tmp_path / "b.mp4", frames=3, audio=False)
    listing = tmp_path / "clips" / "list.txt"
    listing.write_text("# the day's footage\na.mp4\n\n../b.mp4\n")
    out = tmp_path / "out"
    result = run_cli("repvsr-upscale", "--inputs-from", listing, "--out-dir", out, "--bicubic")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        f"{out / 'a.mp4'}: 2 frames, 192x128",
        f"{out / 'b.mp4'}: 3 frames, 192x128",
    ]
    refused = run_cli("repvsr-upscale", "--inputs-from", listing, "--bicubic")
    assert refused.returncode == 2 and "--inputs-from takes --out-dir" in refused.stderr
    listing.write_text("# nothing\n")
    refused = run_cli("repvsr-upscale", "--inputs-from", listing, "--out-dir", tmp_path / "none", "--bicubic")
    assert refused.returncode == 2 and "no inputs: give IN... or --inputs-from FILE" in refused.stderr


def test_two_inputs_of_one_name_are_refused_before_any_work(tmp_path):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        make_video(tmp_path / folder / "clip.mp4", frames=2)
    result = run_cli(
        "repvsr-upscale", tmp_path / "x/clip.mp4", tmp_path / "y/clip.mp4", "--out-dir", tmp_path / "out", "--bicubic"
    )
    assert result.returncode == 2 and "would both be written to" in result.stderr
    assert not (tmp_path / "out").exists()
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    result = run_cli("repvsr-upscale", tmp_path / "broken.mp4", "--out-dir", tmp_path / "out", "--bicubic")
    assert result.returncode == 1 and not (tmp_path / "out").exists()  # all failed: no empty folder left


def test_stats_name_the_stage_that_sets_the_rate(tmp_path):
    make_video(tmp_path / "in.mp4", frames=5)
    result = run_cli("repvsr-upscale", tmp_path / "in.mp4", tmp_path / "out.mkv", "--bicubic", "--stats")
    assert result.returncode == 0, result.stderr
    model, summary, stages = result.stdout.splitlines()
    assert model == "model: bicubic x4, no model"
    assert summary.startswith(f"{tmp_path / 'out.mkv'}: 5 frames")
    assert stages.startswith("stages: decode ") and "(5 frames; the " in stages and "sets the rate)" in stages
