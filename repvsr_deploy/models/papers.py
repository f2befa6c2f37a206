"""The papers' efficiency tables, as published: each model registers its own rows
(`@register_model(name, paper=...)`); `bench.paper_tables` gathers them, with the rows of models
the registry does not have, to print beside what we measure.

Both count FLOPs as 2 x multiply-accumulates (our "paper" convention): RepVSR's FRVSR row is
reproduced to the last digit, and KSNet's RRN row (3.4 M, 387.5 G) is 2 x RRN's 193.6 G MACs.
"""

from dataclasses import dataclass

REPVSR_TABLE2 = "RepVSR Table 2, RTX 2080 Ti"
KSNET_TABLE1 = "KSNet Table 1, RTX 3080"


@dataclass(frozen=True)
class PaperRow:
    """One model's numbers at one resolution, as its table prints them; `position`: its row there."""

    params_m: float | None
    gflops: float | None
    fps: float
    source: str
    position: int


# table -> resolution -> row: what a model registers
PaperRows = dict[str, dict[str, PaperRow]]


def repvsr_table2(position, params_m, gflops_720p, fps_720p, gflops_1080p, fps_1080p, gflops_4k, fps_4k) -> PaperRows:
    """A row of RepVSR's Table 2 (720p, 1080p and 4K outputs)."""
    return {
        "repvsr": {
            "720p": PaperRow(params_m, gflops_720p, fps_720p, REPVSR_TABLE2, position),
            "1080p": PaperRow(params_m, gflops_1080p, fps_1080p, REPVSR_TABLE2, position),
            "4k": PaperRow(params_m, gflops_4k, fps_4k, REPVSR_TABLE2, position),
        }
    }


def ksnet_table1(position, params_m, gflops, fps) -> PaperRows:
    """A row of KSNet's Table 1 (LR 180x320 only)."""
    return {"ksnet": {"720p": PaperRow(params_m, gflops, fps, KSNET_TABLE1, position)}}
