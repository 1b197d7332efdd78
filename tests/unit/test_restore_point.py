"""Any point (issue 23): ``--point ID|TIME`` restores an older point: an instance from the AMI at
or before the time with the newest EBS set at or before it (an EBS set may be named by id); a
database to that point in time when it is in its restorable window, else from its newest
snapshot at or before it, the plan saying which."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifeboat.errors import InvalidInputError
from lifeboat.models import validate_input
from lifeboat.restore.models import InstancePlan, RestoreInput
from lifeboat.restore.planner import SourceInstance, plan_instance
from lifeboat.timeutil import iso
from tests.worlds.restore import (
    NOW,
    PLANS,
    ami_point,
    ebs_point,
    instance_config,
    make_world,
    run,
    subnet,
)

pytestmark = pytest.mark.unit
SOURCE = "i-0123456789abcdef0"
# AMIs 3 days and 1 day ago; EBS sets 2 days, 20 hours and 1 hour ago
POINTS = [
    ami_point(SOURCE, NOW - timedelta(days=3), instance_config(), 1),
    ebs_point(SOURCE, NOW - timedelta(days=2), 2),
    ami_point(SOURCE, NOW - timedelta(days=1), instance_config(), 3),
    ebs_point(SOURCE, NOW - timedelta(hours=20), 4),
    ebs_point(SOURCE, NOW - timedelta(hours=1), 5),
]


def plan(**request: Any) -> InstancePlan:
    original = SourceInstance(
        instance_id=SOURCE, availability_zone="us-east-1a", state="running", tags={}
    )
    subnets = [subnet("us-east-1a"), subnet("us-east-1b")]
    return plan_instance(
        RestoreInput(instance_id=SOURCE, **request), original, POINTS, subnets, PLANS
    )


def data_of(planned: InstancePlan) -> str | None:
    return next(v.snapshot_id for v in planned.volumes if v.device_name == "/dev/sdf")


def test_latest_is_the_newest_ami_with_the_newest_set() -> None:
    planned = plan()
    assert planned.image_id == POINTS[2].image_id and data_of(planned) == "snap-hdata-5"
    assert planned.as_of is None and planned.point_note is None


def test_a_time_restores_the_ami_and_the_set_at_or_before_it() -> None:
    when = NOW - timedelta(hours=10)
    planned = plan(point_time=when)
    assert planned.recovery_point_id == "rp-ami-3" and data_of(planned) == "snap-hdata-4"
    assert planned.as_of == when and iso(when) in (planned.point_note or "")
    older = plan(point_time=NOW - timedelta(days=1, hours=12))
    assert older.recovery_point_id == "rp-ami-1" and data_of(older) == "snap-hdata-2"
    # an AMI point exactly at the time is "at or before" it
    exact = plan(point_time=NOW - timedelta(days=1))
    assert exact.recovery_point_id == "rp-ami-3" and data_of(exact) == "snap-data-3"


def test_an_ebs_set_named_by_id_restores_it_over_the_ami_before_it() -> None:
    planned = plan(recovery_point="rp-ebs-4")
    assert planned.recovery_point_id == "rp-ami-3" and data_of(planned) == "snap-hdata-4"
    by_snapshot = plan(recovery_point="snap-hdata-2")
    assert by_snapshot.recovery_point_id == "rp-ami-1" and data_of(by_snapshot) == "snap-hdata-2"


def test_an_ami_named_by_id_is_restored_as_it_was() -> None:
    planned = plan(recovery_point="rp-ami-1")
    assert data_of(planned) == "snap-data-1" and planned.as_of is None


def test_a_time_before_every_ami_is_refused_naming_the_oldest() -> None:
    with pytest.raises(InvalidInputError) as refused:
        plan(point_time=NOW - timedelta(days=4))
    assert refused.value.field == "point_time"
    assert iso(NOW - timedelta(days=3)) in refused.value.message


def test_a_time_with_a_point_id_or_restore_time_is_bad_input() -> None:
    for extra in ({"recovery_point": "rp-ami-1"}, {"restore_time": iso(NOW)}):
        with pytest.raises(InvalidInputError) as refused:
            validate_input(
                RestoreInput,
                {"db_instance_id": "elearn-db", "point_time": iso(NOW), **extra},
            )
        assert "point_time" in str(refused.value)


@pytest.mark.parametrize(
    ("ago", "how"),
    [
        (timedelta(hours=1), "point-in-time"),  # within the window (7 days, 5 minutes behind)
        (timedelta(minutes=1), "latest"),  # after the latest restorable time: to that time
        (timedelta(days=8), "refused"),  # before the window and before every snapshot
    ],
)
def test_a_database_at_a_time(monkeypatch: pytest.MonkeyPatch, ago: timedelta, how: str) -> None:
    world = make_world(monkeypatch)
    when = NOW - ago
    payload = {"db_instance_id": "elearn-db", "point_time": iso(when), "dry_run": True}
    if how == "refused":
        with pytest.raises(InvalidInputError) as refused:
            run(world, payload, until="begin")
        assert refused.value.field == "point_time" and "at or before" in refused.value.message
        return
    _state, planned = run(world, payload, until="begin")
    if how == "point-in-time":
        assert planned.restore_time == when and planned.snapshot_id is None
        assert (planned.point_note or "").startswith("point-in-time restore")
    else:
        # the newest data at or before the time is the latest restorable time (5 minutes
        # behind), not the newest snapshot (a day old)
        assert planned.restore_time == NOW - timedelta(minutes=5)
        assert planned.snapshot_id is None
        assert "latest restorable time" in (planned.point_note or "")
    assert planned.as_of == when


@pytest.mark.parametrize("resource", ["instance", "db"])
def test_a_time_in_the_future_is_refused(monkeypatch: pytest.MonkeyPatch, resource: str) -> None:
    # Given a local time typed as if it were UTC (an hour east of UTC): in the future
    world = make_world(monkeypatch)
    target = (
        {"instance_id": world.web1} if resource == "instance" else {"db_instance_id": "elearn-db"}
    )
    payload = {**target, "point_time": iso(NOW + timedelta(hours=1)), "dry_run": True}
    with pytest.raises(InvalidInputError) as refused:
        run(world, payload, until="begin")
    assert refused.value.field == "point_time" and "in the future" in refused.value.message
    assert "UTC" in refused.value.message
    # a few seconds of clock skew are not the future
    _state, planned = run(
        world, {**payload, "point_time": iso(NOW + timedelta(seconds=20))}, until="begin"
    )
    assert planned.as_of is not None


def test_an_exact_restore_time_before_the_window_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = make_world(monkeypatch)
    world.rds.dbs["elearn-db"]["EarliestRestorableTime"] = NOW - timedelta(days=2)
    payload = {"db_instance_id": "elearn-db", "restore_time": iso(NOW - timedelta(days=3))}
    with pytest.raises(InvalidInputError) as refused:
        run(world, {**payload, "dry_run": True}, until="begin")
    assert refused.value.field == "restore_time" and "--point" in refused.value.message
    inside = {"db_instance_id": "elearn-db", "restore_time": iso(NOW - timedelta(days=1))}
    _state, planned = run(world, {**inside, "dry_run": True}, until="begin")
    assert planned.restore_time == NOW - timedelta(days=1)


def test_a_time_is_compared_to_the_second_as_points_are_listed() -> None:
    # Given set 4 was taken at 07:00:00.4 (listed as 07:00:00)
    late = POINTS[3].created_at + timedelta(milliseconds=400)
    points = [*POINTS[:3], POINTS[3].model_copy(update={"created_at": late}), POINTS[4]]
    original = SourceInstance(instance_id=SOURCE, availability_zone="us-east-1a", state="running")
    request = RestoreInput(instance_id=SOURCE, point_time=POINTS[3].created_at)
    planned = plan_instance(request, original, points, [subnet("us-east-1b")], PLANS)
    assert data_of(planned) == "snap-hdata-4"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T02:00:00Z", ("latest", "2026-11-27T02:00:00Z")),
        ("2026-11-27t02:00:00z", ("latest", "2026-11-27T02:00:00Z")),  # as typed at 3 a.m.
        ("2026-11-27 03:00+01:00", ("latest", "2026-11-27T02:00:00Z")),
        ("2026-11-27T03:00:00+0100", ("latest", "2026-11-27T02:00:00Z")),
        ("ami-0123456789abcdef0", ("ami-0123456789abcdef0", None)),
        ("latest", ("latest", None)),
    ],
)
def test_point_option_reads_times_in_any_case_and_offset(
    value: str, expected: tuple[str, str | None]
) -> None:
    from lifeboat.cli.restore import parse_point

    assert parse_point(value) == expected
