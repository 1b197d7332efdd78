"""A drill holds the recovery points it restores (docs/concepts/drills.md): prune keeps them
while the drill runs, FinishDrill releases them on success and failure, and a drill stopped before
FinishDrill blocks prune only until its holds lapse, a little after the drill's time-out. The
holds never stand in a restore's way, nor in another drill's.

The world: a plan whose hourly rule keeps one point (``min_keep: 1``), so that the hourly EBS
set a drill overlays becomes prunable as soon as the next hourly run lands — during the drill."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from lifeboat import drill
from lifeboat.drill.holds import expiry
from lifeboat.drill.models import DRILL_TIMEOUT
from lifeboat.drill.stages import record_key
from lifeboat.models import PointStatus
from lifeboat.plans import PlanSet
from lifeboat.prune import PruneRequest, prune
from tests.fakes.drills import FakeDrills
from tests.fakes.metrics import FakeMetrics
from tests.worlds.drill import PLANS, event, make_drill_world, run_drill
from tests.worlds.restore import ARN, NOW, World, ebs_point

pytestmark = pytest.mark.unit
SHORT = PlanSet.model_validate(
    {
        "plans": {
            "standard": {
                **PLANS.model_dump()["plans"]["standard"],
                "min_keep": 1,
                "rules": {
                    **PLANS.model_dump()["plans"]["standard"]["rules"],
                    "hourly": {
                        "schedule": "cron(15 * * * ? *)",
                        "timezone": "Europe/London",
                        "kinds": ["ebs"],
                        "retention": {"hourly": 1},
                    },
                },
            }
        }
    }
)
HOURLY = PruneRequest(plan="standard", rule="hourly")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[World, FakeDrills, FakeMetrics]:
    return make_drill_world(monkeypatch)


def drilled(given: World) -> Any:
    return given.catalog.get_point(given.web1, "run-ebs-1", "ebs")


def next_hourly_run(given: World) -> None:
    """The 15-past run lands a newer hourly set: the one the drill uses (rp-ebs-1) expires."""
    given.catalog.put_point(ebs_point(given.web1, NOW + timedelta(minutes=15), n=2))


def test_a_prune_during_the_drill_leaves_the_points_it_restores(world: Any) -> None:
    given, _drills, _ = world
    reports: list[Any] = []

    def prune_meanwhile(at: datetime) -> None:
        if not reports:
            next_hourly_run(given)
        reports.append(prune(HOURLY, SHORT, given.ports, at))

    state, summary = run_drill(
        given, {"plan": "standard", "resource": given.web1}, plans=SHORT, during=prune_meanwhile
    )
    (web,) = state["begin"]["plan"]["resources"]
    assert "snap-hdata-1" in {v["snapshot_id"] for v in web["instance"]["volumes"]}
    assert reports and all(r.deleted == 0 for r in reports)
    assert "a drill of" in " ".join(reports[0].skipped)
    assert drilled(given).status is PointStatus.COMPLETED
    # FinishDrill released the holds: the next prune retires the expired point.
    assert summary["status"] == "succeeded"
    after = prune(HOURLY, SHORT, given.ports, NOW + timedelta(minutes=20))
    assert after.deleted == 1 and drilled(given).status is PointStatus.DELETED


def test_a_failed_drill_releases_its_holds_too(world: Any) -> None:
    given, drills, _ = world
    drills.fail["launch"] = "InsufficientInstanceCapacity"
    _state, summary = run_drill(given, {"plan": "standard", "resource": given.web1}, plans=SHORT)
    assert summary["status"] == "failed"
    next_hourly_run(given)
    assert prune(HOURLY, SHORT, given.ports, NOW + timedelta(minutes=20)).deleted == 1


def test_a_drill_stopped_before_finish_blocks_prune_only_until_its_holds_lapse(
    world: Any,
) -> None:
    # Given PlanDrill ran (holds taken) and the execution was then stopped: no FinishDrill.
    given, _drills, _ = world
    drill.begin(event({"plan": "standard"}, "drill-1", {}), SHORT, given.ports, NOW)
    # (hourly runs go on meanwhile: the rule is never stale, its older points expire)
    late = NOW + DRILL_TIMEOUT - timedelta(minutes=1)
    given.catalog.put_point(ebs_point(given.web1, late - timedelta(minutes=10), n=2))
    during = prune(HOURLY, SHORT, given.ports, late)
    assert during.deleted == 0 and drilled(given).status is PointStatus.COMPLETED
    lapsed = datetime.fromtimestamp(expiry(NOW) + 1, NOW.tzinfo)
    assert NOW + DRILL_TIMEOUT < lapsed < NOW + DRILL_TIMEOUT + timedelta(hours=1)
    given.catalog.put_point(ebs_point(given.web1, lapsed - timedelta(minutes=10), n=3))
    after = prune(HOURLY, SHORT, given.ports, lapsed)
    assert after.deleted >= 1 and drilled(given).status is PointStatus.DELETED


def test_a_finish_after_a_failed_plan_releases_what_the_record_says_it_holds(
    world: Any,
) -> None:
    # Given PlanDrill took its holds and then failed (its re-read of the points, say): the
    # state reaching FinishDrill has no plan, only the error.
    given, _drills, _ = world
    calls = {"n": 0}
    real = given.catalog.points_for_resource

    def fails_once_held(source_id: str) -> Any:
        calls["n"] += 1
        raise RuntimeError("catalog unavailable")

    given.catalog.points_for_resource = fails_once_held
    with pytest.raises(RuntimeError):
        drill.begin(event({"plan": "standard"}, "drill-1", {}), SHORT, given.ports, NOW)
    given.catalog.points_for_resource = real
    assert given.catalog.holds[given.web1]
    error = {"error": {"Error": "RuntimeError", "Cause": "catalog unavailable"}}
    drill.finish(event({"plan": "standard"}, "drill-1", error), given.ports, NOW)
    assert not any(given.catalog.holds.values())
    pk, sk = record_key("standard", NOW, "drill-1")
    (record,) = given.catalog.records(pk)
    assert record["sk"] == sk and record["status"] == "failed"


def test_holds_never_stand_in_a_restore_s_way_nor_another_drill_s(world: Any) -> None:
    given, _drills, _ = world
    drill.begin(event({"plan": "standard"}, "drill-1", {}), SHORT, given.ports, NOW)
    drill.begin(event({"plan": "standard"}, "drill-2", {}), SHORT, given.ports, NOW)
    assert set(given.catalog.holds[given.web1]) == {ARN + "drill-1", ARN + "drill-2"}
    # A real restore takes its lock as if no drill ran.
    now = int(NOW.timestamp())
    assert given.catalog.acquire_lock(given.web1, ARN + "restore", now, 3600, {}) is None
    given.catalog.release_lock(given.web1, ARN + "restore")
    # One drill finishing releases its own hold only: the points stay held by the other.
    drill.finish(event({"plan": "standard"}, "drill-1", {}), given.ports, NOW)
    assert set(given.catalog.holds[given.web1]) == {ARN + "drill-2"}
    next_hourly_run(given)
    assert prune(HOURLY, SHORT, given.ports, NOW + timedelta(minutes=20)).deleted == 0


def test_a_point_a_prune_marked_before_the_hold_is_not_chosen(world: Any) -> None:
    # Given a prune marked the hourly set 'deleting' just before the drill took its holds, and
    # the plan's index (eventually consistent) still shows it completed: the drill reads the
    # points again once held, consistently, and restores the AMI's own data volume instead.
    given, _drills, _ = world
    stale = [p.model_copy() for p in given.catalog.points_for_plan("standard", ["hourly"])]
    point = drilled(given)
    assert given.catalog.transition(point, PointStatus.COMPLETED, PointStatus.DELETING)
    real = given.catalog.points_for_plan

    def lagging(plan: str, rules: list[str]) -> list[Any]:
        fresh = [p for p in real(plan, rules) if p.rule != "hourly"]
        return fresh + [p for p in stale if "hourly" in rules and p.plan == plan]

    given.catalog.points_for_plan = lagging
    begun = drill.begin(event({"plan": "standard"}, "drill-1", {}), SHORT, given.ports, NOW)
    (web,) = [t for t in begun.resources if t.type == "instance"]
    assert web.instance is not None
    snapshots = {v.snapshot_id for v in web.instance.volumes}
    assert "snap-hdata-1" not in snapshots and "snap-data-1" in snapshots
