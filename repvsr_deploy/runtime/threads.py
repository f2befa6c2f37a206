"""How many threads the CPU backends (onnxruntime, OpenVINO) use: OMP_NUM_THREADS where it is set,
as torch does, else their own default (a pool over every core).

Processes that share a machine's cores, each with a session (Ray's workers, which Ray starts with
OMP_NUM_THREADS=1; test processes; a user's own pool), would otherwise each start a pool over every
core, and pools that spin while they wait take the cores from one another: two processes running
the same graph each took 30 to 50 % longer with a pool each than with a thread each, on 2 cores."""

from __future__ import annotations

import os


def cpu_threads() -> int | None:
    """OMP_NUM_THREADS as a positive integer, or None where it is unset or not one."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
