"""The figures as markdown tables, and the throughput/latency plot (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib import ticker


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("| " + " | ".join("---" for _ in self.columns) + " |")
        lines.extend("| " + " | ".join(row) + " |" for row in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(self.notes)
        return "\n".join(lines) + "\n"


def number(value: float) -> str:
    """Three significant figures at most, no exponent: 371, 54.8, 1.15, 0.0421."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def mib(size: float) -> str:
    return f"{size / 2**20:.0f} MiB"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}×" if baseline else "n/a"  # noqa: RUF001 - the times sign


def markdown(preamble: Sequence[str], tables: Sequence[Table]) -> str:
    return "\n".join([*preamble, "", *(t.markdown() for t in tables)])


@dataclass(frozen=True)
class Series:
    """One system's figures over the in-flight windows."""

    label: str
    windows: list[int]
    rates: list[float]
    p50: list[float]  # ms
    p99: list[float]  # ms


def plot(series: Sequence[Series], title: str, path: Path) -> None:
    """Throughput (left) and latency (right, p50 solid, p99 dashed) against the window."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    windows = sorted({w for s in series for w in s.windows})
    for i, s in enumerate(series):
        colour = f"C{i}"
        left.plot(s.windows, s.rates, "o-", color=colour, label=s.label)
        right.plot(s.windows, s.p50, "o-", color=colour, label=f"{s.label} p50")
        right.plot(s.windows, s.p99, "s--", color=colour, label=f"{s.label} p99")
    for axes in (left, right):
        axes.set_xscale("log", base=2)
        axes.set_xticks(windows, [str(w) for w in windows])
        axes.xaxis.set_minor_locator(ticker.NullLocator())
        axes.set_xlabel("commands in flight")
        axes.grid(True, which="both", alpha=0.3)
    left.set_ylabel("commands/s")
    left.set_ylim(bottom=0)
    left.legend(fontsize="small")
    right.set_yscale("log")
    right.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    right.set_ylabel("latency, publish to outcome (ms)")
    right.legend(fontsize="x-small", ncol=len(series))
    figure.suptitle(title, fontsize="medium")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
