"""A resource's timeline as inline SVG, drawn here (no chart library, nothing fetched): its
recovery points (dots: green completed, red failed) and drills (diamonds) over the window from
its oldest mark to now."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from lifeboat.report.models import Mark

WIDTH, HEIGHT, LEFT, RIGHT = 600, 52, 8, 592
MIN_WINDOW = timedelta(days=1)
COLOURS = {True: "#1a7f37", False: "#cf222e"}


def timeline_svg(marks: list[Mark], now: datetime, label: str) -> str:
    start = min((m.at for m in marks), default=now - MIN_WINDOW)
    start = min(start, now - MIN_WINDOW)
    span = (now - start).total_seconds()

    def x(moment: datetime) -> float:
        return round(LEFT + (RIGHT - LEFT) * (moment - start).total_seconds() / span, 1)

    parts = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{LEFT}" y1="26" x2="{RIGHT}" y2="26" stroke="#8c959f" stroke-width="1"/>',
    ]
    for mark in marks:
        colour = COLOURS[mark.ok]
        title = f"<title>{escape(mark.at.strftime('%Y-%m-%d %H:%M'))} {escape(mark.label)}</title>"
        cx = x(mark.at)
        if mark.what == "drill":
            parts.append(
                f'<path d="M{cx} 30 l5 6 l-5 6 l-5 -6 z" fill="{colour}" stroke="#fff" '
                f'stroke-width="0.5">{title}</path>'
            )
        else:
            parts.append(
                f'<circle cx="{cx}" cy="18" r="3.5" fill="{colour}" fill-opacity="0.8">'
                f"{title}</circle>"
            )
    parts.append(
        f'<text x="{LEFT}" y="50" font-size="10" fill="#57606a">'
        f"{escape(start.strftime('%d %b %H:%M'))}</text>"
    )
    parts.append(
        f'<text x="{RIGHT}" y="50" font-size="10" fill="#57606a" text-anchor="end">now</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
