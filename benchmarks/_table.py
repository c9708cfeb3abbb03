"""The one table every benchmark prints: median, min and max of its runs per metric."""

from __future__ import annotations

import statistics


def fmt(values: list[float], digits: int) -> tuple[str, str, str]:
    return (f"{statistics.median(values):,.{digits}f}", f"{min(values):,.{digits}f}", f"{max(values):,.{digits}f}")


def print_table(rows: list[tuple[str, str, list[float], int]], first: str = "runtime") -> str:
    """Print rows of (group, metric, values, digits) as a Markdown table; return its text."""
    header = (first, "metric", "median", "min", "max")
    body = [(group, metric, *fmt(values, digits)) for group, metric, values, digits in rows]
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "| " + " | ".join("-" * w for w in widths) + " |"]
    for r in body:
        lines.append("| " + " | ".join((str(c).ljust(w) if i < 2 else str(c).rjust(w))
                                       for i, (c, w) in enumerate(zip(r, widths))) + " |")
    text = "\n".join(lines)
    print(text)
    return text
