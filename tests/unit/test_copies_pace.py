"""The copier's copy calls on the stack's shared pace: each destination's buckets, never slept
for; a copy the pace cannot hand out now stays queued for the next pump."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifeboat.copies.enqueue import queue_copies
from lifeboat.copies.models import PumpEvent, PumpReport
from lifeboat.copies.pace import PUMP_INLINE_WAIT, copy_calls
from lifeboat.copies.pump import pump
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.pace import SharedPacing, bucket_size
from lifeboat.plans import Kind, PlanSet, parse_plans
from lifeboat.ports import Ports
from lifeboat.timeutil import iso
from tests.fakes.catalog import FakeCatalog
from tests.fakes.copies import FakeCopier
from tests.fakes.ports import fake_ports
from tests.worlds.copies import ARN, NOW, database, plans, point, put_home, queue

pytestmark = pytest.mark.unit

T = NOW.timestamp()
WEST, CENTRAL = "us-west-2", "eu-central-1"
CENTRAL_KEY = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass
class Paced:
    """Ports whose copiers take their calls from the shared pace of their region, as the
    adapter's Retrier does; each pump gets fresh pacings (a new invocation), as on AWS."""

    ports: Ports
    catalog: FakeCatalog
    copiers: dict[str, FakeCopier]
    at: float = T
    slept: list[float] = field(default_factory=list)
    state: dict[str, Any] | None = None

    def clock(self) -> float:
        return self.at

    def now(self) -> datetime:
        return NOW + timedelta(seconds=self.at - T)

    def pump(self, minutes: float, plan_set: PlanSet) -> PumpReport:
        self.at = T + minutes * 60
        pacings: dict[str, SharedPacing] = {}

        def pacing(region: str) -> SharedPacing:
            if region not in pacings:
                pacings[region] = SharedPacing(
                    reserve_calls=self.catalog.reserve_pace,
                    region=region,
                    share=0.8,
                    inline_wait=PUMP_INLINE_WAIT,
                    clock=self.clock,
                    sleep=self.slept.append,
                )
                self.copiers[region].pacing = pacings[region]
            return pacings[region]

        event = PumpEvent.model_validate(
            {
                "state": {"pump": self.state},
                "execution": {"Id": ARN + "c1", "Name": "c1", "StartTime": iso(NOW), "Input": {}},
            }
        )
        report = pump(event, plan_set, self.ports, self.now(), pacing)
        self.state = report.model_dump(mode="json")
        return report

    def drain(self, region: str, api: str, seconds: float) -> float:
        """Another execution took the bucket: its next call ``seconds`` from now."""
        capacity, rate = bucket_size(api, 0.8)
        tat = self.at + capacity / rate + seconds - 1 / rate
        self.catalog.write_pace(f"{region}#{api}", tat, self.catalog.read_pace(f"{region}#{api}"))
        return tat

    def tat(self, region: str, api: str) -> float | None:
        return self.catalog.read_pace(f"{region}#{api}")


def paced(regions: tuple[str, ...] = (WEST,)) -> Paced:
    world = Paced(fake_ports(), FakeCatalog(), {})
    world.catalog.pace_clock = world.clock
    world.copiers = {r: FakeCopier(region=r, clock=world.now) for r in regions}
    world.ports = fake_ports(
        catalog=world.catalog, copies=lambda r: world.copiers[r], home_region="eu-west-1"
    )
    return world


def amis(world: Paced, plan_set: PlanSet, count: int = 3) -> list[RecoveryPoint]:
    sources = [point(f"i-0web{n}", Kind.AMI) for n in range(count)]
    for source in sources:
        put_home(world.ports, source)
    queue_copies(sources, plan_set, world.ports, NOW)
    return sources


def two_regions() -> PlanSet:
    data = plans().model_dump(mode="json")
    targets = data["plans"]["standard"]["rules"]["daily"]["copy_to"]
    targets.append({**targets[0], "region": CENTRAL, "kms_key": CENTRAL_KEY})
    return parse_plans(data)


def test_a_drained_destination_bucket_starts_nothing_and_the_copies_start_next_cycle() -> None:
    # Given three AMIs queued for us-west-2, whose CopyImage bucket another execution has
    # taken for the next minute
    world = paced()
    amis(world, plans())
    tat = world.drain(WEST, "CopyImage", 60)
    # When the pump runs
    first = world.pump(0, plans())
    # Then it starts nothing and sleeps not at all: no intent, no call, the copies still queued
    (region,) = first.regions
    assert region.started == [] and world.copiers[WEST].calls == []
    assert world.slept == [] and not first.done
    assert region.queued == 3 and len(queue(world.catalog)) == 3
    assert world.catalog.copies_for_rule(WEST, "standard", "daily") == []
    # and says until when (all three calls: one reservation a pump), keeping what it reserved
    # for the next pump
    assert region.paced_until == iso(NOW + timedelta(seconds=63))  # 62.5 s, to the second
    assert region.reserved == {"CopyImage": 3} and region.reserved_at == pytest.approx(T + 62.5)
    # When the next pumps run once the minute has passed
    world.pump(2, plans())
    # Then all three start, each once, on the calls carried over (none reserved twice)
    assert world.copiers[WEST].calls == ["CopyImage"] * 3
    assert world.tat(WEST, "CopyImage") == pytest.approx(tat + 3 * 1.25)
    assert world.slept == []
    for _ in range(3):
        world.pump(3, plans())
    copies = world.catalog.copies_for_rule(WEST, "standard", "daily")
    assert sorted(c.status.value for c in copies) == ["completed"] * 3
    assert queue(world.catalog) == [] and world.copiers[WEST].calls == ["CopyImage"] * 3


def test_a_pumps_copies_of_one_api_go_together_or_wait_together() -> None:
    # Given a CopyImage bucket with room for two calls now, the third 1.25 s later
    world = paced()
    amis(world, plans())
    tat = world.drain(WEST, "CopyImage", -1.25)
    # When the pump runs
    (region,) = world.pump(0, plans()).regions
    # Then it reserves the three calls at once (one catalog write), and, the third not being
    # ready now, starts none and sleeps not at all: all three go at the next pump
    assert region.started == [] and region.queued == 3 and world.slept == []
    assert region.reserved == {"CopyImage": 3}
    assert region.paced_until == iso(NOW + timedelta(seconds=2))  # 1.25 s, to the second
    assert world.tat(WEST, "CopyImage") == pytest.approx(tat + 3 * 1.25)
    (region,) = world.pump(1, plans()).regions
    assert len(region.started) == 3 and region.reserved == {}
    assert world.tat(WEST, "CopyImage") == pytest.approx(tat + 3 * 1.25)


def test_a_database_copy_goes_while_the_images_wait_for_their_bucket() -> None:
    # Given an RDS snapshot and three AMIs queued, us-west-2's CopyImage bucket taken
    world = paced()
    amis(world, plans())
    db = database("db")
    put_home(world.ports, db)
    queue_copies([db], plans(), world.ports, NOW)
    world.drain(WEST, "CopyImage", 60)
    # When the pump runs: the database's copy starts (its bucket is CopyDBSnapshot's)
    (region,) = world.pump(0, plans()).regions
    assert region.started == [f"{db.recovery_point_id}@us-west-2"]
    assert world.copiers[WEST].calls == ["CopyDBSnapshot"] and region.queued == 3
    assert region.reserved == {"CopyImage": 3} and region.paced_until is not None


def test_two_destinations_are_paced_independently() -> None:
    # Given three AMIs queued for us-west-2 and eu-central-1; us-west-2's bucket taken
    world = paced((WEST, CENTRAL))
    two = two_regions()
    amis(world, two)
    world.drain(WEST, "CopyImage", 60)
    # When the pump runs
    reports = {r.region: r for r in world.pump(0, two).regions}
    # Then eu-central-1's copies start, from its own bucket; us-west-2's wait
    assert len(reports[CENTRAL].started) == 3 and reports[CENTRAL].paced_until is None
    assert reports[WEST].started == [] and reports[WEST].paced_until is not None
    assert world.tat(CENTRAL, "CopyImage") == pytest.approx(T + 3 * 1.25)
    # and the home region's bucket is not where copy calls are paced
    assert world.tat("eu-west-1", "CopyImage") is None


@pytest.mark.parametrize(
    ("source", "api", "calls"),
    [
        (point("i-0web1", Kind.AMI), "CopyImage", 1),
        (point("i-0web1", Kind.EBS, snapshots=2), "CopySnapshot", 2),
        (database("db"), "CopyDBSnapshot", 1),
        (database("cluster"), "CopyDBClusterSnapshot", 1),
    ],
    ids=["ami", "ebs-set", "rds", "aurora"],
)
def test_each_kind_of_copy_takes_its_calls_from_its_own_bucket(
    source: RecoveryPoint, api: str, calls: int
) -> None:
    assert copy_calls(source) == {api: calls}
    # Given a copy queued whose API's bucket in the destination is taken for a minute
    world = paced()
    put_home(world.ports, source)
    queue_copies([source], plans(), world.ports, NOW)
    tat = world.drain(WEST, api, 60)
    # When the pump runs, it waits for it; two minutes later it starts it, its calls counted
    assert world.pump(0, plans()).regions[0].started == []
    assert world.copiers[WEST].calls == []
    assert world.pump(2, plans()).regions[0].started
    _capacity, rate = bucket_size(api, 0.8)
    assert world.tat(WEST, api) == pytest.approx(tat + calls / rate)
    assert world.slept == []


def test_a_failed_copys_deletes_held_by_the_pace_wait_for_a_later_pump() -> None:
    # Given a copy that AWS reports in error, while a prune in us-west-2 has taken the region's
    # DeregisterImage bucket for a minute
    world = paced()
    amis(world, plans(), count=1)
    world.copiers[WEST].error_next = True
    world.pump(0, plans())
    (image,) = world.copiers[WEST].images_
    world.drain(WEST, "DeregisterImage", 120)  # a minute beyond the next pump
    # When the pump sees it failed
    (region,) = world.pump(1, plans()).regions
    # Then it does not wait: the failed copy stays in flight, its image still there
    assert region.failed == {} and region.in_flight == 1 and world.slept == []
    assert image in world.copiers[WEST].images_ and len(queue(world.catalog)) == 1
    assert region.reserved.get("DeregisterImage") == 1
    # and a pump after the minute removes it and records the copy failed
    (region,) = world.pump(4, plans()).regions
    assert list(region.failed) and image not in world.copiers[WEST].images_
    (copy,) = world.catalog.copies_for_rule(WEST, "standard", "daily")
    assert copy.status is PointStatus.FAILED and queue(world.catalog) == []


def test_without_the_pace_the_pump_starts_what_the_limits_allow() -> None:
    # (unit tests of the copier elsewhere run without a pace: the limits alone)
    world = paced()
    amis(world, plans())
    event = PumpEvent.model_validate(
        {"execution": {"Id": ARN + "c2", "Name": "c2", "StartTime": iso(NOW), "Input": {}}}
    )
    report = pump(event, plans(), world.ports, datetime.fromtimestamp(T, NOW.tzinfo))
    assert len(report.regions[0].started) == 3 and world.tat(WEST, "CopyImage") is None


def test_the_pump_handler_paces_each_destination_by_its_own_buckets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lifeboat import runtime
    from lifeboat.aws.clients import _region_of
    from lifeboat.aws.copy_ops import CopyOps

    monkeypatch.setenv("CATALOG_TABLE", "catalog")
    monkeypatch.setenv("TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:lifeboat")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    runtime.reset()
    try:
        ports, pacing = runtime.copy_pump_ports()
        assert ports.copies is not None
        west, central = ports.copies(WEST), ports.copies(CENTRAL)
        assert isinstance(west, CopyOps) and isinstance(central, CopyOps)
        # Each destination's adapter paces through that region's pacing, which never sleeps
        # for a copy call (it stops) ...
        assert west.retrier.pacer is pacing(WEST) and central.retrier.pacer is pacing(CENTRAL)
        assert pacing(WEST).region == WEST and pacing(WEST).inline_wait == PUMP_INLINE_WAIT
        # ... and its calls carry the destination region to the pace (the Retrier reads it from
        # the client), not the home region
        assert _region_of(west.ec2.copy_image) == WEST
        assert _region_of(central.rds.copy_db_snapshot) == CENTRAL
    finally:
        runtime.reset()


def test_an_auto_scaling_groups_point_is_copied_by_its_image() -> None:
    group = point("i-0web1", Kind.AMI).model_copy(update={"kind": Kind.ASG})
    assert copy_calls(group) == {"CopyImage": 1}
