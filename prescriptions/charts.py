"""Outcome measures drawn as a small SVG chart (issue 18), pure: strings in, a string out — no Django, no I/O.

The admin's patient page inlines the chart and the portal serves it as an image (``/portal/outcomes/<code>.svg``).
It must read without colour and without script: every score is written beside its point, the baseline is a
labelled line, the meaningful change from it is a dashed line *and* words ("Better: 30 or lower"), the direction
("Lower is better") is written, and ``<title>``/``<desc>`` give a screen reader the whole chart as text. The same
input always gives the same bytes (no clock, no random ids), so a test or a cache can compare them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from clinic import scoring

WIDTH, HEIGHT = 520, 260
PLOT_LEFT, PLOT_RIGHT = 44, 384  # the right gutter holds the lines' labels
PLOT_TOP, PLOT_BOTTOM = 52, 200
PAD = 24  # between the axis and the first and last points
DASH = "6 4"
INK, QUIET, LINE = "#1f2328", "#59636e", "#0b5cad"  # dark enough on white (WCAG AA); never the only cue


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def meaningful_change(code: str, baseline: Decimal | None) -> Decimal | None:
    """How far from ``baseline`` a score must move to count as a meaningful change: the ODI's 10 points, or 30 % of
    the baseline when that is less ("whichever is met first"); the others' fixed points. None without a baseline."""
    if baseline is None or code not in scoring.MEANINGFUL_POINTS:
        return None
    return _rounded(scoring.meaningful_threshold(code, baseline))


def scale(code: str, items: Sequence[dict]) -> tuple[Decimal, Decimal]:
    """The range of the instrument's score: the ODI is a percentage (0–100), the NDI a raw sum (0–50), the NPRS and
    the PSFS one 0–10 rating (or their mean)."""
    if code == scoring.ODI:
        return Decimal(0), Decimal(100)
    if code == scoring.NDI:
        return Decimal(sum(item["low"] for item in items)), Decimal(sum(item["high"] for item in items))
    return Decimal(min(item["low"] for item in items)), Decimal(max(item["high"] for item in items))


def outcome_chart_svg(
    *,
    title: str,
    points: list[tuple[dt.date, Decimal]],
    low: Decimal,
    high: Decimal,
    higher_is_worse: bool,
    baseline: Decimal | None,
    threshold: Decimal | None,
) -> str:
    """A self-contained, accessible SVG of one instrument's scores over time: ``points`` (date, score) in date
    order, on the scale ``low``–``high``; the ``baseline`` as a labelled line and, ``threshold`` away from it on
    either side (inside the scale), the meaningful improvement and worsening as labelled dashed lines. No points:
    the same frame saying "No scores yet"."""
    low, high = Decimal(low), Decimal(high)
    if high <= low:
        raise ValueError("The scale's high must be above its low.")
    points = sorted(((day, Decimal(value)) for day, value in points), key=lambda point: point[0])
    digest = hashlib.sha256(repr((title, points, low, high, higher_is_worse, baseline, threshold)).encode())
    ident = f"outcome-chart-{digest.hexdigest()[:12]}"
    better = "Lower is better" if higher_is_worse else "Higher is better"
    lines = _threshold_lines(low, high, higher_is_worse, baseline, threshold)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{ident}-title {ident}-desc" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12" fill="{INK}">',
        f'<title id="{ident}-title">{_text(title)}</title>',
        f'<desc id="{ident}-desc">{_text(_summary(points, better, baseline, threshold, lines))}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="8" y="20" font-size="14" font-weight="bold">{_text(title)}</text>',
        f'<text x="8" y="38" fill="{QUIET}">{_text(better)}</text>',
    ]
    parts += _axes(low, high)
    if not points:
        middle = (PLOT_LEFT + PLOT_RIGHT) // 2
        parts.append(
            f'<text x="{middle}" y="{(PLOT_TOP + PLOT_BOTTOM) // 2}" text-anchor="middle">No scores yet</text>'
        )
        parts.append("</svg>")
        return "".join(parts)
    for value, label, dashed in lines:
        y = _y(value, low, high)
        dash = f' stroke-dasharray="{DASH}"' if dashed else ""
        parts.append(
            f'<line x1="{PLOT_LEFT}" y1="{y}" x2="{PLOT_RIGHT}" y2="{y}" stroke="{QUIET}" stroke-width="1"{dash}/>'
        )
        parts.append(f'<text x="{PLOT_RIGHT + 6}" y="{_f(float(y) + 4)}" font-size="11">{_text(label)}</text>')
    xs = _xs([day for day, _ in points])
    ys = [_y(value, low, high) for _, value in points]
    if len(points) > 1:
        path = " ".join(f"{x},{y}" for x, y in zip(xs, ys, strict=True))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>')
    with_year = len({day.year for day, _ in points}) > 1
    for (day, value), x, y in zip(points, xs, ys, strict=True):
        parts.append(f'<circle cx="{x}" cy="{y}" r="4" fill="{LINE}" stroke="#ffffff" stroke-width="1"/>')
        parts.append(
            f'<text x="{x}" y="{_f(float(y) - 9)}" text-anchor="middle" font-weight="bold">{_number(value)}</text>'
        )
        parts.append(
            f'<text x="{x}" y="{PLOT_BOTTOM + 16}" text-anchor="middle" fill="{QUIET}">{_day(day, with_year)}</text>'
        )
    if threshold is not None and baseline is not None:
        note = f"Dashed lines: a meaningful change of {_number(threshold)} points from the baseline."
        parts.append(f'<text x="8" y="{HEIGHT - 12}" font-size="11" fill="{QUIET}">{_text(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _threshold_lines(
    low: Decimal, high: Decimal, higher_is_worse: bool, baseline: Decimal | None, threshold: Decimal | None
) -> list[tuple[Decimal, str, bool]]:
    """(value, label, dashed) of the baseline and of the meaningful improvement and worsening inside the scale."""
    if baseline is None:
        return []
    lines = [(Decimal(baseline), f"Baseline {_number(baseline)}", False)]
    if threshold is None or threshold <= 0:
        return lines
    down, up = Decimal(baseline) - Decimal(threshold), Decimal(baseline) + Decimal(threshold)
    better, worse = (down, up) if higher_is_worse else (up, down)
    for word, value in (("Better", better), ("Worse", worse)):
        if low <= value <= high:
            direction = "or lower" if value == down else "or higher"
            lines.append((value, f"{word}: {_number(value)} {direction}", True))
    return lines


def _summary(
    points: list[tuple[dt.date, Decimal]],
    better: str,
    baseline: Decimal | None,
    threshold: Decimal | None,
    lines: list[tuple[Decimal, str, bool]],
) -> str:
    """The chart in words, for a screen reader."""
    if not points:
        return "No scores yet."
    scores = "; ".join(f"{_number(value)} on {_day(day, True)}" for day, value in points)
    text = f"Scores: {scores}. {better}."
    if baseline is not None:
        text += f" Baseline {_number(baseline)}."
    if threshold is not None and baseline is not None:
        marked = [label for _, label, dashed in lines if dashed]
        text += f" A meaningful change is {_number(threshold)} points" + (f" ({'; '.join(marked)})." if marked else ".")
    return text


def _axes(low: Decimal, high: Decimal) -> list[str]:
    middle = (low + high) / 2
    parts = [
        f'<line x1="{PLOT_LEFT}" y1="{PLOT_TOP}" x2="{PLOT_LEFT}" y2="{PLOT_BOTTOM}" stroke="{INK}" stroke-width="1"/>',
        f'<line x1="{PLOT_LEFT}" y1="{PLOT_BOTTOM}" x2="{PLOT_RIGHT}" y2="{PLOT_BOTTOM}" stroke="{INK}" '
        'stroke-width="1"/>',
    ]
    for value in (low, middle, high):
        y = _y(value, low, high)
        parts.append(f'<line x1="{PLOT_LEFT - 4}" y1="{y}" x2="{PLOT_LEFT}" y2="{y}" stroke="{INK}" stroke-width="1"/>')
        parts.append(
            f'<text x="{PLOT_LEFT - 7}" y="{_f(float(y) + 4)}" text-anchor="end" fill="{QUIET}">{_number(value)}</text>'
        )
    return parts


def _xs(days: list[dt.date]) -> list[str]:
    """Points spaced by date (by order when every point is on one day); one point sits in the middle."""
    if len(days) == 1:
        return [_f((PLOT_LEFT + PLOT_RIGHT) / 2)]
    width = PLOT_RIGHT - PLOT_LEFT - 2 * PAD
    span = (days[-1] - days[0]).days
    if span == 0:
        return [_f(PLOT_LEFT + PAD + width * i / (len(days) - 1)) for i in range(len(days))]
    return [_f(PLOT_LEFT + PAD + width * (day - days[0]).days / span) for day in days]


def _y(value: Decimal, low: Decimal, high: Decimal) -> str:
    share = (min(max(Decimal(value), low), high) - low) / (high - low)
    return _f(PLOT_BOTTOM - float(share) * (PLOT_BOTTOM - PLOT_TOP))


def _f(value: float) -> str:
    return f"{value:.1f}"


def _rounded(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _number(value: Decimal) -> str:
    """A score as people write it: 40, 35.6 (one decimal at most)."""
    value = _rounded(Decimal(value))
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(value)


def _day(day: dt.date, with_year: bool) -> str:
    return f"{day.day} {day:%b %Y}" if with_year else f"{day.day} {day:%b}"


def _text(value: str) -> str:
    """Text for XML: escaped (quotes too, as it may go in an attribute), and no character XML 1.0 forbids."""
    return html.escape(_NOT_XML.sub("", str(value)), quote=True)
