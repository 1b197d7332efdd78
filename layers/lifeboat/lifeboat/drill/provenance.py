"""A drill's provenance: before each create call, a drill records in the catalog which source
it launches a copy of and when it first asked (``DRILLEXEC#<execution>``). A tear-down and the
sweeper delete only copies of sources recorded there, made after that first request: a name and
tags are not provenance."""

from __future__ import annotations

from datetime import datetime

from lifeboat.ports import CatalogPort
from lifeboat.timeutil import iso, parse_iso


def provenance_key(execution_arn: str) -> str:
    """Written before each launch: what this drill launches (the sweeper's proof)."""
    return f"DRILLEXEC#{execution_arn}"


def first_requests(catalog: CatalogPort, execution_arn: str) -> dict[str, datetime]:
    """The sources this drill recorded launching, each with when it first asked."""
    found: dict[str, datetime] = {}
    for record in catalog.records(provenance_key(execution_arn)):
        try:
            found[str(record["sk"])] = parse_iso(str(record.get("launched_at")))
        except ValueError:
            continue  # an unreadable record proves nothing
    return found


def record_request(
    catalog: CatalogPort,
    execution_arn: str,
    source_id: str,
    kind: str,
    now: datetime,
    expires_at: int,
) -> datetime:
    """Record, before the create call, that this drill launches a copy of ``source_id`` and
    when it first asked (the sweeper's proof and clock; the RTO's start): a retried launch,
    or one called again after it stopped for the shared pace, keeps the first request's time."""
    pk = provenance_key(execution_arn)
    found = next((r for r in catalog.records(pk) if r["sk"] == source_id), None)
    if found is not None and found.get("launched_at"):
        return parse_iso(str(found["launched_at"]))
    first = iso(now)
    catalog.put_record(
        pk, source_id, {"type": kind, "launched_at": first, "expires_at": expires_at}
    )
    return parse_iso(first)
