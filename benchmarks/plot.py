"""The PNG of latency against offered load for docs/BENCHMARKS.md (needs the bench extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def latency_plot(points: list[dict[str, Any]], target: Path, *, sync: str) -> None:
    """p50/p95/p99 (ms) of submit -> receipt accepted, against offered requests per second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [p["offered_per_s"] for p in points]
    figure, axes = plt.subplots(figsize=(7, 4), dpi=110)
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        axes.plot(offered, [p[key] for p in points], marker="o", label=label)
    axes.axhline(250, color="grey", linestyle="--", linewidth=1, label="target p99 250 ms")
    axes.set_xlabel("offered load (requests/s)")
    axes.set_ylabel("submit -> receipt accepted (ms)")
    axes.set_yscale("log")
    axes.set_title(f"ticketcore pipeline, 2 cores, sync_interval {sync}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    plt.close(figure)
