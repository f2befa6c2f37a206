"""Benchmark rows as a text table, CSV or JSON; every machine-readable form carries machine and command."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

from tabulate import tabulate

from .runner import BenchRow

# (heading, field, number format) of the text table
_TABLE_COLUMNS = [
    ("Model", "model", ""), ("Res", "resolution", ""), ("LR", "lr_size", ""), ("Backend", "backend", ""),
    ("Form", "form", ""), ("Params (M)", "params", ".3f"),
    ("GFLOPs", "gflops_paper", ".3f"), ("FPS", "fps", ".2f"), ("Median ms", "latency_median_ms", ".1f"),
    ("p90 ms", "latency_p90_ms", ".1f"), ("vs unfused", "speedup_vs_unfused", ".2f"),
    ("Paper Params (M)", "paper_params_m", ".3f"), ("Paper GFLOPs", "paper_gflops", ".3f"),
    ("Paper FPS (GPU)", "paper_fps_gpu", ".2f"), ("Paper source", "paper_source", ""),
]


def _cell(row: BenchRow, field: str, fmt: str) -> str:
    value = getattr(row, field)
    if value is None:
        return "-"
    if field == "backend":
        return f"{value} ({row.device})"
    if field == "params":
        value = value / 1e6
    if field == "speedup_vs_unfused":
        return f"{value:{fmt}}x"
    return f"{value:{fmt}}" if fmt else str(value)


def _table(rows: list[BenchRow], machine: dict, command: str) -> str:
    columns = [c for c in _TABLE_COLUMNS if c[1] != "speedup_vs_unfused" or any(r.speedup_vs_unfused for r in rows)]
    body = tabulate(
        [[_cell(r, field, fmt) for _, field, fmt in columns] for r in rows],
        headers=[heading for heading, _, _ in columns],
        disable_numparse=True,
    )
    return (
        f"{body}\n\nGFLOPs: paper convention (2 x MACs, transposed convs at output resolution). "
        f"Ours measured on {machine['gpu'] or machine['cpu']} ({machine['cpu_count']} CPUs).\n"
    )


def _json(rows: list[BenchRow], machine: dict, command: str) -> str:
    return json.dumps({"command": command, "machine": machine, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"


def _csv(rows: list[BenchRow], machine: dict, command: str) -> str:
    buffer = io.StringIO()
    extra = {"command": command, "cpu": machine["cpu"], "gpu": machine["gpu"] or "",
             "versions": " ".join(f"{k}={v}" for k, v in machine["versions"].items())}
    writer = csv.DictWriter(buffer, fieldnames=[*asdict(rows[0]), *extra], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**asdict(row), **extra})
    return buffer.getvalue()


RENDERERS = {"table": _table, "csv": _csv, "json": _json}


def render(rows: list[BenchRow], fmt: str, machine: dict, command: str) -> str:
    return RENDERERS[fmt](rows, machine, command)
