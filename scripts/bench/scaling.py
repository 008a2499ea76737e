"""The table of docs/SCALING.md that `make bench` writes: the largest weekly series one transaction holds, as
``measurements.measure_series_limits`` asked the service for it. Only the lines between the two markers
change; the rest of the page is prose kept by hand."""

from __future__ import annotations

from pathlib import Path

SCALING = Path(__file__).resolve().parent.parent.parent / "docs" / "SCALING.md"
BEGIN = "<!-- series limits: written by make bench (scripts/bench/scaling.py) -->"
END = "<!-- end of series limits -->"


def series_table(limits: list[dict]) -> str:
    """One row per number of calendars: the largest count without rules, and with a daily cap on every calendar."""
    by = {(row["calendars"], row["capped"]): row for row in limits}
    lines = ["| calendars (the user and participants) | no rules | every calendar with a daily cap "
             "(Europe/Berlin) |", "|---|---|---|"]
    for calendars in sorted({row["calendars"] for row in limits}):
        cells = [f"{by[(calendars, capped)]['largest']} occurrences ({by[(calendars, capped)]['actions']} actions)"
                 for capped in (False, True)]
        lines.append(f"| {calendars} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def with_series_table(page: str, limits: list[dict]) -> str:
    """``page`` with the lines between its markers replaced by the table."""
    head, found, rest = page.partition(BEGIN + "\n")
    _, closed, tail = rest.partition(END)
    if not (found and closed):
        raise ValueError(f"docs/SCALING.md has lost its markers: {BEGIN} ... {END}")
    return f"{head}{BEGIN}\n{series_table(limits)}\n{END}{tail}"


def write_series_table(limits: list[dict], path: Path = SCALING) -> None:
    path.write_text(with_series_table(path.read_text(), limits))
