"""Clips from real photographs with a synthetic camera: the demo's data, since no public VSR data set
can be downloaded here. The photographs are scikit-image's bundled data images (no download).

A clip is a photograph seen through a moving camera: per frame a sub-pixel pan (up to `max_pan`
HR pixels a frame) and a slow zoom (up to 1 % a frame), rendered by bicubic resampling of the photo.
A photograph smaller than the window and the path's margins is magnified until they fit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# RGB photographs of scikit-image's data module, split once: training and held-out
TRAIN_PHOTOS = ("astronaut", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
HELD_OUT_PHOTOS = ("coffee", "retina")


def photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def camera_clip(
    image: np.ndarray,
    frames: int,
    size: tuple[int, int],
    rng: np.random.Generator,
    max_pan: float = 2.0,
    max_zoom: float = 0.01,
) -> np.ndarray:
    """uint8 [frames, H, W, 3]: a window of `size` moving over `image` along a random smooth path."""
    source = torch.from_numpy(image).permute(2, 0, 1)[None].double() / 255
    img_h, img_w = image.shape[:2]
    height, width = size
    margin = max_pan * frames + max(height, width) * 0.2
    fit = min(1.0, img_w / (width + 2 * margin), img_h / (height + 2 * margin))  # photo pixels per output pixel
    pan = rng.uniform(-max_pan, max_pan, 2) * fit
    zoom = 1 + rng.uniform(-max_zoom, max_zoom)
    reach_x, reach_y = fit * (width / 2 + margin), fit * (height / 2 + margin)
    centre = np.array([rng.uniform(reach_x, img_w - reach_x), rng.uniform(reach_y, img_h - reach_y)])
    out = []
    for t in range(frames):
        scale = fit * zoom**t
        cx, cy = centre + pan * t
        # the output pixel grid mapped into the photo's normalized coordinates (align_corners=False)
        theta = torch.tensor(
            [[scale * width / img_w, 0, 2 * cx / img_w - 1], [0, scale * height / img_h, 2 * cy / img_h - 1]],
            dtype=torch.float64,
        )[None]
        grid = F.affine_grid(theta, [1, 3, height, width], align_corners=False)
        frame = F.grid_sample(source, grid, mode="bicubic", padding_mode="reflection", align_corners=False)
        out.append(frame[0].clamp(0, 1).permute(1, 2, 0).numpy())
    return (np.stack(out) * 255 + 0.5).astype(np.uint8)


def photo_clips(names, clips_per_photo: int, frames: int, size: tuple[int, int], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [camera_clip(photo(name), frames, size, rng) for name in names for _ in range(clips_per_photo)]
