"""The screen table, the ratios between matching cases, and the JSON files."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# (label, numerator case, denominator case, metric). Rates: above 1 means ours does more per second.
# Latencies: above 1 means ours takes longer.
RATIOS: tuple[tuple[str, str, str, str], ...] = (
    ("like t=1: ours / pgbench c=1 (rate)", "ours.like.uniform.t1", "pgbench.like.c1", "rate"),
    ("like t=1: ours / pgbench c=1 (p50)", "ours.like.uniform.t1", "pgbench.like.c1", "p50_ms"),
    ("like t=16: ours / pgbench c=16 (rate)", "ours.like.uniform.t16", "pgbench.like.c16", "rate"),
    ("like t=64: ours / pgbench c=16 (rate)", "ours.like.uniform.t64", "pgbench.like.c16", "rate"),
    ("like_many t=1: ours / pgbench batch c=1 (rate)", "ours.bulk.t1", "pgbench.batch.c1", "rate"),
    ("like_many t=2: ours / pgbench batch c=2 (rate)", "ours.bulk.t2", "pgbench.batch.c2", "rate"),
    ("count t=1: ours / pgbench c=1 (p50)", "ours.count.t1", "pgbench.count.c1", "p50_ms"),
    ("count t=1: ours / pgbench c=1 (rate)", "ours.count.t1", "pgbench.count.c1", "rate"),
    ("like t=1: ours / baseline (rate)", "ours.like.uniform.t1", "baseline.like.uniform.t1", "rate"),
    ("like t=4: ours / baseline (rate)", "ours.like.uniform.t4", "baseline.like.uniform.t4", "rate"),
    ("like t=16: ours / baseline (rate)", "ours.like.uniform.t16", "baseline.like.uniform.t16", "rate"),
    ("like t=64: ours / baseline (rate)", "ours.like.uniform.t64", "baseline.like.uniform.t64", "rate"),
    ("like t=1: ours / baseline (p50)", "ours.like.uniform.t1", "baseline.like.uniform.t1", "p50_ms"),
    ("hot item t=64: ours / baseline (rate)", "ours.hot.t64", "baseline.hot.t64", "rate"),
    ("hot item t=64: ours / baseline (p99)", "ours.hot.t64", "baseline.hot.t64", "p99_ms"),
    (
        "like 64: async tasks / sync threads (rate)",
        "ours.async.like.uniform.t64",
        "ours.like.uniform.t64",
        "rate",
    ),
)


SCALE_REFERENCE = "ours.scale.100K.t16"


@dataclass
class CaseRecord:
    id: str
    kind: str
    group: str
    label: str
    unit: str
    threads: int
    runs: list[dict[str, Any]]
    median: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        rates = [float(run["rate"]) for run in self.runs]
        return {
            "id": self.id,
            "kind": self.kind,
            "group": self.group,
            "label": self.label,
            "unit": self.unit,
            "threads": self.threads,
            "median": self.median,
            "rate_min": min(rates),
            "rate_max": max(rates),
            "runs": self.runs,
        }


def ratios(records: Sequence[CaseRecord]) -> list[dict[str, Any]]:
    """Each ratio as the median of per-run ratios (runs of one block are interleaved, so run i of
    both sides saw the same background load), and as the ratio of the two median runs."""
    by_id = {record.id: record for record in records}
    pairs = list(RATIOS)
    # Stored-size scaling: every other size against the 100K one.
    for record in records:
        if record.group == "scale" and record.id != SCALE_REFERENCE:
            size = record.id.split(".")[2]
            pairs.append(
                (f"like t=16: {size} stored / 100K stored (rate)", record.id, SCALE_REFERENCE, "rate")
            )
    found = []
    for label, top_id, bottom_id, metric in pairs:
        top, bottom = by_id.get(top_id), by_id.get(bottom_id)
        if top is None or bottom is None:
            continue
        paired = [
            float(a[metric]) / float(b[metric])
            for a, b in zip(top.runs, bottom.runs, strict=False)
            if a.get(metric) and b.get(metric)
        ]
        top_median, bottom_median = top.median.get(metric), bottom.median.get(metric)
        found.append(
            {
                "label": label,
                "numerator": top_id,
                "denominator": bottom_id,
                "metric": metric,
                "ratio": round(statistics.median(paired), 3) if paired else None,
                "ratio_of_medians": (
                    round(float(top_median) / float(bottom_median), 3)
                    if top_median and bottom_median
                    else None
                ),
                "numerator_median": top_median,
                "denominator_median": bottom_median,
            }
        )
    return found


def _number(value: Any, *, rate: bool = False) -> str:
    """Rates as whole numbers; latencies in ms with 2 decimals, 3 below 1 ms."""
    if value is None:
        return "-"
    number = float(value)
    if rate or number >= 1000:
        return f"{number:,.0f}"
    return f"{number:.3f}" if number < 1 else f"{number:.2f}"


def table(records: Sequence[CaseRecord]) -> str:
    header = ("scenario", "rate", "unit", "p50 ms", "p99 ms", "p99.9 ms", "errors", "runs (min-max rate)")
    rows = [header]
    for record in records:
        median = record.median
        rates = [float(run["rate"]) for run in record.runs]
        spread = f"{len(rates)} ({min(rates):,.0f}-{max(rates):,.0f})" if len(rates) > 1 else "1"
        errors = sum(int(run["errors"]) for run in record.runs)
        rows.append(
            (
                record.label,
                f"{float(median['rate']):,.0f}",
                record.unit,
                _number(median["p50_ms"]),
                _number(median["p99_ms"]),
                _number(median["p999_ms"]),
                str(errors),
                spread,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    right = {1, 3, 4, 5, 6}
    lines = []
    for number, row in enumerate(rows):
        cells = [
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def ratio_table(found: Sequence[dict[str, Any]]) -> str:
    if not found:
        return "(no matching pairs in this selection)"
    width = max(len(entry["label"]) for entry in found)
    lines = []
    for entry in found:
        ratio = entry["ratio"]
        shown = "-" if ratio is None else f"{ratio:.2f}x"
        numerator, denominator = entry["numerator_median"], entry["denominator_median"]
        rate = entry["metric"] == "rate"
        compared = f"{_number(numerator, rate=rate)} vs {_number(denominator, rate=rate)}"
        unit = "/s" if rate else " ms"
        lines.append(f"{entry['label'].ljust(width)}  {shown:>8}   ({compared}{unit})")
    return "\n".join(lines)


def probe_lines(probes: Sequence[dict[str, Any]]) -> str:
    lines = []
    for probe in probes:
        result = probe["result"]
        if probe["group"] == "storage":
            lines.append(
                f"{probe['label']}: {result['likes']:,} likes, heap {result['heap_bytes_per_like']} B/like,"
                f" primary-key index {result['index_bytes_per_like']} B/like,"
                f" total {result['total_bytes_per_like']} B/like (tuple {result['tuple_bytes']} B;"
                f" {result['ratio_to_seed']:.2f}x the seed design's {result['seed_design_bytes_per_like']} B)"
            )
        else:
            lines.append(f"{probe['label']}: {json.dumps(result)}")
    return "\n".join(lines)


def write_json(document: dict[str, Any], folder: Path, stamp: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2) + "\n"
    written = []
    for name in (f"{stamp}.json", "latest.json"):
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written
