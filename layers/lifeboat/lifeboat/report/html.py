"""The report as ONE self-contained HTML page: inline CSS and SVG, no script, no CDN, no
external font; a fluid layout readable on a phone. Every value is escaped."""

from __future__ import annotations

from html import escape

from lifeboat.report.groups import decommissioned_html, group_line
from lifeboat.report.models import AzFailure, AzRow, Finding, Report, ResourceStatus
from lifeboat.report.svg import timeline_svg

FINDING_TITLES = {
    "stale_rule": "Rules whose newest point is stale",
    "untagged_instance": "Unprotected servers next to protected ones",
    "instance_store": "Instance-store volumes (in no snapshot)",
    "unencrypted_volume": "Unencrypted volumes",
    "unencrypted_snapshot": "Unencrypted snapshots",
    "db_without_backups": "Single-AZ databases without automated backups",
    "vanished_artifact": "Recovery points whose AMI or snapshots vanished or cannot be used",
    "single_az_group": "Auto Scaling groups with every subnet in one AZ",
}
AZ_COLUMNS = ("Resource", "Restorable", "How", "RPO", "RTO (drill)")
RULE_COLUMNS = ("Rule", "RPO now", "Target", "State", "Newest point")
# A table of rows; under 600 px each row is a card of labelled lines (``td::before`` shows the
# cell's ``data-label``): nothing scrolls sideways on a phone.
CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 color:#1f2328;background:#f6f8fa;line-height:1.45;font-size:15px}
main{max-width:980px;margin:0 auto;padding:12px}
h1{font-size:1.4em;margin:.3em 0}h2{font-size:1.15em;margin:1.4em 0 .5em}
h3{font-size:1em;margin:.2em 0}
.banner{border-radius:8px;padding:12px 16px;color:#fff}
.banner p{margin:.2em 0}.banner ul{margin:.3em 0 0 1.1em;padding:0}
.red{background:#cf222e}.amber{background:#bf8700}.green{background:#1a7f37}
.pill{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-size:.8em;
 font-weight:600;text-transform:uppercase;vertical-align:middle}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 12px;
 margin:10px 0}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px}
.counts span{background:rgba(255,255,255,.2);border-radius:6px;padding:2px 8px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{color:#57606a;font-weight:600}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.muted{color:#57606a;font-size:.9em}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;
 word-break:break-all}
.timeline{display:block;max-width:100%;height:auto;margin-top:6px}
main{overflow-wrap:break-word}
@media (max-width:600px){body{font-size:14px}main{padding:8px}th,td{padding:3px 4px}
 table.rows,.rows tbody,.rows tr{display:block;width:100%}
 .rows thead{display:none}
 .rows tr{padding:6px 0;border-bottom:1px solid #d0d7de}.rows tr:last-child{border-bottom:0}
 .rows td{display:flow-root;border:0;padding:2px 0 2px 7.6em;overflow-wrap:anywhere}
 .rows td::before{content:attr(data-label);float:left;width:7.2em;margin-left:-7.6em;
  color:#57606a;font-weight:600}
 .rows td:first-child{padding-left:0;font-weight:600}
 .rows td:first-child::before{display:none}}
"""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    value = int(seconds)
    if value < 120:
        return f"{value} s"
    if value < 7200:
        return f"{value // 60} min"
    if value < 172800:
        return f"{value // 3600} h {value % 3600 // 60} min"
    return f"{value // 86400} d {value % 86400 // 3600} h"


def _pill(status: str) -> str:
    return f'<span class="pill {escape(status)}">{escape(status)}</span>'


def _yes(ok: bool, yes: str = "yes", no: str = "no") -> str:
    return f'<span class="ok">{yes}</span>' if ok else f'<span class="bad">{no}</span>'


def render_html(report: Report) -> str:
    body = "".join(
        [
            _banner(report),
            "<h2>If an Availability Zone failed now</h2>",
            "".join(_az(f) for f in report.az_failures) or "<p>No protected resources.</p>",
            "<h2>Not protected</h2>",
            _findings(report.not_protected),
            "<h2>Protected resources</h2>",
            "".join(_resource(r, report) for r in report.resources)
            or "<p>No protected resources.</p>",
            decommissioned_html(report.decommissioned),
            f'<p class="muted">Generated {escape(report.generated_at.isoformat())} by '
            "<code>lifeboat report</code>. RPO: age of the newest completed recovery point; "
            f"stale beyond the rule's interval plus {duration(report.margin_seconds)}. "
            "RTO: measured by the last drill.</p>",
        ]
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Lifeboat readiness report</title>"
        f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


def _banner(report: Report) -> str:
    summary = report.summary
    reasons = "".join(f"<li>{escape(r)}</li>" for r in summary.reasons)
    counts = (
        f"<span>{summary.protected_instances} server(s)</span>"
        f"<span>{summary.protected_databases} database(s)</span>"
        f"<span>{summary.stale_rules} stale rule(s)</span>"
        f"<span>{summary.unrestorable} not restorable</span>"
        f"<span>{summary.not_protected} not protected</span>"
    )
    plans = ", ".join(report.plans)
    return (
        f'<h1>Lifeboat readiness report</h1><p class="muted">Plans: {escape(plans)}</p>'
        f'<section class="banner {escape(summary.status)}" id="summary">'
        f"<p><strong>Overall: {escape(summary.status.upper())}</strong></p>"
        f'<ul>{reasons}</ul><div class="counts">{counts}</div></section>'
    )


def _table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    """A table whose cells carry their column's name (the label of a row shown as a card)."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td data-label="{escape(c)}">{cell}</td>'
            for c, cell in zip(columns, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table class="rows"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _az(failure: AzFailure) -> str:
    rows = [_az_row(r) for r in (*failure.servers, *failure.databases)]
    table = (
        _table(AZ_COLUMNS, rows) if rows else '<p class="muted">Nothing protected runs here.</p>'
    )
    return (
        f'<div class="card az"><h3>If {escape(failure.availability_zone)} failed '
        f"{_pill(failure.status)}</h3>{table}</div>"
    )


def _az_row(row: AzRow) -> list[str]:
    problems = "".join(f'<br><span class="muted">⚠ {escape(p)}</span>' for p in row.problems)
    fallbacks = (
        f'<br><span class="muted">fallbacks: {escape(", ".join(row.fallback_instance_types))}'
        "</span>"
        if row.fallback_instance_types
        else ""
    )
    return [
        f"{escape(row.name)}<br><code>{escape(row.id)}</code>",
        _yes(row.restorable),
        f"{escape(row.how)}{fallbacks}{problems}",
        duration(row.rpo_seconds),
        duration(row.rto_seconds),
    ]


def _findings(findings: list[Finding]) -> str:
    if not findings:
        return '<p class="ok">Nothing found.</p>'
    parts = []
    for kind, title in FINDING_TITLES.items():
        mine = [f for f in findings if f.kind == kind]
        if not mine:
            continue
        items = "".join(
            f"<li><code>{escape(f.id)}</code>{' ' + escape(f.name) if f.name else ''}: "
            f"{escape(f.detail)}</li>"
            for f in mine
        )
        parts.append(
            f'<div class="card finding {kind}"><h3>{escape(title)}</h3><ul>{items}</ul></div>'
        )
    return "".join(parts)


def _resource(resource: ResourceStatus, report: Report) -> str:
    rules = [
        [
            escape(r.rule),
            duration(r.rpo_seconds),
            duration(r.target_seconds),
            _yes(not r.stale, "fresh", "STALE"),
            f"<code>{escape(r.newest_point_id or '–')}</code>"
            + (f" ({escape(r.newest_consistency)})" if r.newest_consistency else ""),
        ]
        for r in resource.rules
    ]
    drill = resource.last_drill
    outcome = escape(drill.result or drill.status) if drill else ""
    drill_text = (
        f"{_yes(drill.result == 'healthy', outcome, outcome)}"
        f", RTO {duration(drill.rto_seconds)}, RPO {duration(drill.rpo_seconds)}"
        f" ({escape(drill.started_at.strftime('%Y-%m-%d %H:%M') if drill.started_at else '?')})"
        if drill
        else '<span class="bad">no drill yet</span>'
    )
    alarms = (
        ", ".join(f"<code>{escape(a)}</code>" for a in resource.alarms)
        if resource.alarms
        else ("–" if resource.type != "instance" else '<span class="bad">none</span>')
    )
    where = " · ".join(
        escape(x)
        for x in (resource.type, resource.plan, resource.availability_zone, resource.tier)
        if x
    )
    if resource.group is not None:
        where += f" · {escape(group_line(resource.group))}"
    return (
        f'<div class="card resource" id="{escape(resource.id)}"><h3>{escape(resource.name)} '
        f'{_pill(resource.status)}</h3><p class="muted"><code>{escape(resource.id)}</code> · '
        f"{where}</p>{_table(RULE_COLUMNS, rules)}"
        f"<p>Last drill: {drill_text}<br>Alarms: {alarms}</p>"
        f"{timeline_svg(resource.timeline, report.generated_at, f'timeline of {resource.id}')}"
        "</div>"
    )
