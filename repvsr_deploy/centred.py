"""Centred windows: the 2r+1 frames a sliding-window model reads to reconstruct frame c of a clip.

Inside the clip they are c-r .. c+r. Past the clip's ends they follow the public EDVR code
(BasicSR's "reflection_circle" padding): before the start the window continues with the frames
after c+r, counting up; after the end, with the frames before c-r, counting down (c = 0 of a
5-frame window reads [4, 3, 0, 1, 2]). A clip shorter than the window, where that rule points
outside the clip (and the public code fails), has those indices clamped into it.
"""


def centred_window(centre: int, count: int, radius: int) -> list[int]:
    """Frame indices, oldest position first, of the window around `centre` in a clip of `count` frames."""
    last = count - 1
    window = []
    for i in range(centre - radius, centre + radius + 1):
        if i < 0:
            i = centre + radius - i
        elif i > last:
            i = centre - radius - (i - last)
        window.append(min(max(i, 0), last))
    return window
