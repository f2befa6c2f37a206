"""The commands through their installed entry points, as a user runs them."""

import csv
import io
import json

import pytest
from helpers import run_cli, run_process

from repvsr_deploy.models import build_model, save_checkpoint


def assert_one_line_error(result, prog, message):
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"{prog}: error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_export_random_init(tmp_path):
    result = run_cli("repvsr-export", "--model", "repvsr", "--random-init", "--onnx", "-o", tmp_path / "r.onnx")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r.onnx").is_file()
    assert "273,117 parameters" in result.stdout
    assert (
        "8 frames of 96x64 (the last also as a batch of 2 streams) through onnxruntime vs the unfused torch model, "
        "on the same state each step: max abs error" in result.stdout
    )


def test_export_checkpoint_with_fp16(tmp_path):
    save_checkpoint(build_model("rrn", blocks=2), tmp_path / "ckpt.pth")  # a checkpoint keeps its config
    result = run_cli("repvsr-export", tmp_path / "ckpt.pth", "--onnx", "--fp16", "--verify-frames", "3")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ckpt.onnx").is_file() and (tmp_path / "ckpt.fp16.onnx").is_file()
    assert "ckpt.fp16.onnx: fp16, opset 19" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.fp16.onnx", "ckpt.onnx", "ckpt.pth"]


def write_corrupt(path):
    path.write_bytes(b"\x80\x04 this is not a checkpoint")


def write_repvsr(path):
    save_checkpoint(build_model("repvsr"), path)


BAD_EXPORTS = {
    "missing file": (None, ["absent.pth", "--onnx"], "absent.pth: no such checkpoint file"),
    "corrupt checkpoint": (write_corrupt, ["ckpt.pth", "--onnx"], "ckpt.pth: not a readable checkpoint"),
    "another model": (
        write_repvsr,
        ["ckpt.pth", "--onnx", "--model", "frvsr"],
        "holds a 'repvsr' checkpoint, not 'frvsr'",
    ),
    "unknown model": (None, ["--random-init", "--model", "vsrnet", "--onnx"], "unknown model 'vsrnet'"),
    "no format": (write_repvsr, ["ckpt.pth"], "nothing to export: add --onnx"),
    "bad size": (write_repvsr, ["ckpt.pth", "--onnx", "--verify-size", "96by64"], "is not a frame size"),
}


@pytest.mark.parametrize("case", BAD_EXPORTS)
def test_export_bad_input(tmp_path, case):
    prepare, args, message = BAD_EXPORTS[case]
    if prepare:
        prepare(tmp_path / "ckpt.pth")
    before = set(tmp_path.iterdir())
    result = run_cli("repvsr-export", *args, "-o", "out.onnx", cwd=tmp_path)
    assert_one_line_error(result, "repvsr-export", message)
    assert set(tmp_path.iterdir()) == before  # no output, no leftover temp file


def test_bench_json(tmp_path):
    result = run_cli(
        "repvsr-bench",
        "--model",
        "repvsr",
        "--res",
        "720p",
        "--backend",
        "onnxruntime,torch",
        "--frames",
        "2",
        "--warmup",
        "0",
        "--format",
        "json",
        "--out",
        tmp_path / "b.json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    assert json.loads(result.stdout) == report
    assert report["command"].startswith("repvsr-bench --model repvsr")
    assert report["machine"]["cpu"] and report["machine"]["versions"]["torch"]
    assert [(r["backend"], r["form"]) for r in report["rows"]] == [("onnxruntime", "fused"), ("torch", "fused")]
    for row in report["rows"]:
        assert row["params"] == 273_117 and row["lr_size"] == "320x180"
        assert abs(row["gflops_paper"] - 29.37) < 0.01 and row["gflops_exact"] < row["gflops_paper"]
        assert row["fps"] > 0 and row["latency_p90_ms"] >= row["latency_median_ms"] > 0
        assert (row["paper_params_m"], row["paper_gflops"], row["paper_fps_gpu"]) == (0.274, 29.435, 96.76)


def test_bench_csv_and_table_with_unfused(tmp_path):
    args = ["--model", "repvsr", "--res", "720p", "--backend", "torch", "--unfused", "--frames", "2", "--warmup", "0"]
    table = run_cli("repvsr-bench", *args, "--out", tmp_path / "rows.csv").stdout  # one run, both forms
    rows = list(csv.DictReader(io.StringIO((tmp_path / "rows.csv").read_text())))
    assert [r["form"] for r in rows] == ["unfused", "fused"]
    assert float(rows[0]["speedup_vs_unfused"]) == 1.0 and int(rows[0]["params"]) > int(rows[1]["params"])
    assert rows[0]["command"].startswith("repvsr-bench --model repvsr")
    assert "vs unfused" in table and "Paper FPS (GPU)" in table and "paper convention" in table


BAD_BENCHES = {
    "unwritable output": (["--out", "/proc/nowhere/b.json"], "/proc/nowhere: cannot write there"),
    "bad resolution": (["--res", "999p"], "Invalid value for '--res': '999p' is not one of 720p, 1080p, 4k"),
    "unknown model": (["--model", "vsrnet"], "Invalid value for '--model': 'vsrnet' is not one of"),
    "unknown backend": (["--backend", "tpu"], "Invalid value for '--backend': 'tpu'"),
    "bad format": (["--format", "xml"], "Invalid value for '--format'"),
}


@pytest.mark.parametrize("case", BAD_BENCHES)
def test_bench_bad_input(tmp_path, case):
    args, message = BAD_BENCHES[case]
    out = [] if "--out" in args else ["--out", "b.json"]
    result = run_cli("repvsr-bench", *args, *out, cwd=tmp_path)
    assert_one_line_error(result, "repvsr-bench", message)
    assert not any(tmp_path.iterdir())


def test_debug_shows_the_traceback(tmp_path):
    result = run_process("repvsr-export", "absent.pth", "--onnx", "--debug", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_trt_check_reports_what_is_missing():
    from repvsr_deploy.trt import probe

    found = probe()
    result = run_cli("repvsr-trt", "check")
    for line in (
        "TensorRT:",
        "TensorRT for RTX:",
        "cuda-python:",
        "NVIDIA GPU:",
        "TensorRT engines:",
        "TensorRT for RTX engines:",
    ):
        assert line in result.stdout
    if found.usable:
        assert result.returncode == 0, result.stderr
    else:
        assert_one_line_error(result, "repvsr-trt", "no TensorRT flavour can run engines on this machine")
    if found.can_build("rtx") and not found.can_run("rtx"):
        assert "TensorRT for RTX engines: build here" in result.stdout


def test_a_long_commands_stages_show_on_a_terminal_and_are_cleared(monkeypatch):
    """repvsr-export and repvsr-quantize say each stage on a terminal, cleared at the end (the
    report, or the one-line error, is what stays); into a log or a pipe, nothing."""
    import io
    import sys

    from repvsr_deploy.cli.status import status_line
    from repvsr_deploy.errors import ReportedError

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with pytest.raises(ReportedError), status_line() as say:
        say("r.onnx: tracing the fp32 step graph")
        raise ReportedError("r.onnx: differs")
    assert terminal.getvalue() == "\r\x1b[Kr.onnx: tracing the fp32 step graph…\r\x1b[K"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with status_line() as say:
        say("not a terminal")
    assert sys.stderr.getvalue() == ""
