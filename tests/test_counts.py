"""Parameter and FLOP counts against RepVSR Table 2 (paper convention) and torch's own rule (exact)."""

import pytest

from repvsr_deploy import count_flops, count_params, fuse
from repvsr_deploy.bench.paper_tables import paper_row
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.models import build_model
from repvsr_deploy.resolutions import RESOLUTIONS

pytestmark = pytest.mark.fast  # the tier `make check` runs


def test_frvsr_parameters_are_the_papers():
    model = build_model("frvsr")
    assert count_params(model.flownet) == 1_745_506
    assert count_params(model.srnet) == 843_587
    assert count_params(model) == 2_589_093


@pytest.mark.parametrize("resolution, gflops", [("720p", 190.81), ("1080p", 429.30), ("4k", 1718.65)])
def test_frvsr_flops_are_table2_to_the_last_digit(resolution, gflops):
    assert round(count_flops(build_model("frvsr"), RESOLUTIONS[resolution], convention="paper") / 1e9, 2) == gflops


def test_exact_convention_counts_transposed_convs_at_input_resolution():
    assert round(count_flops(build_model("frvsr"), RESOLUTIONS["720p"], convention="exact") / 1e9, 2) == 127.11


def test_repvsr_deploy_parameters_within_2_percent_of_table2():
    params = count_params(fuse(build_model("repvsr")))
    assert params == 273_117
    assert abs(params / 0.274e6 - 1) <= 0.02


@pytest.mark.parametrize("resolution", list(RESOLUTIONS))
def test_repvsr_deploy_flops_within_2_percent_of_table2(resolution):
    gflops = count_flops(fuse(build_model("repvsr")), RESOLUTIONS[resolution]) / 1e9
    assert abs(gflops / paper_row("repvsr", resolution).gflops - 1) <= 0.02


def test_training_form_costs_more_than_deploy_form():
    model = build_model("repvsr")
    assert count_params(model) > 10 * count_params(fuse(model))
    assert count_flops(model, (36, 52)) > 5 * count_flops(fuse(model), (36, 52))


def test_unknown_convention_is_reported():
    with pytest.raises(ReportedError, match="unknown FLOPs convention 'macs'"):
        count_flops(build_model("frvsr"), (36, 52), convention="macs")
