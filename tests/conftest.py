import os
import shutil

import pytest
import torch
from filelock import FileLock
from helpers import distinct_graph_models, make_nontrivial

if "PYTEST_XDIST_WORKER" in os.environ:  # test processes (pytest -n) share the cores: one thread each
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # and for the commands the tests run


# The exported graphs' models: the registry's with fewer of their repeated blocks (EDVR-M: a window of
# three), so every kind of layer is there (and traced, lowered, verified) at a fraction of the export
# time, which grows with depth.
SHALLOW = {
    "basicvsr": {"blocks": 2},
    "edvr-m": {"frames": 3, "extract_blocks": 1, "reconstruct_blocks": 2},
    "frvsr": {"sr_blocks": 2},
    "tecogan": {"sr_blocks": 2},
    "ksnet-uni": {"extract_blocks": 1},
    "ksnet-bi": {"extract_blocks": 1},
    "rrn": {"blocks": 2},
}


def build_test_model(name: str) -> torch.nn.Module:
    """The random-init model every test of `name` sees (SHALLOW): the same weights in every test process."""
    from repvsr_deploy.models import build_model

    torch.manual_seed(0)
    return make_nontrivial(build_model(name, **SHALLOW.get(name, {}))).eval()


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory):
    """Each test process caches (measured peaks, timing caches) in a folder of its own, not the user's."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.getbasetemp() / "cache")


# The size each shared graph is verified at when exported (3 frames): small, as the tests compare the
# graphs at sizes of their own (odd ones, longer clips).
VERIFIED_HW = (40, 56)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Random-init models exported (and verified) once per test run: get(name, precision, dcn, io) -> (model, path).

    Each (model, precision) is traced once in its most fused form; its deformable-conv lowerings are
    rewrites of that graph (as `repvsr-export --dcn` does), each in a folder of its own, so that a
    forward graph's backward twin keeps its name beside it. The graphs live in a folder that the test processes
    (pytest -n) share, each one written under a lock by whichever process needs it first."""
    from repvsr_deploy.export import export_verified, precision_path, write_lowered
    from repvsr_deploy.models.edvr import EDVR

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "exported"
    shared.mkdir(exist_ok=True)
    models: dict[str, torch.nn.Module] = {}

    def get(name: str, precision: str = "fp32", dcn: str = "standard", io: str = "float"):
        if name not in models:
            models[name] = build_test_model(name)
        model = models[name]
        form = "standard" if isinstance(model, EDVR) else "plugin"  # the most fused form each model has
        folder = shared / f"{name}-{precision}-{dcn}{'' if io == 'float' else '-' + io}"
        path = precision_path(folder / f"{name}.onnx", precision)
        with FileLock(f"{folder}.lock"):
            if not folder.is_dir():
                staging = shared / f".{folder.name}.staging"
                shutil.rmtree(staging, ignore_errors=True)  # what a failed export left
                staging.mkdir()
                if dcn == form:  # verified as repvsr-export does; bidirectional: NAME.backward.onnx beside it
                    export_verified(
                        model, staging / f"{name}.onnx", (precision,), form, frames=3, hw=VERIFIED_HW, io=io
                    )
                else:
                    write_lowered(model, get(name, precision, form, io)[1], dcn, staging)
                staging.rename(folder)
        return model, path

    return get


# Seconds each model's fp32 graph takes to trace here (SHALLOW's configurations, 2-core CPU, rounded):
# only for splitting the sweep's traces evenly between the test processes.
TRACE_SECONDS = {"ksnet-bi": 45, "ksnet-uni": 35, "basicvsr": 30, "edvr-m": 27, "sofvsr": 15, "vespcn": 15}


@pytest.fixture(scope="session", autouse=True)
def swept_graphs_traced_first(request, exported):
    """Each test process first traces its share (split by cost) of the graphs of the models the
    run's tests sweep by name, so that neither waits on a lock while the other traces the graph its
    next test needs; without test processes (pytest -n 0) a graph is traced when a test asks."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return
    swept = {
        item.callspec.params["name"]
        for item in request.session.items
        if "exported" in item.fixturenames and "name" in getattr(getattr(item, "callspec", None), "params", {})
    }
    loads = [0] * int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    for name in sorted(swept & set(distinct_graph_models()), key=lambda name: (-TRACE_SECONDS.get(name, 10), name)):
        least = loads.index(min(loads))
        loads[least] += TRACE_SECONDS.get(name, 10)
        if least == int(worker.removeprefix("gw")):
            exported(name)
