"""``lifeboat copies status``, ``copies list`` and ``copies start``: where the copies in other
regions stand (queue, in flight, the copies' RPO per rule), the copies of a resource, and a
copier started now (it copies what is queued; one per region runs at a time)."""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

from lifeboat import executions, runtime
from lifeboat.aws.catalog import Catalog
from lifeboat.cli.common import EXIT_OK, caller, finish, follow, outputs, started
from lifeboat.cli.names import resource_option
from lifeboat.copies.status import RegionCopies, copy_status
from lifeboat.errors import InvalidInputError
from lifeboat.models import RecoveryPoint
from lifeboat.output import emit_json, say, table
from lifeboat.plans import REGION_PATTERN, default_plans
from lifeboat.stack import require
from lifeboat.timeutil import utcnow


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def cmd_copies_status(args: argparse.Namespace) -> int:
    plans = default_plans()  # a bad plans file: one line, exit 2, before anything is read
    catalog = Catalog(require(outputs(args), "CatalogTableName", args.stack))
    ports = runtime.aws_ports(catalog.table)
    regions = copy_status(plans, ports, utcnow())
    if args.json:
        emit_json([r.model_dump(mode="json") for r in regions])
        return EXIT_OK
    if not regions:
        say("no rule copies to another region (plans.yaml: copy_to)")
        return EXIT_OK
    rows = [
        (
            r.region,
            f"{rule.plan}/{rule.rule}",
            rule.resources,
            _age(rule.rpo_seconds)
            if not rule.without_copy
            else f"{len(rule.without_copy)} uncopied",
            r.queued,
            r.in_flight,
            _age(r.oldest_queued_seconds),
            rule.failed_last_day,
        )
        for r in regions
        for rule in r.rules
    ]
    say(
        table(
            [
                "REGION",
                "PLAN/RULE",
                "RESOURCES",
                "COPY RPO",
                "QUEUED",
                "IN FLIGHT",
                "OLDEST WAIT",
                "FAILED 24H",
            ],
            rows,
        )
    )
    for line in _notes(regions):
        say(line)
    return EXIT_OK


def _notes(regions: list[RegionCopies]) -> list[str]:
    """What the table's numbers leave out: points never queued, copies gone, artifacts the
    catalog does not know (runbook: docs/runbooks/copies-stuck.md)."""
    lines = []
    for region in regions:
        for rule in region.rules:
            name = f"{region.region} {rule.plan}/{rule.rule}"
            if rule.not_queued:
                lines.append(
                    f"{name}: {len(rule.not_queued)} point(s) never queued (the next copier "
                    "queues them: lifeboat copies start)"
                )
            if rule.vanished:
                lines.append(
                    f"{name}: {len(rule.vanished)} cop(ies) deleted outside Lifeboat, not "
                    f"counted: {', '.join(rule.vanished[:5])}"
                )
        if region.uncatalogued:
            ids = ", ".join(a.artifact_id for a in region.uncatalogued[:5])
            lines.append(
                f"{region.region}: {len(region.uncatalogued)} artifact(s) tagged as copies but "
                f"not in the catalog (never deleted by Lifeboat): {ids}"
            )
        if region.census_error:
            lines.append(f"{region.region}: copies not checked there: {region.census_error}")
    return lines


def cmd_copies_list(args: argparse.Namespace) -> int:
    if not re.match(REGION_PATTERN, args.region):
        raise InvalidInputError(
            "--region", f"{args.region!r} is not a region name (e.g. us-west-2)"
        )
    catalog = Catalog(require(outputs(args), "CatalogTableName", args.stack))
    resource = resource_option(args.resource, catalog)
    copies = sorted(
        catalog.copies_for_resource(resource, args.region),
        key=lambda c: (c.created_at, c.kind.value),
    )
    if args.json:
        emit_json([c.model_dump(mode="json", exclude_none=True) for c in copies])
        return EXIT_OK
    rows = [
        (
            c.kind.value,
            c.created_at.strftime("%Y-%m-%d %H:%M"),
            c.status.value,
            ", ".join(c.artifact_ids()) or (c.error or ""),
            c.copy_of or "",
        )
        for c in copies
    ]
    say(table(["KIND", "DATA FROM (UTC)", "STATUS", f"ARTIFACTS ({args.region})", "COPY OF"], rows))
    say(f"{len(copies)} cop(ies) of {args.resource} in {args.region}")
    return EXIT_OK


def cmd_copies_start(args: argparse.Namespace) -> int:
    if not default_plans().copy_regions():
        raise InvalidInputError("plans", "no rule copies to another region (copy_to)")
    arn = require(outputs(args), "CopierStateMachineArn", args.stack)
    payload: dict[str, Any] = {"requested_by": caller()}
    execution = executions.start(arn, payload, f"copies-cli-{time.strftime('%Y%m%dT%H%M%S')}")
    if not args.wait:
        return started(args, execution, payload)
    return finish(args, follow(args, execution, args.timeout))


def register(sub: Any, common: argparse.ArgumentParser, waiting: argparse.ArgumentParser) -> None:
    copies = sub.add_parser("copies", help="copies in other regions").add_subparsers(
        dest="copies_command", required=True
    )
    copies.add_parser(
        "status", parents=[common], help="queue, in flight and the copies' RPO per region"
    ).set_defaults(func=cmd_copies_status)
    listing = copies.add_parser("list", parents=[common], help="a resource's copies in a region")
    listing.add_argument(
        "--resource", required=True, help="instance (Name tag or id) or DB identifier"
    )
    listing.add_argument("--region", required=True, help="destination region, e.g. us-west-2")
    listing.set_defaults(func=cmd_copies_list)
    start = copies.add_parser(
        "start", parents=[common, waiting], help="start a copier now (copies what is queued)"
    )
    start.add_argument("--wait", action="store_true", help="follow the copier until it ends")
    start.set_defaults(func=cmd_copies_start)


def copies_listed(catalog: Catalog, resource: str | None) -> list[RecoveryPoint]:
    """``recovery-points list``'s copies: a resource's in each region its rules copy to, or
    every copy in the catalog."""
    if resource is None:
        return catalog.all_copies()
    regions = default_plans().copy_regions()
    return [c for region in regions for c in catalog.copies_for_resource(resource, region)]
