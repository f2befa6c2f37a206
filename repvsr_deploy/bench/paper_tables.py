"""The papers' efficiency tables, as published, to print beside what we measure."""

from dataclasses import dataclass

# LR input sizes (H, W) of the tables' target resolutions, x4 to 720p / 1080p / 4K
RESOLUTIONS = {"720p": (180, 320), "1080p": (270, 480), "4k": (540, 960)}


@dataclass(frozen=True)
class PaperRow:
    params_m: float
    gflops: float
    fps: float


# RepVSR Table 2 (FLOPs in the "paper" convention; FPS on the authors' RTX 2080 Ti GPU)
REPVSR_TABLE2_GPU = "NVIDIA GeForce RTX 2080 Ti"
REPVSR_TABLE2 = {
    "vespcn": {"720p": PaperRow(0.879, 96.56, 48.48), "1080p": PaperRow(0.879, 221.08, 24.76),
               "4k": PaperRow(0.879, 886.47, 6.78)},
    "sofvsr": {"720p": PaperRow(1.640, 226.12, 13.31), "1080p": PaperRow(1.640, 508.78, 5.993),
               "4k": PaperRow(1.640, 2035.11, 1.73)},
    "frvsr": {"720p": PaperRow(2.589, 190.81, 31.16), "1080p": PaperRow(2.589, 429.30, 15.10),
              "4k": PaperRow(2.589, 1718.65, 3.76)},
    "tecogan": {"720p": PaperRow(2.589, 190.81, 31.15), "1080p": PaperRow(2.589, 429.30, 15.05),
                "4k": PaperRow(2.589, 1718.65, 3.74)},
    "repvsr": {"720p": PaperRow(0.274, 29.435, 96.76), "1080p": PaperRow(0.274, 66.228, 37.52),
               "4k": PaperRow(0.274, 264.926, 14.36)},
}


def paper_row(model: str, resolution: str) -> PaperRow | None:
    return REPVSR_TABLE2.get(model, {}).get(resolution)
