"""The Triton Inference Server bundled in nvidia-pytriton's wheel (tritonserver with its Python
backend), started on loopback for a test and stopped after it."""

from __future__ import annotations

import contextlib
import ctypes.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import repvsr_deploy

START_SECONDS = 120  # the server loads the repository's models before it is ready


def bundled_server() -> tuple[Path, Path, Path]:
    """(tritonserver, the Python backend's folder, the wheel's shared libraries), or the test skips."""
    pytriton = pytest.importorskip("pytriton", reason="nvidia-pytriton (Linux x86-64) bundles tritonserver")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if ctypes.util.find_library(f"python{version}") is None:  # what the Python backend's stub links to
        pytest.skip(f"the Python backend's stub needs libpython{version}.so, which this system lacks")
    root = Path(pytriton.__file__).parent / "tritonserver"
    libs = Path(pytriton.__file__).parent.parent / "nvidia_pytriton.libs"
    return root / "bin" / "tritonserver", root, libs


def _backends(root: Path, folder: Path) -> Path:
    """A backend directory holding the Python backend with the stub for this Python."""
    python = folder / "backends" / "python"
    python.mkdir(parents=True)
    for item in (root / "backends" / "python").iterdir():
        (python / item.name).symlink_to(item)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (python / "triton_python_backend_stub").symlink_to(
        root / "python_backend_stubs" / version / "triton_python_backend_stub"
    )
    return folder / "backends"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(repository: Path, folder: Path):
    """The server on 127.0.0.1 serving `repository`; yields its gRPC address (host:port)."""
    binary, root, libs = bundled_server()
    tritonclient = pytest.importorskip("tritonclient.grpc")
    grpc_port = _free_port()
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": os.pathsep.join(filter(None, [str(libs), os.environ.get("LD_LIBRARY_PATH")])),
        # the stub's Python sees this one's packages, and this checkout's repvsr_deploy
        "PYTHONPATH": os.pathsep.join([str(Path(repvsr_deploy.__file__).parents[1]), *sys.path]),
    }
    log = open(folder / "tritonserver.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [
            str(binary),
            "--model-repository",
            str(repository),
            "--backend-directory",
            str(_backends(root, folder)),
            "--allow-http",
            "false",
            "--allow-metrics",
            "false",
            "--grpc-address",
            "127.0.0.1",
            "--grpc-port",
            str(grpc_port),
            "--exit-timeout-secs",
            "10",
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"127.0.0.1:{grpc_port}"
    try:
        client = tritonclient.InferenceServerClient(url)
        deadline = time.monotonic() + START_SECONDS
        while not _ready(client):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"tritonserver did not come up:\n{(folder / 'tritonserver.log').read_text()[-3000:]}"
                )
            time.sleep(0.2)
        client.close()
        yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _ready(client) -> bool:
    try:
        return client.is_server_ready()
    except Exception:  # not listening yet
        return False
