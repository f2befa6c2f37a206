"""Benchmark rows as a text or Markdown table, CSV or JSON; every form carries machine and command."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass

from tabulate import tabulate

from ..models.papers import KSNET_TABLE1, REPVSR_TABLE2
from .runner import BenchRow

FORMATS = ("table", "markdown", "csv", "json")
TABLE_TITLES = {"repvsr": REPVSR_TABLE2, "ksnet": KSNET_TABLE1, None: "Single models"}

# (heading, field, number format) of the text and Markdown tables
_COLUMNS = [
    ("Model", "model", ""),
    ("Res", "resolution", ""),
    ("Backend", "backend", ""),
    ("Prec", "precision", ""),
    ("Streams", "streams", ""),
    ("Form", "form", ""),
    ("DCN", "dcn", ""),
    ("Params (M)", "params", ".3f"),
    ("GFLOPs", "gflops_paper", ".2f"),
    ("FPS", "fps", ".2f"),
    ("Median ms", "latency_median_ms", ".1f"),
    ("p90 ms", "latency_p90_ms", ".1f"),
    ("Peak MB", "peak_memory_mb", ".0f"),
    ("GFLOP/s", "attained_gflops_per_s", ".1f"),
    ("% peak", "peak_fraction", ".1%"),
    ("vs unfused", "speedup_vs_unfused", ".2f"),
    ("PSNR", "psnr_db", ".3f"),
    ("vs fp32 dB", "psnr_vs_fp32_db", ".1f"),
    ("Paper Params (M)", "paper_params_m", ".3f"),
    ("Paper GFLOPs", "paper_gflops", ".2f"),
    ("Paper FPS (GPU)", "paper_fps_gpu", ".2f"),
]


@dataclass(frozen=True)
class Report:
    rows: list[BenchRow]
    machine: dict
    command: str
    peaks: list[dict]  # the roofline's measured peak per device: gflops_per_s, device, precision, how
    notes: list[str]  # what was not measured, and why


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


def _tables(report: Report, tablefmt: str) -> str:
    rows = report.rows
    parts = []
    for table in dict.fromkeys(r.table for r in rows):
        group = [r for r in rows if r.table == table]
        columns = [
            c
            for c in _COLUMNS + ([("Paper source", "paper_source", "")] if table is None else [])
            if any(getattr(r, c[1]) is not None for r in group)
        ]
        body = tabulate(
            [[_cell(r, field, fmt) for _, field, fmt in columns] for r in group],
            headers=[heading for heading, _, _ in columns],
            tablefmt=tablefmt,
            disable_numparse=True,
        )
        title = TABLE_TITLES[table]
        parts.append(f"### {title}\n\n{body}" if tablefmt == "github" else f"{title}\n{body}")
    return "\n\n".join(parts) + "\n\n" + _footer(report)


def _footer(report: Report) -> str:
    machine, rows = report.machine, report.rows
    single = [r for r in rows if r.streams is None] or rows
    io_mode = "host I/O included" if single[0].include_io else "host I/O excluded (frames resident on the device)"
    memory = sorted({r.memory_kind for r in rows if r.memory_kind})
    lines = [
        "GFLOPs: paper convention (2 x MACs, transposed convs at output resolution); csv/json also give "
        "the exact one. GFLOP/s: exact FLOPs x FPS.",
        *(_peak_line(peak) for peak in report.peaks),
        f"Timing: {io_mode}; latency = time between HR frames. Peak MB: {', '.join(memory) or 'not measured'}.",
        *(
            [
                "Streams N: N streams stepped as one batch, frames as host arrays; FPS: all streams' frames per "
                "second; latency: one batch step (each stream's time between HR frames)."
            ]
            if any(r.streams is not None for r in rows)
            else []
        ),  # fmt: skip
        f"Ours measured on {machine['gpu'] or machine['cpu']} ({machine['cpu_count']} CPUs); "
        f"paper FPS on the GPU its table names.",
        *report.notes,
    ]
    return "\n".join(lines) + "\n"


def _peak_line(peak: dict) -> str:
    when = f"on {peak['measured_at']}" if peak.get("measured_at") else "at a date not recorded"
    now = peak.get("this_run_gflops_per_s")
    this_run = f"; this run measured {now:.1f}" if now is not None else ""
    return (
        f"% peak: of {peak['gflops_per_s']:.1f} GFLOP/s measured on {peak['device']} ({peak['how']}), "
        f"the best measured here, {when}{this_run}."
    )


def _json(report: Report) -> str:
    return (
        json.dumps(
            {
                "command": report.command,
                "machine": report.machine,
                "peaks": report.peaks,
                "notes": report.notes,
                "rows": [asdict(r) for r in report.rows],
            },
            indent=2,
        )
        + "\n"
    )


def _csv(report: Report) -> str:
    buffer = io.StringIO()
    machine = report.machine
    extra = {
        "command": report.command,
        "cpu": machine["cpu"],
        "gpu": machine["gpu"] or "",
        "versions": " ".join(f"{k}={v}" for k, v in machine["versions"].items()),
        "peaks_measured": "; ".join(f"{p['device']}: {p['how']}" for p in report.peaks),
    }
    writer = csv.DictWriter(buffer, fieldnames=[*asdict(report.rows[0]), *extra], lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({**asdict(row), **extra})
    return buffer.getvalue()


def render(report: Report, fmt: str) -> str:
    if fmt == "table":
        return _tables(report, "simple")
    if fmt == "markdown":
        return _tables(report, "github")
    return {"csv": _csv, "json": _json}[fmt](report)
