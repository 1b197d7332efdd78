"""Starting a pump's chosen copies in one destination: every intent first, then each copy's
calls; a copy AWS refuses is tried again later, then failed (its own artifacts deleted)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.copies.models import (
    COPY_DEADLINE,
    MAX_COPY_ATTEMPTS,
    RETRY_BASE,
    RETRY_CAP,
    RegionReport,
    copy_point_id,
)
from lifeboat.copies.pace import Chosen
from lifeboat.copies.ports import CopyPort
from lifeboat.copies.provenance import CopyNotProvenYetError, NotOurCopyError
from lifeboat.copies.reconcile import QUEUE
from lifeboat.copies.start import CopySourceGoneError, made_since, new_copy, start_copy
from lifeboat.errors import error_code
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.pace import PaceDeferred
from lifeboat.ports import Ports
from lifeboat.timeutil import iso


def start_chosen(
    chosen: Chosen,
    region: str,
    copier: CopyPort,
    ports: Ports,
    report: RegionReport,
    now: datetime,
) -> tuple[int, float | None]:
    """Start the chosen copies: every intent first, then each copy's calls. How many are left
    waiting, and the moment the pace stopped the starts at (None: it did not)."""
    intents = [new_copy(source, region, now) for _i, source, existing, _t in chosen if not existing]
    ports.catalog.put_points(intents)  # every intent before any call
    fresh = {c.recovery_point_id: c for c in intents}
    started_items: list[dict[str, Any]] = []
    made: list[RecoveryPoint] = []
    waiting, stopped_at = 0, None
    for n, (item, source, existing, target) in enumerate(chosen):
        copy = existing or fresh[copy_point_id(source, region)]
        try:
            started = start_copy(source, copy, existing is not None, target, copier, ports, now)
        except PaceDeferred as wait:  # a set larger than a bucket: the rest of its calls later
            # Its intent is written and some of its calls may be made: the next pump finds
            # them by the copy's tag and makes the rest (as after a task that died here).
            waiting, stopped_at = waiting + len(chosen) - n, wait.ready_at
            break
        except ClientError as exc:  # refused (a key, a quota): this copy fails, not the rest
            reason = f"{error_code(exc)}: {exc}"
            refuse(item, source, copier, ports, report, reason, now, retry=True)
            continue
        except (CopySourceGoneError, NotOurCopyError) as exc:
            refuse(item, source, copier, ports, report, str(exc), now, retry=False)
            continue
        except CopyNotProvenYetError as exc:  # RDS has not dated it yet: decided later
            if copy.intent is not None and now - copy.intent.at > COPY_DEADLINE:
                refuse(item, source, copier, ports, report, str(exc), now, retry=False)
            else:
                waiting += 1
            continue
        if started is None:
            waiting += 1
            continue  # an interrupted start, too recent to tell: looked at again next pump
        made.append(started)
        report.started.append(started.recovery_point_id)
        started_items.append({**item, "started_at": iso(now)})
    ports.catalog.put_points(made)
    ports.catalog.mark_copies_started(region, started_items)
    return waiting, stopped_at


def refuse(
    item: dict[str, Any],
    source: RecoveryPoint,
    copier: CopyPort,
    ports: Ports,
    report: RegionReport,
    reason: str,
    now: datetime,
    retry: bool,
) -> None:
    """A copy AWS refused to start: what earlier calls of it made (a set's first snapshots,
    found by its tag) is deleted. A refusal may pass (the account's concurrent-copy limit
    shared with other tools, a key policy being edited, a quota prune will free): the copy
    stays queued and is tried again later, with a growing pause, up to
    :data:`MAX_COPY_ATTEMPTS` times; then, or when what it copies is gone, it is recorded
    failed and dequeued. The backup is intact either way."""
    region = copier.region
    copy = ports.catalog.get_copies(region, [_key(source)]).get(_key(source))
    cid = copy.recovery_point_id if copy else new_copy(source, region, now).recovery_point_id
    intent_at = copy.intent.at if copy and copy.intent else now
    try:
        for made in copier.find(cid).values():
            if not made_since(made, intent_at):
                continue  # not made by this copy's calls (before its intent): never deleted
            if made.get("ImageId"):
                copier.delete_image(str(made["ImageId"]), cid)
            elif made.get("SnapshotId"):
                copier.delete_snapshot(str(made["SnapshotId"]), cid)
    except PaceDeferred as wait:
        # The deletes wait for the region's pace: the copy is looked at again from then (no
        # attempt counted); what its calls made is found again by its tag.
        again = {k: v for k, v in item.items() if k != "started_at"}
        at = datetime.fromtimestamp(math.ceil(wait.ready_at), UTC)
        again.update(not_before=iso(at), last_error=reason[:500])
        ports.catalog.mark_copies_started(region, [again])
        report.retrying[cid] = f"its clean-up waits for the pace until {iso(at)}: {reason}"
        return
    attempts = int(item.get("attempts", 0)) + 1
    if retry and attempts < MAX_COPY_ATTEMPTS:
        pause = min(RETRY_CAP, RETRY_BASE * 2 ** (attempts - 1))
        again = {k: v for k, v in item.items() if k != "started_at"}
        again.update(attempts=attempts, not_before=iso(now + pause), last_error=reason[:500])
        ports.catalog.mark_copies_started(region, [again])
        report.retrying[cid] = f"attempt {attempts} of {MAX_COPY_ATTEMPTS}: {reason}"
        return
    failed = (copy or new_copy(source, region, now)).model_copy(
        update={"status": PointStatus.FAILED, "error": f"after {attempts} attempt(s): {reason}"}
    )
    ports.catalog.put_point(failed)
    report.failed[cid] = failed.error or reason
    ports.catalog.delete_record(QUEUE + region, str(item["sk"]))


def _key(point: RecoveryPoint) -> tuple[str, str, str]:
    return (point.source_id, point.run_id, point.kind.value)
