"""matplotlib's pyplot without a display (the Agg backend): the plots commands write to files, on
servers and in CI as on a desktop."""

from .errors import MissingDependency


def pyplot(purpose: str):
    """`matplotlib.pyplot` drawing into files; MissingDependency (the `plot` extra) naming
    `purpose` where matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependency("matplotlib", "plot", purpose) from None
    return plt
