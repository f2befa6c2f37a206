"""One output discipline: outputs appear whole or not at all, one writer at a time; what a killed
writer left is cleared by the next one; SIGTERM ends a command like Ctrl-C; anticipated failures
(a full disk, sizes past the limits, a codec that is not a video one) are one line each."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import BIN, make_video, run_cli

from repvsr_deploy.models import build_model, save_checkpoint


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A long clip (60 frames, long enough to stop midway) and a short one (2 frames)."""
    folder = tmp_path_factory.mktemp("clips")
    make_video(folder / "long.mp4", frames=60, width=128, height=96, audio=False)
    make_video(folder / "short.mp4", frames=2, width=40, height=32, audio=False)
    return folder


def hidden_litter(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def start(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / args[0]), *map(str, args[1:])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def staging_of(target: Path) -> list[Path]:
    return [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.staging-")]


def test_a_folder_output_is_replaced_whole_and_only_with_overwrite(tmp_path, clips):
    out = tmp_path / "out"
    assert run_cli("repvsr-upscale", clips / "short.mp4", out, "--frames", 2).returncode == 0
    (out / "000002.png").write_bytes((out / "000001.png").read_bytes())  # as if an earlier, longer run
    refused = run_cli("repvsr-upscale", clips / "short.mp4", out, "--frames", 1)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "a folder that is not empty (3 entries); give --overwrite" in refused.stderr
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "000002.png"]
    replaced = run_cli("repvsr-upscale", clips / "short.mp4", out, "--frames", 1, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert sorted(p.name for p in out.iterdir()) == ["000000.png"]  # no stale frames of the other run
    (out / "notes.txt").write_text("mine")
    kept = run_cli("repvsr-upscale", clips / "short.mp4", out, "--overwrite")
    assert kept.returncode == 1 and "holds more than" in kept.stderr and (out / "notes.txt").exists()
    assert hidden_litter(tmp_path) == []


def test_a_target_of_the_wrong_kind_is_refused(tmp_path, clips):
    (tmp_path / "out.mp4").mkdir()
    (tmp_path / "frames").write_text("a file")
    for target, named in (
        (tmp_path / "out.mp4", "is a folder; give a file name"),
        (tmp_path / "frames", "exists and is not a folder"),
    ):
        result = run_cli("repvsr-upscale", clips / "short.mp4", target)
        assert result.returncode == 1 and named in result.stderr and result.stderr.count("\n") == 1
    assert list((tmp_path / "out.mp4").iterdir()) == [] and (tmp_path / "frames").read_text() == "a file"


def test_a_second_writer_of_the_same_output_is_refused(tmp_path, clips):
    out = tmp_path / "out.mp4"
    first = start("repvsr-upscale", clips / "long.mp4", out)
    try:
        wait_for(lambda: (tmp_path / ".out.mp4.lock").exists() or first.poll() is not None)
        second = run_cli("repvsr-upscale", clips / "short.mp4", out)
        assert second.returncode == 1 and "another process is writing it now" in second.stderr
    finally:
        first.wait(300)
    assert first.returncode == 0, first.stderr.read()
    assert hidden_litter(tmp_path) == []


@pytest.mark.parametrize("target_name", ["frames", "out.mkv"])
def test_sigterm_ends_a_command_like_ctrl_c_and_leaves_nothing(tmp_path, clips, target_name):
    target = tmp_path / target_name
    process = start("repvsr-upscale", clips / "long.mp4", target)
    partial = (
        (lambda: staging_of(target))
        if target_name == "frames"
        else (lambda: [p for p in tmp_path.iterdir() if p.name.endswith(".part")])
    )
    wait_for(lambda: partial() or process.poll() is not None)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.strip().endswith("repvsr-upscale: error: stopped by SIGTERM")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_what_a_killed_writer_left_is_cleared_by_the_next_run(tmp_path, clips):
    """SIGKILL cannot be handled: the staging stays, hidden, until the next run to the same output."""
    target = tmp_path / "frames"
    process = start("repvsr-upscale", clips / "long.mp4", target)
    wait_for(lambda: any(staging_of(target)) and any(staging_of(target)[0].iterdir()))
    process.kill()
    process.wait()
    assert staging_of(target) and not target.exists()
    again = run_cli("repvsr-upscale", clips / "short.mp4", target)
    assert again.returncode == 0, again.stderr
    assert hidden_litter(tmp_path) == [] and len(list(target.iterdir())) == 2


def test_a_killed_export_leaves_no_graph_under_its_name_and_the_next_one_clears_it(tmp_path):
    output = tmp_path / "models" / "k.onnx"
    save_checkpoint(build_model("rrn", blocks=2), tmp_path / "k.pth")  # a model quick to trace
    process = start("repvsr-export", tmp_path / "k.pth", "--onnx", "-o", output)
    wait_for(lambda: output.parent.is_dir() and any(staging_of(output)) and any(staging_of(output)[0].iterdir()))
    process.kill()
    process.wait()
    assert staging_of(output) and not output.exists()
    again = run_cli("repvsr-export", tmp_path / "k.pth", "--onnx", "-o", output)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in output.parent.iterdir()) == ["k.onnx"]


def _on_a_tiny_disk(folder: Path, *command) -> subprocess.CompletedProcess:
    """`command` run with a 256 KiB tmpfs mounted on `folder` (in a mount namespace of its own)."""
    script = f'mount -t tmpfs -o size=256k tmpfs "{folder}" && exec "$@"'
    return subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script, "sh", str(BIN / command[0]), *map(str, command[1:])],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def tiny_disk(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    probe = shutil.which("unshare") and subprocess.run(
        ["unshare", "-Urm", "sh", "-c", f'mount -t tmpfs -o size=256k tmpfs "{folder}"'], capture_output=True
    )
    if not probe or probe.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (no user namespaces); test_a_write_error_is_one_line simulates it")
    return folder


def test_a_full_disk_is_one_line_and_leaves_nothing(tiny_disk, clips):
    result = _on_a_tiny_disk(tiny_disk, "repvsr-upscale", clips / "long.mp4", tiny_disk / "out")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert (
        result.stderr.strip().splitlines()[-1]
        == "repvsr-upscale: error: no space left on the device (nothing half-written was kept)"
    )
    assert list(tiny_disk.iterdir()) == []  # the mount is gone with its namespace: the folder under it is empty


def test_outputs_that_cannot_fit_are_refused_before_the_work(tiny_disk):
    """Training and the benchmark check the room their outputs need before minutes of work."""
    cases = [
        ("repvsr-train", "--demo-data", "--iterations", "1", "-o", tiny_disk / "r.pth"),
        ("repvsr-bench", "--model", "repvsr", "--frames", "2", "--out", tiny_disk / "table.json"),
    ]
    for command in cases:
        began = time.monotonic()
        result = _on_a_tiny_disk(tiny_disk, *command)
        assert result.returncode == 1 and "MiB free on its device" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and time.monotonic() - began < 60


def test_a_write_error_is_one_line(tmp_path, monkeypatch, capsys):
    """Where no tmpfs can be mounted: the disk filling up during a checkpoint save, simulated as
    torch fails then (its zip writer says "unexpected pos"), and the command's one line for it."""
    import click
    import torch

    from repvsr_deploy.cli.errors import run_command
    from repvsr_deploy.models import build_model, save_checkpoint
    from repvsr_deploy.models import checkpoint as checkpoint_module

    def fills_the_disk(payload, path):
        Path(path).write_bytes(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 192000 vs 191888")

    monkeypatch.setattr(torch, "save", fills_the_disk)
    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1, 1, 0))
    model, target = build_model("vespcn"), tmp_path / "r.pth"

    @click.command("repvsr-train")
    def saves():
        save_checkpoint(model, target)

    monkeypatch.setattr("sys.argv", ["repvsr-train"])
    with pytest.raises(SystemExit) as exit_code:
        run_command(saves)
    assert exit_code.value.code == 1
    assert (
        capsys.readouterr().err == f"repvsr-train: error: {target}: no space left on the device "
        "(nothing half-written was kept)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_sizes_and_codecs_past_what_can_work_are_one_line(tmp_path, clips):
    from PIL import Image

    wide = tmp_path / "wide"
    wide.mkdir()
    Image.new("RGB", (9000, 8)).save(wide / "0.png")
    cases = [
        (("repvsr-bench", "--lr-size", "100000x100000"), 2, "sides 1..8192"),
        (("repvsr-upscale", wide, tmp_path / "o"), 1, "frames of 9000x8; at most 8192 pixels a side"),
        (
            ("repvsr-upscale", clips / "short.mp4", tmp_path / "o.mp4", "--codec", "aac"),
            1,
            "--codec aac: an encoder of audio, not of video",
        ),
    ]
    for command, code, named in cases:
        result = run_cli(*command)
        assert result.returncode == code and named in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "internal error" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide"]


def test_the_engine_and_its_sidecar_are_one_build(exported, tmp_path):
    """Two builds of one engine at once: the second waits for the first and reuses its engine;
    a sidecar beside another build's engine is refused, not trusted."""
    _, graph = exported("repvsr")
    engine = tmp_path / "r.plan"
    command = ("repvsr-trt", "build", graph, "-o", engine, "--flavor", "rtx", "--profiles", "720p")
    builders = [start(*command), start(*command)]
    outputs = [b.communicate(timeout=600) for b in builders]
    assert [b.returncode for b in builders] == [0, 0], outputs
    said = "".join(out + err for out, err in outputs)
    assert said.count("building from") == 1 and "up to date" in said
    sidecar = json.loads((tmp_path / "r.plan.json").read_text())
    from repvsr_deploy.trt.cache import file_sha256

    assert sidecar["engine_sha256"] == file_sha256(engine)
    assert hidden_litter(tmp_path) == []
    engine.write_bytes(engine.read_bytes() + b"another build")
    result = run_cli("repvsr-trt", "info", engine)
    assert result.returncode == 1 and "describes another build of it" in result.stderr
    rebuilt = run_cli(*command)
    assert rebuilt.returncode == 0 and "rebuilding" in rebuilt.stdout + rebuilt.stderr


def test_timing_caches_of_concurrent_builds_are_merged(tmp_path):
    """TensorRT's timing cache (GPU builds only) saved by two builds that each read it before the
    other saved: simulated with stand-ins for the cache API, entries as lines of text."""
    from repvsr_deploy.trt.builder import save_timing_cache

    class Cache:
        def __init__(self, entries):
            self.entries = set(entries)

        def combine(self, other, ignore_mismatch):
            self.entries |= other.entries
            return True

        def serialize(self):
            return "\n".join(sorted(self.entries)).encode()

    class Config:
        def __init__(self, entries):
            self.cache = Cache(entries)

        def get_timing_cache(self):
            return self.cache

        def create_timing_cache(self, data):
            return Cache(data.decode().split("\n") if data else [])

    path = tmp_path / "timing.cache"
    path.write_text("conv-a")
    first, second = Config({"conv-a", "conv-b"}), Config({"conv-a", "conv-c"})  # both started from conv-a
    save_timing_cache(first, path, print)
    save_timing_cache(second, path, print)
    assert path.read_text().split("\n") == ["conv-a", "conv-b", "conv-c"]
    assert hidden_litter(tmp_path) == []


def test_stale_staging_of_a_live_writer_is_not_touched(tmp_path):
    """The clean-up runs only under the output's lock: a live writer's staging is safe."""
    from repvsr_deploy.atomic import exclusive
    from repvsr_deploy.errors import ReportedError

    target = tmp_path / "out.mp4"
    with exclusive(target):
        live = tmp_path / f".out.mp4.staging-{os.getpid()}-x"
        live.mkdir()
        holder = subprocess.run(
            [
                str(BIN / "python"),
                "-c",
                f"from repvsr_deploy.atomic import exclusive\nwith exclusive({str(target)!r}): pass",
            ],
            capture_output=True,
            text=True,
        )
        assert holder.returncode != 0 and ReportedError.__name__ in holder.stderr
        assert live.is_dir()


def test_a_stop_inside_a_constructor_prints_no_traceback_after_its_line():
    """A signal that lands while a progress bar is being built leaves a half-built object, whose
    finalizer fails at exit ("Exception ignored ... AttributeError"): after a stop, only its line."""
    code = textwrap.dedent("""
        import signal
        import click
        import tqdm.std
        from repvsr_deploy.cli.errors import Stopped, run_command

        def half_built(self, *args, **kwargs):
            self.disable = False  # the signal lands after this attribute and before the next
            raise Stopped(signal.SIGTERM)

        tqdm.std.tqdm.__init__ = half_built

        @click.command("demo")
        def demo():
            tqdm.std.tqdm(total=3)

        run_command(demo)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 128 + signal.SIGTERM
    assert result.stderr == "demo: error: stopped by SIGTERM\n"
