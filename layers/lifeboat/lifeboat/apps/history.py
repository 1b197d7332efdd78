"""What earlier evacuations of an application from an AZ left behind that a new one must
respect: a database they replaced while the application's endpoint still names the restored
copy (docs/concepts/applications.md)."""

from __future__ import annotations

from lifeboat.apps.changes import changes_key, read_endpoint
from lifeboat.apps.evacuation import EndpointPlan
from lifeboat.apps.models import Application
from lifeboat.ports import Ports


def evacuation_records(app: str, az: str) -> str:
    """The catalog key of the evacuations of ``app`` from ``az`` (one record each)."""
    return f"EVAC#{app}#{az}"


def replaced_by(app_name: str, az: str, db_id: str, app: Application, ports: Ports) -> str | None:
    """The earlier, finished evacuation of ``app_name`` from ``az`` whose restored copy of the
    database ``db_id`` the application's endpoint still names (restoring the original again
    would point the application at older data), or None."""
    declared = app.database_endpoint
    if declared is None or ports.endpoints is None:
        return None
    where = EndpointPlan(route53=declared.route53, ssm_parameter=declared.ssm_parameter)
    for record in ports.catalog.records(evacuation_records(app_name, az)):
        name = str(record.get("execution_name", ""))
        if record.get("status") != "recovered" or not name:
            continue
        for change in ports.catalog.records(changes_key(name)):
            if change.get("sk") == "endpoint" and change.get("member") == db_id:
                if read_endpoint(where, ports) == change.get("new"):
                    return name
    return None
