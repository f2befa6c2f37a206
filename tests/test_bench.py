"""repvsr-bench: the papers' tables, output formats, the plot, the roofline peak, memory and the
device-resident timing path."""

import csv
import importlib.util
import io
import json
import tempfile

import numpy as np
import pytest
import torch
from helpers import run_cli

from repvsr_deploy.bench import roofline
from repvsr_deploy.bench.memory import PeakMemory
from repvsr_deploy.bench.paper_tables import paper_row, resolution_of
from repvsr_deploy.cli.bench import _rows_to_measure
from repvsr_deploy.clips import moving_clip
from repvsr_deploy.models import build_model, fuse, model_names
from repvsr_deploy.models.papers import PaperRow
from repvsr_deploy.runtime.backends import fastest_backend
from repvsr_deploy.runtime.session import Session
from repvsr_deploy.runtime.torch_backend import TorchBackend

REPVSR_TABLE2_ORDER = ["vespcn", "sofvsr", "frvsr", "tecogan", "repvsr"]


def test_ksnet_table_rows_and_the_ones_without_a_model():
    wanted, notes = _rows_to_measure(["ksnet"], [], model_names())
    assert wanted == [("ksnet", m) for m in ["vespcn", "rrn", "edvr-m", "ksnet-uni", "basicvsr", "ksnet-bi"]]
    assert [n.split(": ")[1] for n in notes] == ["rlsp", "dap-128", "rsdn", "assl-bi", "rscl-bi"]


def test_repvsr_table_markdown_and_plot(tmp_path, monkeypatch):
    """Also: the run's intermediate files go under its own `repvsr-bench-` scratch folder, which it
    removes, and it removes the one a killed benchmark left (its lock held by nobody)."""
    scratch = tmp_path / "tmp"
    (scratch / "repvsr-bench-killed").mkdir(parents=True)
    (scratch / "repvsr-bench-killed.lock").touch()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = run_cli(
        "repvsr-bench", "--table", "repvsr", "--lr-size", "64x48", "--backend", "torch", "--frames", "2",
        "--warmup", "0", "--format", "markdown", "--plot", tmp_path / "fps.png",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "### RepVSR Table 2, RTX 2080 Ti"
    header = [cell.strip() for cell in lines[2].strip("|").split("|")]
    body = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[4:9]]
    assert [row[0] for row in body] == REPVSR_TABLE2_ORDER
    assert all(row[header.index("Res")] == "64x48" for row in body)
    for column in ("Params (M)", "GFLOPs", "FPS", "Median ms", "p90 ms", "Peak MB", "GFLOP/s", "% peak"):
        assert column in header
    assert (tmp_path / "fps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(scratch.glob("repvsr-bench-*"))  # torch's own caches may stay


def test_the_tables_name_their_lr_sizes_and_hold_the_papers_numbers():
    assert resolution_of((180, 320)) == "720p" and resolution_of((48, 64)) == "64x48"
    assert paper_row("sofvsr", "720p", "repvsr").gflops == 226.12
    assert paper_row("repvsr", "720p", "repvsr").gflops == 29.435
    assert paper_row("repvsr", "64x48", "repvsr") is None
    # a bidirectional model's (its row is measured at 64x48 below)
    assert paper_row("ksnet-bi", "720p") == PaperRow(3.0, 296.9, 32.3, "KSNet Table 1, RTX 3080", 11)


def test_csv_and_json_carry_both_conventions_the_roofline_and_the_machine(tmp_path):
    args = ["--model", "rrn,ksnet-bi", "--lr-size", "64x48", "--backend", "torch", "--frames", "2", "--warmup", "0"]
    report = json.loads(run_cli("repvsr-bench", *args, "--format", "json", "--out", tmp_path / "rows.csv").stdout)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "rows.csv").read_text())))  # the same run's rows
    assert [r["model"] for r in rows] == [r["model"] for r in report["rows"]] == ["rrn", "ksnet-bi"]
    assert rows[0]["command"] == "repvsr-bench " + " ".join(
        args + ["--format", "json", "--out", str(tmp_path / "rows.csv")]
    )
    assert rows[0]["cpu"] and "torch=" in rows[0]["versions"] and rows[0]["peaks_measured"]
    for row in report["rows"]:
        assert row["resolution"] == "64x48" and row["gflops_exact"] <= row["gflops_paper"]
        assert row["attained_gflops_per_s"] == pytest.approx(row["gflops_exact"] * row["fps"])
        assert row["peak_fraction"] == pytest.approx(row["attained_gflops_per_s"] / row["peak_gflops_per_s"])
        assert row["peak_memory_mb"] > 0 and row["memory_kind"] == "host peak RSS"
        assert row["include_io"] is False
    assert report["peaks"][0]["gflops_per_s"] > 0 and report["machine"]["versions"]["torch"]


BAD = {
    "table and model": (["--table", "ksnet", "--model", "rrn"], "give --table or --model, not both"),
    "res and lr-size": (["--res", "720p", "--lr-size", "64x48"], "give --res or --lr-size, not both"),
    "bad lr-size": (["--lr-size", "64by48"], "'64by48' is not a frame size like 320x180"),
    "bad plot file": (["--plot", "fps.txt"], "--plot fps.txt: give a .png, .svg, .pdf file"),
    "gpu backend without a gpu": (
        ["--backend", "torch", "--device", "cuda"],
        "torch here has no CUDA device",
    ),
    "plugin off tensorrt": (
        ["--backend", "onnxruntime", "--dcn", "plugin"],
        "--dcn plugin: the onnxruntime backend runs standard, portable graphs",
    ),
}


@pytest.mark.skipif(torch.cuda.is_available(), reason="the errors of a machine without a GPU")
@pytest.mark.parametrize("case", BAD)
def test_bad_input_fails_in_one_line_before_measuring(tmp_path, case):
    args, message = BAD[case]
    result = run_cli("repvsr-bench", "--model", "repvsr", *args, cwd=tmp_path)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not any(tmp_path.iterdir())


def test_default_backend_here_is_the_fastest_present():
    backend, device = fastest_backend()
    if not torch.cuda.is_available():  # the CPU runtimes as measured (benchmarks/results/cpu-backends-720p)
        fastest = "openvino" if importlib.util.find_spec("openvino") else "onnxruntime"
        assert (backend, device) == (fastest, "cpu")


def test_the_peak_is_measured_once_a_process_and_the_best_kept_with_its_date(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(roofline, "_MEASURED", {})
    rates = iter([100.7, 227.0, 150.0])  # busy, quiet, busy again: three processes' measurements
    monkeypatch.setattr(roofline, "measure_peak", lambda d, p, name: roofline.Peak(next(rates), name, p, "fake"))
    first = roofline.peak("cpu", "fp32", "Some CPU")
    assert first.gflops_per_s == first.this_run_gflops_per_s == 100.7 and first.measured_at
    assert roofline.peak("cpu", "fp32", "Some CPU") == first  # once a process
    monkeypatch.setattr(roofline, "_MEASURED", {})  # the next process, on a quiet machine: it replaces the peak
    second = roofline.peak("cpu", "fp32", "Some CPU")
    assert second.gflops_per_s == 227.0
    monkeypatch.setattr(roofline, "_MEASURED", {})  # busy again: the best stays, this run's is said beside it
    third = roofline.peak("cpu", "fp32", "Some CPU")
    assert (third.gflops_per_s, third.this_run_gflops_per_s, third.measured_at) == (227.0, 150.0, second.measured_at)
    cached = json.loads((tmp_path / "repvsr-deploy" / "peak-flops.json").read_text())
    assert [entry["gflops_per_s"] for entry in cached.values()] == [227.0]


def test_a_cache_of_another_shape_is_measured_over(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(roofline, "_MEASURED", {})
    (tmp_path / "repvsr-deploy").mkdir()
    key = f"cpu|Some CPU|fp32|threads={torch.get_num_threads()}"
    (tmp_path / "repvsr-deploy" / "peak-flops.json").write_text(json.dumps({key: {"gflops_per_s": "fast"}}))
    monkeypatch.setattr(roofline, "measure_peak", lambda d, p, name: roofline.Peak(99.0, name, p, "fake"))
    assert roofline.peak("cpu", "fp32", "Some CPU").gflops_per_s == 99.0


def test_measured_peak_is_a_rate():
    measured = roofline.measure_peak("cpu", "fp32", "here")
    assert measured.gflops_per_s > 1 and "matmul" in measured.how or "conv" in measured.how


def test_host_peak_memory_sees_an_allocation():
    memory = PeakMemory("onnxruntime", "cpu")
    if memory.kind is None:
        pytest.skip("no /proc/self/clear_refs here")
    memory.start()
    before = memory.peak_mb()
    block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
    assert memory.peak_mb() - before >= 290
    del block


def test_uploaded_frames_without_download_compute_the_same_frames():
    """The benchmark's device-resident path: same HR frames as the host path, padded, on the device."""
    model = fuse(build_model("edvr-m")).eval()  # size multiple 4: 34 x 50 is padded to 36 x 52
    clip = moving_clip(3, 34, 50)
    host = list(Session(TorchBackend(model, "cpu")).run(clip))
    session = Session(TorchBackend(model, "cpu"))
    resident = list(session.run([session.upload(frame) for frame in clip], download=False))
    assert resident[0].shape == (1, 3, 144, 208) and isinstance(resident[0], torch.Tensor)
    for expected, got in zip(host, resident):
        np.testing.assert_allclose(got[..., :136, :200].numpy(), expected, atol=1e-5)


def test_warm_up_frames_are_counted_apart_from_the_timed_ones():
    """repvsr-bench's bar says "(warm-up)" while they run: the first carries the session's start-up."""
    from repvsr_deploy.bench.timing import time_session
    from repvsr_deploy.runtime.bicubic_backend import BicubicBackend
    from repvsr_deploy.runtime.session import Session

    seen = []
    clip = np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32)
    timing = time_session(Session(BicubicBackend()), clip, 3, 2, include_io=True, progress=lambda n, w: seen.append(w))
    assert seen == [True, True, False, False, False] and len(timing.latencies_s) == 3
