"""The target resolutions of both papers' tables, as the LR input sizes (H, W) that a 4x network
upscales to 720p, 1080p and 4K: what `--res` and `--profiles` name."""

RESOLUTIONS = {"720p": (180, 320), "1080p": (270, 480), "4k": (540, 960)}
