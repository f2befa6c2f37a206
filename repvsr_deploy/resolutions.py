"""The target resolutions of both papers' tables, as the LR input sizes (H, W) that a 4x network
upscales to 720p, 1080p and 4K: what `--res` and `--profiles` name."""

RESOLUTIONS = {"720p": (180, 320), "1080p": (270, 480), "4k": (540, 960)}

# the largest LR side taken (8K, whose x4 is past any video encoder's limit): a frame's memory is
# known before it is allocated, and a 100000 x 100000 header is refused, not attempted
MAX_LR_SIDE = 8192


def round_up(size: int, multiple: int) -> int:
    """`size` rounded up to a multiple of `multiple`: what a frame is padded to for a model whose
    H and W must divide by it (sessions, engine profiles, the export's example frame)."""
    return -(-size // multiple) * multiple
