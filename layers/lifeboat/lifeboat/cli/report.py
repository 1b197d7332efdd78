"""``lifeboat report [--plan NAME] [--json] [--html FILE]``: the readiness report, run client
side with the caller's credentials (read-only calls: EC2, RDS, CloudWatch, the catalog)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lifeboat.cli.common import EXIT_OK, outputs
from lifeboat.errors import InvalidInputError
from lifeboat.output import emit_json, say, table
from lifeboat.plans import default_plans
from lifeboat.report import Report, gather, render_html
from lifeboat.report.app_models import ApplicationEvacuation
from lifeboat.report.applications import application_evacuations, render_applications
from lifeboat.report.html import duration
from lifeboat.report.verify import verified_report
from lifeboat.stack import require
from lifeboat.timeutil import utcnow


def write_report(table_name: str, plan: str | None, margin_minutes: int) -> Report:
    """Gather the fleet of ``plan`` (every declared plan when None) and build its report."""
    from lifeboat.aws.rds import RdsGateway
    from lifeboat.runtime import aws_ports

    plans = default_plans()
    if margin_minutes < 0:
        raise InvalidInputError("--margin-minutes", f"must be 0 or more: {margin_minutes}")
    if plan is not None:
        plans.rule_names(plan, None)  # an unknown plan is refused, naming the declared ones
    names = [plan] if plan else sorted(plans.plans)
    ports, now = aws_ports(table_name), utcnow()
    inputs = gather(ports, plans, names, now, margin_minutes * 60)
    report = verified_report(inputs, ports.ec2, RdsGateway())
    report.applications = application_evacuations(ports, plans, names, now)
    return report


def cmd_report(args: argparse.Namespace) -> int:
    table_name = require(outputs(args), "CatalogTableName", args.stack)
    report = write_report(table_name, args.plan, args.margin_minutes)
    if args.html:
        html = render_html(report)
        if report.applications:  # the applications section, before the per-resource tables
            marker = "<h2>Not protected</h2>"
            html = html.replace(marker, render_applications(report.applications) + marker, 1)
        Path(args.html).write_text(html, encoding="utf-8")
    if args.json:
        emit_json(report.model_dump(mode="json"))
        return EXIT_OK
    _print(report)
    if args.html:
        say(f"\nHTML report: {Path(args.html).resolve()}")
    return EXIT_OK


def _print(report: Report) -> None:
    summary = report.summary
    say(f"Overall: {summary.status.upper()}")
    for reason in summary.reasons:
        say(f"  - {reason}")
    check = report.verification
    if check is not None and check.verified and check.missing:
        say(
            f"  ({check.checked} AMIs and snapshots read; {len(check.missing)} vanished or "
            f"cannot be used: {', '.join(check.missing)})"
        )
    elif check is not None and check.verified:
        say(f"  (the {check.checked} AMIs and snapshots it names were read and found)")
    # "yes" only for what was read and found: the catalog alone says "unverified"
    yes = "yes" if check is not None and check.verified else "unverified"
    say("\nIf an AZ failed now:")
    rows: list[list[Any]] = [
        [
            failure.availability_zone,
            row.name,
            yes if row.restorable else "NO",
            duration(row.rpo_seconds),
            duration(row.rto_seconds),
            row.how if row.restorable else "; ".join(row.problems) or row.how,
        ]
        for failure in report.az_failures
        for row in (*failure.servers, *failure.databases)
    ]
    say(table(["AZ", "RESOURCE", "RESTORABLE", "RPO", "RTO", "HOW"], rows))
    for item in report.applications:
        say(f"\nIf {item.availability_zone} failed: {item.app}: {_evacuation_line(item)}")
        if item.steps:
            rows = [[s.tier, s.name or s.resource_id, s.action, s.point] for s in item.steps]
            say(table(["TIER", "RESOURCE", "ACTION", "POINT"], rows))
    if report.not_protected:
        say("\nNot protected:")
        say(
            table(
                ["KIND", "ID", "DETAIL"],
                [[f.kind, f.id, f.detail] for f in report.not_protected],
            )
        )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "report",
        parents=[common],
        help="readiness report: RPO per rule, drills, what an AZ failure would cost",
    )
    parser.add_argument("--plan", help="one plan (default: every declared plan)")
    parser.add_argument("--html", metavar="FILE", help="also write the report as one HTML file")
    parser.add_argument(
        "--margin-minutes",
        type=int,
        default=60,
        help="a rule is stale beyond its interval plus this (default 60, the alarms' margin)",
    )
    parser.set_defaults(func=cmd_report)


def _evacuation_line(item: ApplicationEvacuation) -> str:
    if item.error or item.recovery_time is None:
        return f"refused: {item.error}"
    return (
        f"T {item.recovery_time:%Y-%m-%dT%H:%M:%SZ}, skew {duration(item.skew_seconds)}, "
        f"expected RTO {duration(item.expected_rto_seconds)} ({' -> '.join(item.tiers)})"
    )
