"""The report's applications section: for each declared application and each AZ it runs in,
what an evacuation would do now (its dry-run plan: T, each resource's point, the skew between
tiers), the RTO to expect from the last drills (tiers run one after the other: the sum of each
tier's slowest member), and what is not automated (docs/concepts/applications.md)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from lifeboat.apps.evacuation import EvacuateInput
from lifeboat.apps.members import find_members
from lifeboat.apps.planning import plan_evacuation
from lifeboat.errors import InvalidInputError, LifeboatError
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.report.app_models import ApplicationEvacuation, EvacuationStep
from lifeboat.report.build import drills_by_resource, last_rto
from lifeboat.report.html import duration
from lifeboat.report.models import Drill
from lifeboat.timeutil import iso


def application_evacuations(
    ports: Ports, plans: PlanSet, plan_names: list[str], now: datetime
) -> list[ApplicationEvacuation]:
    found: list[ApplicationEvacuation] = []
    for plan in plan_names:
        drills = drills_by_resource({plan: ports.catalog.records(f"DRILL#{plan}")})
        for app_name, app in sorted(plans.plans[plan].applications.items()):
            members = find_members(plan, app, ports).members
            zones = sorted({z for m in members for z in m.availability_zones if z})
            for az in zones:
                found.append(_one(ports, plans, plan, app_name, az, drills, now))
    return found


def _one(
    ports: Ports,
    plans: PlanSet,
    plan: str,
    app: str,
    az: str,
    drills: dict[str, list[Drill]],
    now: datetime,
) -> ApplicationEvacuation:
    several = sum(app in p.applications for p in plans.plans.values()) > 1
    request = EvacuateInput(
        app=app, az=az, plan=plan if several else None, dry_run=True, requested_by="report"
    )
    name = f"report-{app}-{az}"
    try:
        planned = plan_evacuation(request, plans, ports, now, name, f"arn:aws:states:::{name}")
    except (InvalidInputError, LifeboatError) as exc:
        return ApplicationEvacuation(
            app=app, plan=plan, availability_zone=az, status="red", error=str(exc)
        )
    steps: list[EvacuationStep] = []
    rto = 0.0
    unmeasured: list[str] = []
    for tier in planned.tiers:
        slowest = 0.0
        for step in tier.steps:
            measured = last_rto(drills.get(step.resource_id, []))
            if measured is None and step.restore is not None:
                unmeasured.append(step.resource_id)
            slowest = max(slowest, measured or 0.0)
            steps.append(
                EvacuationStep(
                    tier=tier.tier,
                    resource_id=step.resource_id,
                    name=step.name,
                    action=step.action.value,
                    point=step.point,
                    behind_seconds=step.behind_seconds,
                    rto_seconds=measured,
                )
            )
        rto += slowest
    return ApplicationEvacuation(
        app=app,
        plan=plan,
        availability_zone=az,
        status="green",
        recovery_time=planned.recovery_time,
        skew_seconds=planned.skew_seconds,
        tiers=[t.tier for t in planned.tiers],
        steps=steps,
        expected_rto_seconds=rto if steps else None,
        rto_unmeasured=unmeasured,
        not_automated=planned.not_automated,
        command=planned.command,
    )


def render_applications(evacuations: list[ApplicationEvacuation]) -> str:
    """The HTML section (client side only, like the rest of the report)."""
    if not evacuations:
        return ""
    parts = ["<h2>If an Availability Zone failed now: applications</h2>"]
    for item in evacuations:
        head = f"{escape(item.app)} from {escape(item.availability_zone)}"
        if item.error:
            parts.append(f"<h3>{head}: refused</h3><p>{escape(item.error)}</p>")
            continue
        rto = duration(item.expected_rto_seconds)
        when = iso(item.recovery_time) if item.recovery_time else "-"
        parts.append(
            f"<h3>{head}</h3><p>T {escape(when)}, skew between tiers "
            f"{duration(item.skew_seconds)}, expected RTO {escape(rto)} "
            f"(tiers {escape(' → '.join(item.tiers))}); <code>{escape(item.command)}</code></p>"
        )
        rows = "".join(
            f"<tr><td>{escape(s.tier)}</td><td>{escape(s.name or s.resource_id)}</td>"
            f"<td>{escape(s.action)}</td><td>{escape(s.point)}</td>"
            f"<td>{duration(s.rto_seconds)}</td></tr>"
            for s in item.steps
        )
        parts.append(
            "<table><tr><th>TIER</th><th>RESOURCE</th><th>ACTION</th><th>POINT</th>"
            f"<th>DRILL RTO</th></tr>{rows}</table>"
        )
        notes = "".join(f"<li>{escape(n)}</li>" for n in item.not_automated)
        parts.append(f"<p>Not automated:</p><ul>{notes}</ul>")
    return "".join(parts)
