"""repvsr_deploy.upscale and upscaled_frames: what repvsr-upscale does, from Python, with the same
outputs (the command is a front over `upscale`: its tests, Ray's included, run this code too);
errors in the Python API's words from Python and in the command's flags from the command."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from footage import Audio, decode_video, frame_times, make_clip
from helpers import make_video, run_cli
from PIL import Image

import repvsr_deploy
from repvsr_deploy.demo import GRAPH
from repvsr_deploy.errors import ParameterError, ReportedError
from repvsr_deploy.runtime import Backend
from repvsr_deploy.runtime.backends import gpu_problem
from repvsr_deploy.upscaling import Chunks, Encoding, Model, Selection

pytestmark = pytest.mark.fast  # the tier `make check` runs

pytest.importorskip("onnxruntime")
MODEL = Model(GRAPH, Backend.OnnxRuntime())
ROOT = Path(__file__).resolve().parents[1]
KEYFRAMES_EVERY_4 = {"g": "4", "keyint_min": "4", "sc_threshold": "0"}


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory) -> Path:
    """Starting late after its audio, its rate falling from 25 to 10 fps."""
    path = tmp_path_factory.mktemp("api") / "in.mp4"
    times = frame_times(12, late=0.2, slow_after=6)
    make_clip(path, 12, 48, 32, times=times, audio=(Audio(),), options=KEYFRAMES_EVERY_4)
    return path


def test_the_api_writes_what_the_command_writes(vfr_clip, tmp_path):
    (result,) = repvsr_deploy.upscale(vfr_clip, tmp_path / "api.mp4", model=MODEL, encoding=Encoding(crf=0))
    command = run_cli("repvsr-upscale", vfr_clip, tmp_path / "cli.mp4", "--onnx", GRAPH, "--crf", 0)
    assert command.returncode == 0, command.stderr
    assert command.stdout.splitlines()[-1] == f"{tmp_path / 'cli.mp4'}: 12 frames, 192x128, 1 stream(s) carried"
    assert (result.frames, result.size, result.carried, result.error) == (12, (192, 128), 1, None)
    assert result.stages.items == 12 and result.target == tmp_path / "api.mp4"
    api, cli = decode_video(tmp_path / "api.mp4"), decode_video(tmp_path / "cli.mp4")
    assert np.array_equal(api.frames, cli.frames) and api.times == cli.times and api.ends == cli.ends
    assert abs(api.times[0] - 0.2) < 1e-3 and api.frames.std() > 5


def test_chunks_and_many_inputs_from_python_one_failing(vfr_clip, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    seen = []
    chunks = Chunks(2, segment=0.1, warmup=2)
    results = repvsr_deploy.upscale(
        [broken, vfr_clip], out_dir=tmp_path / "out", model=MODEL, chunks=chunks, on_result=seen.append
    )
    assert seen == results and [r.source for r in results] == [broken, vfr_clip]
    failed, done = results
    assert str(broken) in str(failed.error) and not (tmp_path / "out" / "broken.mp4").exists()
    assert done.error is None and done.frames == 12 and done.segments == 3 and done.resumed == 0
    command = run_cli(
        "repvsr-upscale", vfr_clip, tmp_path / "cli.mp4", "--onnx", GRAPH, "--chunks", 2, "--segment", 0.1,
        "--warmup", 2,
    )  # fmt: skip
    assert command.returncode == 0 and "12 frames, 192x128, 3 segments, 1 stream(s) carried" in command.stdout
    api, cli = decode_video(tmp_path / "out" / "in.mp4"), decode_video(tmp_path / "cli.mp4")
    assert np.array_equal(api.frames, cli.frames) and api.times == cli.times


def test_upscaled_frames_give_each_hr_frame_at_its_time(vfr_clip, tmp_path):
    """As a folder of PNGs holds them (exact levels), at the times a video output gives them."""
    select = Selection(start=4, frames=5)
    frames = list(repvsr_deploy.upscaled_frames(vfr_clip, MODEL, select))
    command = run_cli("repvsr-upscale", vfr_clip, tmp_path / "png", "--onnx", GRAPH, "--start", 4, "--frames", 5)
    assert command.returncode == 0, command.stderr
    images = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "png").iterdir())]
    assert len(frames) == len(images) == 5
    assert all(f.rgb.dtype == np.uint8 and np.array_equal(f.rgb, image) for f, image in zip(frames, images))
    repvsr_deploy.upscale(vfr_clip, tmp_path / "timed.mkv", model=MODEL, select=select, drop_streams=["audio"])
    video = decode_video(tmp_path / "timed.mkv")
    assert [float(f.start) for f in frames] == pytest.approx(video.times, abs=1e-3)
    assert [float(f.start + f.duration) for f in frames] == pytest.approx(video.ends, abs=1e-3)
    assert frames[-1].duration == pytest.approx(0.1, abs=1e-3)  # past frame 6: 10 fps


def test_errors_name_python_parameters_from_python_and_flags_from_the_command(vfr_clip, tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(ParameterError) as caught:
        repvsr_deploy.upscale(vfr_clip, out, model=MODEL, chunks=Chunks(2), select=Selection(start=3))
    assert str(caught.value) == "chunks= runs a whole video: it does not take start="
    result = run_cli("repvsr-upscale", vfr_clip, out, "--onnx", GRAPH, "--chunks", 2, "--start", 3)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "repvsr-upscale: error: --chunks runs a whole video: it does not take --start"
    result = run_cli("repvsr-upscale", vfr_clip, out, "--onnx", GRAPH, "--chunks", 2, "--reset-at-cuts")
    assert result.stderr.strip().endswith("it does not take --reset-at-cuts")
    result = run_cli("repvsr-upscale", vfr_clip, out, "--onnx", GRAPH, "--drop-stream", 7)
    assert result.returncode == 2 and result.stderr.startswith("repvsr-upscale: error: --drop-stream: '7' is none")
    assert not out.exists()


def test_an_existing_output_file_is_replaced_only_with_overwrite(vfr_clip, tmp_path):
    out = tmp_path / "keep.mkv"
    out.write_bytes(b"an earlier output")
    for chunks in ((), ("--chunks", 2)):
        refused = run_cli("repvsr-upscale", vfr_clip, out, "--onnx", GRAPH, *chunks)
        assert refused.returncode == 1 and refused.stderr.strip() == (
            f"repvsr-upscale: error: {out}: exists; give --overwrite to replace it, or another name"
        )
        assert out.read_bytes() == b"an earlier output"
    replaced = run_cli("repvsr-upscale", vfr_clip, out, "--onnx", GRAPH, "--frames", 2, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert len(decode_video(out).times) == 2


def test_many_inputs_are_all_found_before_any_is_upscaled(vfr_clip, tmp_path):
    listed = tmp_path / "inputs.txt"
    listed.write_text(f"{vfr_clip}\nmissing.mp4\n")
    result = run_cli("repvsr-upscale", "--inputs-from", listed, "--out-dir", tmp_path / "out", "--onnx", GRAPH)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"repvsr-upscale: error: no such input: {tmp_path / 'missing.mp4'} (nothing was upscaled)"
    )
    assert not (tmp_path / "out").exists()


def test_the_library_below_the_commands_names_no_flag_in_its_errors():
    """Messages written below cli/ name parameters with `parameter(name)`, which each reader gets in
    their own words; a `--flag` written there would reach a Python caller (a hint to run another
    command, `repvsr-export --dcn portable`, names that command's flags). Every string the package
    writes counts, raised or not (docstrings and the arguments of other programs aside)."""
    package = Path(repvsr_deploy.__file__).parent
    files = sorted(p for p in package.rglob("*.py") if p.relative_to(package).parts[0] != "cli")
    assert len(files) > 100
    flag = re.compile(r"(?<![\w-])--[a-z][\w-]*")
    hint = re.compile(r"repvsr-[a-z]+[^;)]*")  # a command to run, to the end of its clause
    found = []
    for path in files:
        tree = ast.parse(path.read_text())
        apart = set()  # docstrings and other comments, parts of f-strings, a program's arguments
        for node in ast.walk(tree):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                apart.add(id(node.value))
            elif isinstance(node, ast.JoinedStr):
                apart.update(id(part) for part in node.values)
            elif isinstance(node, (ast.List, ast.Tuple)):
                apart.update(id(element) for element in node.elts)
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(part.value for part in node.values if isinstance(part, ast.Constant))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in apart:
                text = node.value
            else:
                continue
            found += [f"{path.name}:{node.lineno}: {f}" for f in flag.findall(hint.sub("", text))]
    assert found == []


def test_the_python_api_pages_upscaling_code_runs_as_written(tmp_path, monkeypatch):
    page = (ROOT / "docs" / "python-api.md").read_text()
    code = page.split("## Upscaling videos", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    for name, frames in (("in.mp4", 6), ("a.mp4", 6), ("b.mkv", 4)):
        make_video(tmp_path / name, frames=frames)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "python-api.md", "exec"), {})
    assert len(decode_video(tmp_path / "out.mkv").times) == 6
    assert sorted(p.name for p in (tmp_path / "upscaled").iterdir()) == ["a.mp4", "b.mkv"]


def test_what_a_new_user_met_is_said_plainly(vfr_clip, tmp_path):
    """A file where the output's folder goes, a tree that takes no files, a video given to
    repvsr-eval as DATA, and --chunks on a video with fewer keyframes than streams."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli("repvsr-upscale", vfr_clip, blocker / "out.mkv", "--bicubic")
    assert result.returncode == 1 and result.stderr.strip() == (
        f"repvsr-upscale: error: {blocker}: cannot write there ({blocker} is a file, not a folder)"
    )
    if Path("/proc/self").is_dir():
        result = run_cli("repvsr-upscale", vfr_clip, "/proc/out.mkv", "--bicubic")
        assert result.stderr.strip() == "repvsr-upscale: error: /proc: cannot write there (it takes no new files)"
    result = run_cli("repvsr-eval", vfr_clip, GRAPH)
    assert result.returncode == 1 and f"{vfr_clip}: a file; give the folder that holds it" in result.stderr
    (chunked,) = repvsr_deploy.upscale(vfr_clip, tmp_path / "c.mp4", model=MODEL, chunks=Chunks(8, segment=0.1))
    assert chunked.segments == 3 and chunked.warnings == [
        "3 segment(s) for chunks= 8: it has 3 keyframe(s), where segments start (re-encoded with a keyframe every "
        "second or two, it cuts finer)"
    ]
    result = run_cli("repvsr-upscale", vfr_clip, tmp_path / "d.mp4", "--onnx", GRAPH, "--chunks", 8, "--segment", 0.1)
    assert "repvsr-upscale: warning: 3 segment(s) for --chunks 8: it has 3 keyframe(s)" in result.stderr


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: Selection(frames=0), "frames= 0: an integer of at least 1"),
        (lambda: Selection(start=-1), "start= -1: an integer of at least 0"),
        (lambda: Selection(start=1.5), "start= 1.5: an integer of at least 0"),
        (lambda: Selection(scene_cuts=float("nan")), "scene_cuts= nan: a number from 0 to 1"),
        (lambda: Chunks(0), "chunks= 0: an integer of at least 1"),
        (lambda: Chunks(2, segment=0), "segment= 0: a number from 0.1 to 3600"),
        (lambda: Chunks(2, warmup=-1), "warmup= -1: an integer of at least 0"),
        (lambda: Encoding(bit_depth=12), "bit_depth= 12: 8 or 10"),
        (lambda: Encoding(crf=99), "crf= 99: an integer from 0 to 63"),
        (lambda: Model(window=1), "window= 1: an integer of at least 2"),
        (lambda: Model(backend="openvino"), "backend= takes a choice of repvsr_deploy.runtime.Backend"),
        (lambda: Backend.OpenVINO(threads=-1), "threads= -1: an integer of at least 1"),
    ],
)
def test_options_the_command_would_refuse_are_refused_from_python(make, words):
    with pytest.raises(ParameterError, match=re.escape(words)):
        make()


def test_a_backend_asked_for_without_a_model_file_runs_the_demo_there(vfr_clip, tmp_path):
    if gpu_problem() is not None:
        with pytest.raises(ParameterError, match="device= cuda: no backend here computes on an NVIDIA GPU"):
            repvsr_deploy.upscale(vfr_clip, tmp_path / "b.mp4", model=Model(backend=Backend.Auto("cuda")))
    with pytest.raises(ReportedError, match="backend= tensorrt: the demo ships no engine"):
        repvsr_deploy.upscale(vfr_clip, tmp_path / "b.mp4", model=Model(backend=Backend.TensorRT()))
    with pytest.raises(ParameterError, match=r"give output= \(one input\) or out_dir=: where to write"):
        repvsr_deploy.upscale(vfr_clip)
    (result,) = repvsr_deploy.upscale(vfr_clip, tmp_path / "c.mp4", model=Model(backend=Backend.OnnxRuntime(threads=1)))
    assert result.error is None and result.frames == 12 and not (tmp_path / "a.mp4").exists()


def test_the_entry_points_document_every_parameter_as_the_docs_render_them():
    """Google-style sections (mkdocstrings shows them as tables): each parameter named in Args."""
    import inspect

    from repvsr_deploy.bench.flops import count_flops
    from repvsr_deploy.data.training_sets import open_training_data
    from repvsr_deploy.export.verified import export_verified
    from repvsr_deploy.models import build_model, count_params, fuse, load_checkpoint
    from repvsr_deploy.runtime.backends import fastest_backend, open_graphs
    from repvsr_deploy.runtime.session import open_session
    from repvsr_deploy.runtime.streams import open_streams
    from repvsr_deploy.train.run import train_model

    entry_points = (
        repvsr_deploy.upscale, repvsr_deploy.upscaled_frames, open_session, open_streams, open_graphs,
        fastest_backend, export_verified, build_model, fuse, load_checkpoint, count_params, count_flops,
        train_model, open_training_data,
    )  # fmt: skip
    for function in entry_points:
        doc = inspect.getdoc(function)
        args = doc.split("Args:\n", 1)[1].split("\n\n", 1)[0]
        documented = set(re.findall(r"^    (\w+):", args, re.M))
        assert documented == set(inspect.signature(function).parameters), function.__name__
        assert "Returns:" in doc or "Yields:" in doc, function.__name__


def test_what_a_python_caller_may_get_wrong_is_one_clear_error(vfr_clip, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(ReportedError, match=f"{re.escape(str(a_file))} is a file, not a folder"):
        repvsr_deploy.upscale([vfr_clip], out_dir=a_file, model=MODEL)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ReportedError, match="cannot write there"):
        repvsr_deploy.upscale(vfr_clip, tmp_path / "dangling" / "sub" / "out.mp4", model=MODEL)
    with pytest.raises(ParameterError, match="bicubic= is no model: it takes no model file"):
        next(repvsr_deploy.upscaled_frames(vfr_clip, Model(GRAPH, bicubic=True)))
    with pytest.raises(ParameterError, match="dtype= float32: uint8 or uint16 levels"):
        next(repvsr_deploy.upscaled_frames(vfr_clip, MODEL, dtype=np.float32))
    (result,) = repvsr_deploy.upscale(vfr_clip, tmp_path / "silent.mp4", model=MODEL, drop_streams="audio")
    assert result.carried == 0 and result.frames == 12  # one name, not its letters
