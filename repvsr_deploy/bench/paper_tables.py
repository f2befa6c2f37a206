"""The papers' efficiency tables, as published, to print beside what we measure.

Both count FLOPs as 2 x multiply-accumulates (our "paper" convention): RepVSR's FRVSR row is
reproduced to the last digit, and KSNet's RRN row (3.4 M, 387.5 G) is 2 x RRN's 193.6 G MACs.
"""

from dataclasses import dataclass

from ..resolutions import RESOLUTIONS


@dataclass(frozen=True)
class PaperRow:
    params_m: float | None
    gflops: float | None
    fps: float
    source: str


REPVSR_TABLE2 = "RepVSR Table 2, RTX 2080 Ti"
KSNET_TABLE1 = "KSNet Table 1, RTX 3080"


def _repvsr(params_m, gflops_720p, fps_720p, gflops_1080p, fps_1080p, gflops_4k, fps_4k):
    return {
        "720p": PaperRow(params_m, gflops_720p, fps_720p, REPVSR_TABLE2),
        "1080p": PaperRow(params_m, gflops_1080p, fps_1080p, REPVSR_TABLE2),
        "4k": PaperRow(params_m, gflops_4k, fps_4k, REPVSR_TABLE2),
    }


def _ksnet(params_m, gflops, fps):  # LR 180x320 only
    return {"720p": PaperRow(params_m, gflops, fps, KSNET_TABLE1)}


# table -> model -> resolution -> row, in the papers' order
TABLES = {
    "repvsr": {
        "vespcn": _repvsr(0.879, 96.56, 48.48, 221.08, 24.76, 886.47, 6.78),
        "sofvsr": _repvsr(1.640, 226.12, 13.31, 508.78, 5.993, 2035.11, 1.73),
        "frvsr": _repvsr(2.589, 190.81, 31.16, 429.30, 15.10, 1718.65, 3.76),
        "tecogan": _repvsr(2.589, 190.81, 31.15, 429.30, 15.05, 1718.65, 3.74),
        "repvsr": _repvsr(0.274, 29.435, 96.76, 66.228, 37.52, 264.926, 14.36),
    },
    "ksnet": {
        "vespcn": _ksnet(None, None, 28.6),
        "rlsp": _ksnet(4.2, 503.7, 21.7),
        "rrn": _ksnet(3.4, 387.5, 22.2),
        "dap-128": _ksnet(None, 330.0, 26.3),
        "rsdn": _ksnet(6.2, 713.2, 10.6),
        "edvr-m": _ksnet(3.3, 925.7, 8.6),
        "ksnet-uni": _ksnet(3.0, 296.9, 32.3),
        "assl-bi": _ksnet(2.7, 210.2, 32.3),
        "rscl-bi": _ksnet(2.7, 210.2, 32.3),
        "basicvsr": _ksnet(6.3, 330.0, 15.9),
        "ksnet-bi": _ksnet(3.0, 296.9, 32.3),
    },
}


def paper_row(model: str, resolution: str, table: str | None = None) -> PaperRow | None:
    """The row of `table` (default: the first table listing the model with numbers at `resolution`)."""
    for name, rows in TABLES.items():
        row = rows.get(model, {}).get(resolution)
        if (table is None or table == name) and row and (table or row.params_m):
            return row
    return None


def resolution_of(lr_hw: tuple[int, int]) -> str:
    """The tables' name of an LR size (720p, ...), or WxH for another."""
    names = {hw: name for name, hw in RESOLUTIONS.items()}
    return names.get(tuple(lr_hw), f"{lr_hw[1]}x{lr_hw[0]}")
