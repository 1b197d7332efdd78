"""What an evacuation changed that a rollback or ``recover --undo`` must put back, recorded in
the catalog before each change is made (``EVACCHANGE#<execution name>``): the database
endpoint's old value, a group's removed subnets, a zonal shift. Each put-back touches only what
this evacuation changed, and only while it is still as the evacuation left it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.apps.evacuation import EndpointPlan
from lifeboat.apps.resources import DnsRecord
from lifeboat.errors import error_code
from lifeboat.ports import Ports

SYNC_POLLS = 12
SYNC_POLL_SECONDS = 5.0


def changes_key(execution_name: str) -> str:
    return f"EVACCHANGE#{execution_name}"


def _read(endpoint: EndpointPlan, ports: Ports) -> tuple[str | None, DnsRecord | None, int | None]:
    """The endpoint's value now, and what a compare-and-set needs: the record as it is
    (Route 53), or the parameter's version (SSM)."""
    if ports.endpoints is None:
        return None, None, None
    if endpoint.route53 is not None:
        record = ports.endpoints.record(endpoint.route53.zone_id, endpoint.route53.name)
        return (record.value if record else None), record, None
    parameter = ports.endpoints.parameter(endpoint.ssm_parameter or "")
    return (parameter.value, None, parameter.version) if parameter else (None, None, None)


def read_endpoint(endpoint: EndpointPlan, ports: Ports) -> str | None:
    return _read(endpoint, ports)[0]


def write_endpoint(
    endpoint: EndpointPlan,
    value: str,
    comment: str,
    ports: Ports,
    sleep: Callable[[float], None],
    expected: DnsRecord | None = None,
) -> str | None:
    """Point the application at ``value``. Route 53: only while the record is still
    ``expected`` (one change batch, DELETE of exactly it then CREATE: atomic), then wait
    (bounded) for INSYNC; None when it changed since it was read. Returns ``INSYNC``/
    ``PENDING`` (Route 53) or ``version N`` (SSM)."""
    if ports.endpoints is None:
        raise RuntimeError("no Route 53 / SSM adapter")
    if endpoint.route53 is not None:
        record = DnsRecord(
            name=endpoint.route53.name,
            type=endpoint.record_type,
            ttl=endpoint.ttl,
            values=(value,),
        )
        change = ports.endpoints.replace_record(endpoint.route53.zone_id, expected, record, comment)
        if change is None:
            return None
        status = "PENDING"
        for _ in range(SYNC_POLLS):
            status = ports.endpoints.change_status(change)
            if status == "INSYNC":
                break
            sleep(SYNC_POLL_SECONDS)
        return status
    version = ports.endpoints.put_parameter(endpoint.ssm_parameter or "", value)
    return f"version {version}"


def switch_endpoint(
    execution_name: str,
    member: str,
    endpoint: EndpointPlan,
    new_value: str,
    ports: Ports,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """The application's database endpoint to ``new_value``, its old value recorded first
    (and, for SSM, the version written: a rollback needs it unchanged)."""
    current, record, _version = _read(endpoint, ports)
    key = changes_key(execution_name)
    recorded = next((r for r in ports.catalog.records(key) if r.get("sk") == "endpoint"), None)
    old = recorded.get("old") if recorded else current
    kept = {k: v for k, v in (recorded or {}).items() if k not in ("pk", "sk")}
    change = {**kept, "where": endpoint.where, "old": old, "new": new_value, "member": member}
    ports.catalog.put_record(key, "endpoint", change)
    status: str | None = "unchanged"
    if current != new_value:
        status = write_endpoint(
            endpoint, new_value, f"Lifeboat evacuation {execution_name}", ports, sleep, record
        )
        if status is None:
            status = (
                f"not switched: {endpoint.where} changed while it was being switched (it holds "
                f"{read_endpoint(endpoint, ports)}): point it at {new_value} yourself if wanted"
            )
        elif status.startswith("version "):
            ports.catalog.put_record(key, "endpoint", {**change, "new_version": int(status[8:])})
    return {"endpoint": endpoint.where, "old": str(old), "new": new_value, "status": status}


def _attempt(undone: dict[str, str], key: str, action: Callable[[], str]) -> None:
    try:
        undone[key] = action()
    except ClientError as exc:
        undone[key] = f"FAILED ({error_code(exc)}): do it by hand"


def put_back(
    execution_name: str,
    endpoint: EndpointPlan | None,
    ports: Ports,
    sleep: Callable[[float], None],
    include_endpoint: bool = True,
) -> dict[str, str]:
    """Undo this evacuation's recorded changes that are still as it left them: the endpoint
    switched back (when ``include_endpoint``), removed subnets put back, zonal shifts
    cancelled."""
    undone: dict[str, str] = {}
    for record in ports.catalog.records(changes_key(execution_name)):
        sk = str(record.get("sk", ""))
        if sk == "endpoint" and endpoint is not None and include_endpoint:
            _attempt(undone, "endpoint", partial(_endpoint_back, record, endpoint, ports, sleep))
        elif sk.startswith("group#"):
            _attempt(undone, sk, partial(_subnets_back, record, ports))
        elif sk.startswith("shift#"):
            _attempt(undone, sk, partial(_shift_back, record, ports))
        elif sk.startswith("cluster#"):
            undone[sk] = (
                f"not failed back: {record.get('writer_before')} is in the failed AZ; fail "
                "over again yourself once it is back, if you want the old writer"
            )
    return undone


def _endpoint_back(
    record: dict[str, Any], endpoint: EndpointPlan, ports: Ports, sleep: Callable[[float], None]
) -> str:
    """Back to the old value only while it holds this evacuation's value (SSM: the very
    version it wrote; Route 53: compare-and-set in one change batch), never over a newer
    value a person set."""
    old, new = record.get("old"), record.get("new")
    current, found, version = _read(endpoint, ports)
    if old and current == old:
        return f"already back on {old}"
    if current != new:
        return f"left as it is: it holds {current}, not this evacuation's {new}"
    written = record.get("new_version")
    if written is not None and version != written:
        return f"left as it is: version {version} was written since this evacuation's {written}"
    if not old:
        return "left as it is: there was no value before"
    comment = "Lifeboat evacuation rolled back"
    status = write_endpoint(endpoint, str(old), comment, ports, sleep, found)
    if status is None:
        now = read_endpoint(endpoint, ports)
        return f"left as it is: it changed while being switched back (it holds {now})"
    return f"switched back to {old} ({status})"


def _subnets_back(record: dict[str, Any], ports: Ports) -> str:
    if ports.autoscaling is None or ports.evacuation is None:
        return "no Auto Scaling adapter"
    name = str(record["group"])
    found = ports.autoscaling.groups([name])
    if not found:
        return "gone"
    current = list(found[0].subnet_ids)
    missing = [s for s in record.get("removed", []) if s not in current]
    if not missing:
        return "already there"
    ports.evacuation.set_group_subnets(name, [*current, *missing])
    return f"subnets {missing} put back"


def _shift_back(record: dict[str, Any], ports: Ports) -> str:
    if ports.evacuation is None:
        return "no ARC adapter"
    shift_id = record.get("shift_id")
    if not shift_id:
        ours = [
            s
            for s in ports.evacuation.zonal_shifts(str(record["resource"]))
            if str(record.get("comment", "")) and s.comment == record.get("comment")
        ]
        if not ours:
            return "no zonal shift of this evacuation"
        shift_id = ours[0].shift_id
    cancelled = ports.evacuation.cancel_zonal_shift(str(shift_id))
    return f"zonal shift {shift_id} {'cancelled' if cancelled else 'already ended'}"
