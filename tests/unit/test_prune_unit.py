"""Prune on in-memory ports: deterministic cases beside the model-based test
(tests/unit/test_prune_model.py), which explores interleavings of runs, kills and prunes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifeboat.errors import UnsafeToDeleteError
from lifeboat.models import PointStatus
from lifeboat.prune import PRUNE_TAKEOVER, PruneRequest, prune
from lifeboat.timeutil import iso
from tests.fakes.catalog import FakeCatalog
from tests.fakes.ports import fake_ports
from tests.fakes.rds import FakeRds
from tests.worlds.prune import PLANS, World

pytestmark = pytest.mark.unit


def test_a_dry_run_plans_the_deletes_and_changes_nothing() -> None:
    world = World()
    world.daily_runs(5)
    before = (world.statuses(), set(world.ec2.amis), set(world.ec2.snaps))
    report = prune(PruneRequest(plan="standard", dry_run=True), PLANS, world.ports, world.now)
    assert len(report.expired) == 3 and report.deleted == 0
    assert (world.statuses(), set(world.ec2.amis), set(world.ec2.snaps)) == before


def test_expired_points_go_write_ahead_and_the_newest_stay() -> None:
    world = World()
    world.daily_runs(5)
    report = prune(PruneRequest(plan="standard"), PLANS, world.ports, world.now)
    assert report.deleted == 3
    assert world.statuses() == [PointStatus.DELETED] * 3 + [PointStatus.COMPLETED] * 2
    kept = [p for p in world.catalog.all_points() if p.status is PointStatus.COMPLETED]
    assert all(p.image_id in world.ec2.amis for p in kept)
    again = prune(PruneRequest(plan="standard"), PLANS, world.ports, world.now)
    assert again.deleted == 0  # safe to repeat


def test_a_point_of_a_resource_under_restore_is_put_back() -> None:
    world = World()
    world.daily_runs(5)
    world.catalog.acquire_lock(world.instance, "restore-x", int(world.now.timestamp()), 3600, {})
    report = prune(PruneRequest(plan="standard"), PLANS, world.ports, world.now)
    assert report.deleted == 0
    assert world.statuses() == [PointStatus.COMPLETED] * 5


@pytest.mark.parametrize(
    ("age", "taken_over"),
    [(timedelta(minutes=5), False), (PRUNE_TAKEOVER + timedelta(minutes=1), True)],
)
def test_an_interrupted_delete_is_finished_only_after_its_prune_could_still_run(
    age: timedelta, taken_over: bool
) -> None:
    world = World()
    world.daily_runs(3)
    oldest = min(world.catalog.all_points(), key=lambda p: p.created_at)
    assert world.catalog.transition(
        oldest,
        PointStatus.COMPLETED,
        PointStatus.DELETING,
        {"deleting_since": iso(world.now - age)},
    )
    prune(PruneRequest(plan="standard"), PLANS, world.ports, world.now)
    status = world.catalog.get_point(oldest.source_id, oldest.run_id, oldest.kind.value)
    assert status is not None
    assert status.status is (PointStatus.DELETED if taken_over else PointStatus.DELETING)
    assert (oldest.image_id in world.ec2.amis) is not taken_over


def test_deleting_orphans_on_an_empty_catalog_is_refused_before_anything_changes() -> None:
    world = World()
    world.daily_runs(2)
    emptied = fake_ports(catalog=FakeCatalog(), ec2=world.ec2, rds=FakeRds())
    amis = set(world.ec2.amis)
    with pytest.raises(UnsafeToDeleteError, match="no recovery points"):
        prune(PruneRequest(plan="standard", delete_orphans=True), PLANS, emptied, world.now)
    assert set(world.ec2.amis) == amis
    report = prune(PruneRequest(plan="standard"), PLANS, emptied, world.now)
    assert report.orphans == [] and set(world.ec2.amis) == amis  # without the flag: nothing
