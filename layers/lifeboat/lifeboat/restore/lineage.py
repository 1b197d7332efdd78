"""Which instances have stood for one protected server (original → R1 → R2 …), as finished
restores recorded them in the catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeboat.ports import CatalogPort
from lifeboat.timeutil import iso

MAX_LINEAGE = 50


def lineage(catalog: CatalogPort, instance_id: str) -> list[str]:
    """The instances that have stood for one protected server, oldest first (original → R1 →
    R2 …), as restores recorded them; the last is the one that stands for it now."""
    chain = [instance_id]
    while len(chain) < MAX_LINEAGE:
        before = _replacement_record(catalog, "REPLACEMENT", chain[0])
        if before is None or before["of"] in chain:
            break
        chain.insert(0, str(before["of"]))
    while len(chain) < MAX_LINEAGE:
        after = _replacement_record(catalog, "REPLACED", chain[-1])
        if after is None or after["by"] in chain:
            break
        chain.append(str(after["by"]))
    return chain


def _replacement_record(catalog: CatalogPort, kind: str, instance_id: str) -> dict[str, Any] | None:
    found = catalog.records(f"{kind}#{instance_id}")
    return found[0] if found else None


def record_replacement(
    catalog: CatalogPort, old: str, new: str, execution_arn: str, now: datetime
) -> None:
    """``new`` now stands for the server ``old`` stood for (written when a restore finishes)."""
    attrs = {"of": old, "by": new, "execution_arn": execution_arn, "at": iso(now)}
    catalog.put_record(f"REPLACED#{old}", "LINEAGE", attrs)
    catalog.put_record(f"REPLACEMENT#{new}", "LINEAGE", attrs)
