import pytest
import torch
from helpers import make_nontrivial


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Random-init models exported once per test session: get(name, precision, dcn) -> (model, path)."""
    from repvsr_deploy.export import export_onnx
    from repvsr_deploy.models import build_model

    cache = {}

    def get(name: str, precision: str = "fp32", dcn: str = "standard"):
        if (name, precision, dcn) not in cache:
            torch.manual_seed(0)
            model = make_nontrivial(build_model(name)).eval()
            path = tmp_path_factory.mktemp("onnx") / f"{name}.{precision}.onnx"
            export_onnx(model, path, precision, dcn)  # bidirectional: also NAME.backward.onnx beside it
            cache[name, precision, dcn] = (model, path)
        return cache[name, precision, dcn]

    return get
