"""The backend registry (one list, what runs here and why not) and the lifetimes of sessions and
backends: a closed session has let go of what its backends held."""

import gc
import os
import re
import signal
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_test_model

import repvsr_deploy
from repvsr_deploy.demo import GRAPH
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.export import LOWERINGS
from repvsr_deploy.runtime import open_session
from repvsr_deploy.runtime.backends import BACKENDS, DEVICES, fastest_backend
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.session import session_over
from repvsr_deploy.runtime.torch_backend import TorchBackend

NO_GPU = not torch.cuda.is_available()
FRAME = np.random.default_rng(0).integers(0, 256, (3, 36, 44), np.uint8)


def test_every_backend_says_what_it_runs_and_where():
    for name, kind in BACKENDS.items():
        assert kind.name == name and kind.devices and set(kind.devices) <= set(DEVICES) - {"auto"}
        assert set(kind.dcn) <= set(LOWERINGS)
        assert (kind.flavor is not None) == name.startswith("tensorrt"), name
        for device in kind.devices:
            problem = kind.problem(device)
            assert problem is None or (isinstance(problem, str) and problem), name


@pytest.mark.skipif(not NO_GPU, reason="what a machine without an NVIDIA GPU says")
def test_without_a_gpu_each_backend_says_why_not_in_one_line():
    for name in ("onnxruntime", "openvino", "torch"):
        assert BACKENDS[name].problem("cpu") is None and BACKENDS[name].resolve_device("auto") == "cpu"
    for name in ("tensorrt", "tensorrt-rtx"):
        assert "GPU" in BACKENDS[name].problem("cuda") or "not usable" in BACKENDS[name].problem("cuda")
        assert BACKENDS[name].problem("cpu") == f"the {name} backend runs on cuda only, not cpu"
        with pytest.raises(ReportedError):
            BACKENDS[name].resolve_device("auto")
    with pytest.raises(ReportedError, match="the openvino backend runs on cpu only, not cuda"):
        BACKENDS["openvino"].resolve_device("cuda")
    with pytest.raises(ReportedError, match="torch here has no CUDA device"):
        BACKENDS["torch"].resolve_device("cuda")
    assert fastest_backend() == ("openvino", "cpu")


def test_a_backend_takes_the_lowering_asked_or_the_only_one_it_runs():
    assert BACKENDS["openvino"].lowering("standard") == "portable"
    assert BACKENDS["tensorrt-rtx"].lowering("plugin") == "portable"
    assert BACKENDS["tensorrt"].lowering("plugin") == "plugin"
    assert BACKENDS["torch"].lowering("plugin") == "plugin"  # the model itself: any
    with pytest.raises(ReportedError, match="dcn= plugin: the onnxruntime backend runs standard, portable graphs"):
        BACKENDS["onnxruntime"].lowering("plugin")


def test_no_list_of_backends_outside_the_registry():
    """Two backend names side by side as string literals make a list of backends: only the registry
    has one (the machine description lists distributions, some named as backends are)."""
    names = "|".join(map(re.escape, BACKENDS))
    pattern = re.compile(rf'"({names})",\s*"({names})"')
    package = Path(repvsr_deploy.__file__).parent
    found = [
        f"{path.relative_to(package)}: {match.group(0)}"
        for path in package.rglob("*.py")
        if path.relative_to(package).as_posix() not in ("runtime/backends.py", "bench/machine.py")
        for match in pattern.finditer(path.read_text())
        if match.group(1) != match.group(2)
    ]
    assert not found


def _tasks() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc")
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_closed_sessions_let_go_of_their_runtime_while_still_referenced(backend, monkeypatch):
    """Sessions kept (as a caller might) but closed: the runtime's threads and sessions are gone.
    OpenVINO's threads belong to the process's one Core (`openvino_core`), which keeps them for the
    next sessions: its infer requests are gone, and as many sessions again make no more threads."""
    pytest.importorskip(backend)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # a pool of threads each (test processes run one thread)
    before = _tasks()
    sessions = _three_sessions_that_ran(backend)
    opened = _tasks()
    requests = [weakref.ref(b.request) for s in sessions for b in s.backends if backend == "openvino"]
    for session in sessions:
        session.close()
        session.close()  # twice: nothing more to do
    gc.collect()
    closed = _tasks()
    if backend == "openvino":
        assert requests and not any(request() for request in requests)
        for session in _three_sessions_that_ran(backend):
            session.close()
        assert _tasks() <= opened, (opened, _tasks())
    else:
        assert closed < opened and closed <= before + 1, (before, opened, closed)  # one pool a runtime may keep
    with pytest.raises(ReportedError, match="the session over model 'repvsr' is closed"):
        sessions[0].step(FRAME)


def _three_sessions_that_ran(backend: str) -> list:
    sessions = [open_session(GRAPH, Backend.named(backend, "cpu")) for _ in range(3)]
    for session in sessions:
        list(session.run([FRAME, FRAME]))
    return sessions


def test_a_with_block_closes_every_graph_of_a_bidirectional_model():
    model = build_test_model("basicvsr")
    graphs = {kind: TorchBackend(model, "cpu", kind) for kind in model.graphs.kinds}
    alive = [weakref.ref(b.model) for b in graphs.values()]
    with session_over(graphs, window=2) as session:
        hr = list(session.run([FRAME, FRAME, FRAME]))
    assert len(hr) == 3 and all(b.model is None for b in graphs.values())
    del model
    gc.collect()
    assert all(ref() is None for ref in alive)  # the backends held the model; nothing else does
    with pytest.raises(ReportedError, match="is closed"):
        list(session.run([FRAME, FRAME]))


def test_a_session_that_cannot_be_made_closes_the_graphs_it_was_given():
    model = build_test_model("basicvsr")
    graphs = {kind: TorchBackend(model, "cpu", kind) for kind in model.graphs.kinds}
    with pytest.raises(ReportedError, match="at least 2"):
        session_over(graphs, window=1)
    assert all(b.model is None for b in graphs.values())


@pytest.mark.parametrize("value, threads", [("1", 1), (None, None), ("many", None)])
def test_the_cpu_backends_take_omp_num_threads_as_torch_does(monkeypatch, value, threads):
    """Processes sharing the cores (Ray's CPU workers, test processes) get a thread each, not a pool each."""
    pytest.importorskip("openvino")
    from repvsr_deploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
    from repvsr_deploy.runtime.openvino_backend import openvino_core

    if value is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", value)
    onnxruntime = OnnxRuntimeBackend(GRAPH, "cpu").session.get_session_options().intra_op_num_threads
    assert onnxruntime == (threads or 0)  # 0: onnxruntime's own choice, a pool over every core
    openvino_default = openvino_core().compile_model(str(GRAPH), "CPU").get_property("INFERENCE_NUM_THREADS")
    with open_session(GRAPH, Backend.OpenVINO()) as session:
        session.step(FRAME)  # compiled for the frame's size as it first runs
        assert session.backend.request.get_compiled_model().get_property("INFERENCE_NUM_THREADS") == (
            threads or openvino_default
        )
    # threads asked of the backend's choice come before OMP_NUM_THREADS
    with open_session(GRAPH, Backend.OnnxRuntime("cpu", threads=1)) as session:
        assert session.backend.session.get_session_options().intra_op_num_threads == 1
    with open_session(GRAPH, Backend.OpenVINO(threads=1)) as session:
        session.step(FRAME)
        assert session.backend.request.get_compiled_model().get_property("INFERENCE_NUM_THREADS") == 1


OPENVINO_SESSIONS_THEN_A_SIGNAL = """
import os, signal
from repvsr_deploy.demo import GRAPH
from repvsr_deploy.runtime import Backend, open_session

first, second = (open_session(GRAPH, Backend.OpenVINO()) for _ in range(2))
first.close()
second.close()
signal.signal(signal.SIGUSR1, lambda *_: print("handled"))
os.kill(os.getpid(), signal.SIGUSR1)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")
def test_openvino_sessions_closed_in_the_order_they_opened_leave_signals_handled():
    """OpenVINO's CPU plugin gives the thread a signal stack per Core and, released, puts back the
    one it found, freed or not: sessions on a Core each, closed first-opened first, left the main
    thread a freed one, and the next signal Python handled (Ctrl-C; torch's SIGCHLD) was a SIGSEGV."""
    pytest.importorskip("openvino")
    result = subprocess.run(
        [sys.executable, "-c", OPENVINO_SESSIONS_THEN_A_SIGNAL], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout == "handled\n", (result.returncode, result.stderr[-2000:])


def test_the_bicubic_backend_is_torchs_bicubic_without_torch():
    from repvsr_deploy.runtime.bicubic_backend import bicubic_upscale

    def torch_bicubic(lr, scale):
        up = torch.nn.functional.interpolate(lr.reshape(-1, *lr.shape[-3:]), scale_factor=scale, mode="bicubic")
        return up.clamp(0, 1).reshape(*lr.shape[:-2], *up.shape[-2:])

    for shape in ((1, 3, 17, 23), (3, 1, 5), (3, 2, 1)):  # borders on every side, sides of 1 and 2 pixels
        lr = np.random.default_rng(0).random(shape, dtype=np.float32)
        expected = torch_bicubic(torch.from_numpy(lr), 4).numpy()
        assert bicubic_upscale(lr, 4).shape == expected.shape
        assert np.abs(bicubic_upscale(lr, 4) - expected).max() < 1e-6
        double = torch_bicubic(torch.from_numpy(lr).double(), 4).numpy()
        assert np.abs(bicubic_upscale(lr.astype(np.float64), 4) - double).max() < 1e-12  # repvsr-eval's
