"""Applications on in-memory fakes: the declaration checked against the members found, the
moves of groups and Aurora clusters, the endpoint switched and switched back (only while it
is as the evacuation left it), subnets put back, zonal shifts cancelled."""

from __future__ import annotations

import re

import pytest

from lifeboat.apps.changes import changes_key, put_back, switch_endpoint
from lifeboat.apps.evacuation import Action, EndpointPlan
from lifeboat.apps.members import application, check_application
from lifeboat.apps.models import Application, Member, MemberKind, Route53Endpoint
from lifeboat.apps.moves import cluster_move, group_move
from lifeboat.apps.resources import ClusterMember, ClusterState, DnsRecord, ParameterValue
from lifeboat.asg.models import AutoScalingGroup
from lifeboat.errors import InvalidInputError
from lifeboat.plans import PlanSet
from tests.fakes.autoscaling import FakeAutoScaling
from tests.fakes.catalog import FakeCatalog
from tests.fakes.endpoints import FakeEndpoints
from tests.fakes.evacuation import FakeEvacuation
from tests.fakes.ports import fake_ports

pytestmark = pytest.mark.unit
ZONE = "Z0123456789ABCDEFGHIJ"
OLD, NEW = "elearn-db.abc.us-east-1.rds.amazonaws.com", "elearn-db-restored.abc.rds.amazonaws.com"
APP = Application.model_validate(
    {
        "select": {"app": "elearn"},
        "order": ["db", "app", "web"],
        "database_endpoint": {"route53": {"zone_id": ZONE, "name": "db.elearn.internal"}},
    }
)


def members(*tiers: str) -> list[Member]:
    return [
        Member(kind=MemberKind.INSTANCE, resource_id=f"i-0000000{n}", tier=tier)
        for n, tier in enumerate(tiers)
    ]


def endpoints(record_type: str = "CNAME") -> FakeEndpoints:
    record = DnsRecord(name="db.elearn.internal.", type=record_type, values=(OLD,))
    return FakeEndpoints(zones={ZONE: {"db.elearn.internal.": record}})


def test_a_valid_application_passes() -> None:
    check_application("elearn", APP, members("db", "app", "web"), fake_ports(endpoints=endpoints()))


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        (("db", "app"), "no member has tier 'web'"),
        (("db", "app", "web", "cache"), "has tier 'cache'"),
        (("db", "app", "web", ""), "has tier '(none)'"),
    ],
)
def test_tiers_and_order_must_agree(tiers: tuple[str, ...], expected: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(expected)) as raised:
        check_application("elearn", APP, members(*tiers), fake_ports(endpoints=endpoints()))
    assert raised.value.field == "applications.elearn.order"


def test_a_missing_zone_record_or_parameter_is_named() -> None:
    ports = fake_ports(endpoints=FakeEndpoints())
    with pytest.raises(InvalidInputError, match=f"hosted zone {ZONE} does not exist"):
        check_application("elearn", APP, members("db", "app", "web"), ports)
    ports = fake_ports(endpoints=FakeEndpoints(zones={ZONE: {}}))
    with pytest.raises(InvalidInputError, match="has no CNAME or A record"):
        check_application("elearn", APP, members("db", "app", "web"), ports)
    ssm = Application.model_validate(
        {
            "select": {"app": "elearn"},
            "order": ["db"],
            "database_endpoint": {"ssm_parameter": "/elearn/db/endpoint"},
        }
    )
    with pytest.raises(InvalidInputError, match="SSM parameter /elearn/db/endpoint does not"):
        check_application("elearn", ssm, members("db"), fake_ports(endpoints=FakeEndpoints()))


def test_the_application_is_found_in_exactly_one_plan() -> None:
    rule = {
        "schedule": "cron(0 2 * * ? *)",
        "timezone": "UTC",
        "kinds": ["ami"],
        "retention": {"daily": 1},
    }
    plans = PlanSet.model_validate(
        {
            "plans": {
                "a": {"rules": {"d": rule}, "applications": {"elearn": APP.model_dump()}},
                "b": {"rules": {"d": rule}, "applications": {"elearn": APP.model_dump()}},
            }
        }
    )
    with pytest.raises(InvalidInputError, match="name one with --plan"):
        application(plans, "elearn")
    assert application(plans, "elearn", "b")[0] == "b"
    with pytest.raises(InvalidInputError, match="no plan declares application 'shop'"):
        application(plans, "shop")


def _group(zonal_shift: bool, subnets: tuple[str, ...]) -> AutoScalingGroup:
    return AutoScalingGroup(
        name="elearn-web",
        arn="arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x:autoScalingGroupName/elearn-web",
        min_size=2,
        max_size=4,
        desired_capacity=2,
        subnet_ids=subnets,
        availability_zones=("us-east-1a", "us-east-1b"),
        zonal_shift_enabled=zonal_shift,
        tags={"lifeboat:plan": "standard", "app": "elearn", "tier": "web"},
    )


def test_a_group_is_shifted_where_it_can_be_else_shrunk_never_emptied() -> None:
    scaling = FakeAutoScaling()
    evacuation = FakeEvacuation(
        scaling, subnets={"subnet-a": "us-east-1a", "subnet-b": "us-east-1b"}
    )
    ports = fake_ports(autoscaling=scaling, evacuation=evacuation)
    shifted = group_move(_group(True, ("subnet-a", "subnet-b")), "us-east-1a", ports)
    assert shifted and shifted["action"] is Action.SHIFT_GROUP
    assert shifted["away_from_zone_id"] == "use1-az1"
    shrunk = group_move(_group(False, ("subnet-a", "subnet-b")), "us-east-1a", ports)
    assert shrunk and shrunk["action"] is Action.SHRINK_GROUP
    assert (shrunk["keep_subnets"], shrunk["drop_subnets"]) == (["subnet-b"], ["subnet-a"])
    assert group_move(_group(False, ("subnet-b",)), "us-east-1a", ports) is None
    with pytest.raises(InvalidInputError, match="subnets only in us-east-1a"):
        group_move(_group(False, ("subnet-a",)), "us-east-1a", ports)


def test_an_aurora_cluster_fails_over_to_an_available_reader_elsewhere() -> None:
    def cluster(*members: tuple[str, bool, str, str]) -> ClusterState:
        return ClusterState(
            identifier="elearn-aurora",
            status="available",
            members=tuple(
                ClusterMember(identifier=i, writer=w, availability_zone=z, status=s)
                for i, w, z, s in members
            ),
        )

    member = Member(kind=MemberKind.CLUSTER, resource_id="elearn-aurora", tier="db")
    evacuation = FakeEvacuation(FakeAutoScaling())
    ports = fake_ports(evacuation=evacuation)
    evacuation.clusters["elearn-aurora"] = cluster(
        ("w", True, "us-east-1a", "available"),
        ("r1", False, "us-east-1a", "available"),
        ("r2", False, "us-east-1b", "rebooting"),
        ("r3", False, "us-east-1c", "available"),
    )
    found = cluster_move(member, "us-east-1a", ports)
    assert found and found["target_instance"] == "r3"
    assert cluster_move(member, "us-east-1b", ports) is None  # its writer is not there
    evacuation.clusters["elearn-aurora"] = cluster(
        ("w", True, "us-east-1a", "available"), ("r1", False, "us-east-1a", "available")
    )
    with pytest.raises(InvalidInputError, match="no available reader outside us-east-1a"):
        cluster_move(member, "us-east-1a", ports)


def test_the_endpoint_is_switched_recorded_and_switched_back_only_if_still_ours() -> None:
    fake = endpoints()
    catalog = FakeCatalog()
    ports = fake_ports(catalog=catalog, endpoints=fake)
    plan = EndpointPlan(route53=Route53Endpoint(zone_id=ZONE, name="db.elearn.internal"))
    done = switch_endpoint("evac-1", "elearn-db", plan, NEW, ports, lambda _s: None)
    assert (done["old"], done["new"], done["status"]) == (OLD, NEW, "INSYNC")
    assert fake.record(ZONE, "db.elearn.internal") is not None
    assert fake.record(ZONE, "db.elearn.internal").value == NEW  # type: ignore[union-attr]
    # Recorded before the change, with the old value (a repeat keeps the first old value).
    switch_endpoint("evac-1", "elearn-db", plan, NEW, ports, lambda _s: None)
    (record,) = catalog.records(changes_key("evac-1"))
    assert record["old"] == OLD
    # Rolled back: switched back to the old value.
    undone = put_back("evac-1", plan, ports, lambda _s: None)
    assert undone["endpoint"].startswith(f"switched back to {OLD}")
    assert fake.record(ZONE, "db.elearn.internal").value == OLD  # type: ignore[union-attr]
    # Someone changed it since: left alone.
    switch_endpoint("evac-2", "elearn-db", plan, NEW, ports, lambda _s: None)
    fake.zones[ZONE]["db.elearn.internal."] = DnsRecord(
        name="db.elearn.internal.", type="CNAME", values=("manual.example.com",)
    )
    assert put_back("evac-2", plan, ports, lambda _s: None)["endpoint"].startswith("left as it")
    assert fake.record(ZONE, "db.elearn.internal").value == "manual.example.com"  # type: ignore[union-attr]


def test_an_ssm_parameter_is_overwritten_and_put_back() -> None:
    fake = FakeEndpoints(parameters={"/elearn/db": ParameterValue(name="/elearn/db", value=OLD)})
    ports = fake_ports(catalog=FakeCatalog(), endpoints=fake)
    plan = EndpointPlan(ssm_parameter="/elearn/db")
    assert switch_endpoint("e", "db", plan, NEW, ports, lambda _s: None)["status"] == "version 1"
    assert fake.parameters["/elearn/db"].value == NEW
    put_back("e", plan, ports, lambda _s: None)
    assert fake.parameters["/elearn/db"].value == OLD


def test_removed_subnets_and_zonal_shifts_are_put_back() -> None:
    scaling = FakeAutoScaling({"elearn-web": _group(False, ("subnet-b",))})
    evacuation = FakeEvacuation(scaling)
    catalog = FakeCatalog()
    ports = fake_ports(catalog=catalog, autoscaling=scaling, evacuation=evacuation)
    catalog.put_record(
        changes_key("e"), "group#elearn-web", {"group": "elearn-web", "removed": ["subnet-a"]}
    )
    shift = evacuation.start_zonal_shift("arn:group", "use1-az1", "Lifeboat evacuation e")
    catalog.put_record(
        changes_key("e"), "shift#g", {"resource": "arn:group", "shift_id": shift.shift_id}
    )
    undone = put_back("e", None, ports, lambda _s: None)
    assert scaling.groups_by_name["elearn-web"].subnet_ids == ("subnet-b", "subnet-a")
    assert evacuation.shifts[shift.shift_id].status == "CANCELED"
    assert undone["group#elearn-web"] == "subnets ['subnet-a'] put back"
    assert put_back("e", None, ports, lambda _s: None)["group#elearn-web"] == "already there"


def test_a_members_deadline_counts_from_its_own_start_not_the_evacuations() -> None:
    from datetime import UTC, datetime, timedelta

    from lifeboat.apps.evacuation import MemberEvent
    from lifeboat.apps.resources import DatabaseState
    from lifeboat.apps.stages import member_check

    now = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    evacuation = FakeEvacuation(FakeAutoScaling())
    evacuation.databases["elearn-db"] = DatabaseState(
        identifier="elearn-db", status="available", availability_zone="us-east-1a", multi_az=True
    )
    ports = fake_ports(evacuation=evacuation)
    deadlines = {"instance": timedelta(hours=1), "db": timedelta(hours=1)}

    def event(member_started: datetime) -> MemberEvent:
        return MemberEvent.model_validate(
            {
                "stage": "check",
                "state": {
                    "step": {
                        "resource_id": "elearn-db",
                        "kind": "db",
                        "tier": "db",
                        "action": "await_failover",
                        "source_az": "us-east-1a",
                        "execution_name": "evac-1-db",
                        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:e:1/db",
                    },
                    "act": {
                        "result": {
                            "kind": "db",
                            "id": "elearn-db",
                            "started_at": member_started.isoformat(),
                        }
                    },
                },
                "execution": {
                    "Id": "arn:aws:states:us-east-1:123456789012:execution:e:1",
                    "Name": "evac-1",
                    # The evacuation began 3 hours ago (earlier tiers took that long).
                    "StartTime": (now - timedelta(hours=3)).isoformat(),
                },
            }
        )

    waiting = member_check(event(now - timedelta(minutes=5)), ports, now, deadlines)
    assert not waiting.healthy and not waiting.deadline_passed
    late = member_check(event(now - timedelta(hours=2)), ports, now, deadlines)
    assert late.deadline_passed
    evacuation.databases["elearn-db"] = evacuation.databases["elearn-db"].model_copy(
        update={"availability_zone": "us-east-1b"}
    )
    assert member_check(event(now - timedelta(minutes=5)), ports, now, deadlines).healthy


class _RacingEndpoints(FakeEndpoints):
    """A person changes the record (or parameter) between Lifeboat's read and its write."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.race: str | None = None

    def _human(self) -> None:
        if self.race is None:
            return
        for zone in self.zones.values():
            zone["db.elearn.internal."] = DnsRecord(
                name="db.elearn.internal.", type="CNAME", values=(self.race,)
            )
        for name in list(self.parameters):
            self.put_parameter(name, self.race)
        self.race = None

    def record(self, zone_id: str, name: str) -> DnsRecord | None:
        found = super().record(zone_id, name)
        self._human()
        return found

    def parameter(self, name: str) -> ParameterValue | None:
        found = super().parameter(name)
        self._human()
        return found


def test_a_rollback_never_clobbers_a_value_a_person_set_in_between() -> None:
    fake = _RacingEndpoints(zones=endpoints().zones)
    ports = fake_ports(catalog=FakeCatalog(), endpoints=fake)
    plan = EndpointPlan(route53=Route53Endpoint(zone_id=ZONE, name="db.elearn.internal"))
    switch_endpoint("evac-1", "elearn-db", plan, NEW, ports, lambda _s: None)
    fake.race = "manual.example.com"  # the on-call repoints it while the rollback runs
    undone = put_back("evac-1", plan, ports, lambda _s: None)
    assert fake.record(ZONE, "db.elearn.internal").value == "manual.example.com"  # type: ignore[union-attr]
    assert undone["endpoint"].startswith("left as it is"), undone
    # The switch itself is a compare-and-set on the value it read, too.
    fake.race = "manual-2.example.com"
    switched = switch_endpoint("evac-2", "elearn-db", plan, NEW, ports, lambda _s: None)
    assert fake.record(ZONE, "db.elearn.internal").value == "manual-2.example.com"  # type: ignore[union-attr]
    assert switched["status"].startswith("not switched"), switched


def test_an_ssm_rollback_needs_the_version_the_evacuation_wrote() -> None:
    fake = FakeEndpoints(parameters={"/elearn/db": ParameterValue(name="/elearn/db", value=OLD)})
    ports = fake_ports(catalog=FakeCatalog(), endpoints=fake)
    plan = EndpointPlan(ssm_parameter="/elearn/db")
    switch_endpoint("e", "db", plan, NEW, ports, lambda _s: None)
    # A person writes the same value again (a new version): it is theirs now, left alone.
    fake.put_parameter("/elearn/db", NEW)
    assert put_back("e", plan, ports, lambda _s: None)["endpoint"].startswith("left as it is")
    assert fake.parameters["/elearn/db"].value == NEW


def test_a_retried_cluster_failover_does_not_ask_again_while_one_is_under_way() -> None:
    from datetime import UTC, datetime

    from lifeboat.apps.evacuation import MemberEvent
    from lifeboat.apps.stages import act

    evacuation = FakeEvacuation(FakeAutoScaling())
    calls: list[str] = []

    def failover(identifier: str, target: str) -> None:  # RDS: only an available cluster
        calls.append(target)
        if evacuation.clusters[identifier].status != "available":
            raise RuntimeError("InvalidDBClusterStateFault: DbCluster is not available")

    evacuation.failover_cluster = failover  # type: ignore[method-assign,assignment]
    evacuation.clusters["elearn-aurora"] = ClusterState(
        identifier="elearn-aurora",
        status="failing-over",  # this evacuation's first attempt asked for it; then it was retried
        members=(
            ClusterMember(identifier="w", writer=True, availability_zone="us-east-1a"),
            ClusterMember(identifier="r", writer=False, availability_zone="us-east-1b"),
        ),
    )
    event = MemberEvent.model_validate(
        {
            "stage": "act",
            "state": {
                "step": {
                    "resource_id": "elearn-aurora",
                    "kind": "cluster",
                    "tier": "db",
                    "action": "fail_over_cluster",
                    "source_az": "us-east-1a",
                    "target_instance": "r",
                    "execution_name": "evac-1-c",
                    "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:e:1/c",
                }
            },
            "execution": {
                "Id": "arn:aws:states:us-east-1:123456789012:execution:e:1",
                "Name": "evac-1",
                "StartTime": "2026-12-05T14:00:00Z",
            },
        }
    )
    ports = fake_ports(evacuation=evacuation)
    acted = act(event, ports, datetime(2026, 12, 5, 14, 1, tzinfo=UTC))
    assert calls == [] and acted.id == "elearn-aurora"


def test_a_secure_string_parameter_is_refused_naming_it() -> None:
    ssm = Application.model_validate(
        {
            "select": {"app": "elearn"},
            "order": ["db"],
            "database_endpoint": {"ssm_parameter": "/elearn/db/endpoint"},
        }
    )
    secret = ParameterValue(name="/elearn/db/endpoint", value="AQICAHh…", type="SecureString")
    ports = fake_ports(endpoints=FakeEndpoints(parameters={"/elearn/db/endpoint": secret}))
    with pytest.raises(InvalidInputError, match="is a SecureString") as raised:
        check_application("elearn", ssm, members("db"), ports)
    assert raised.value.field == "applications.elearn.database_endpoint.ssm_parameter"


def test_a_repeated_ssm_switch_keeps_the_version_it_wrote() -> None:
    fake = FakeEndpoints(parameters={"/elearn/db": ParameterValue(name="/elearn/db", value=OLD)})
    catalog = FakeCatalog()
    ports = fake_ports(catalog=catalog, endpoints=fake)
    plan = EndpointPlan(ssm_parameter="/elearn/db")
    switch_endpoint("e", "db", plan, NEW, ports, lambda _s: None)
    switch_endpoint("e", "db", plan, NEW, ports, lambda _s: None)  # the task retried
    (record,) = catalog.records(changes_key("e"))
    assert (record["old"], record["new_version"]) == (OLD, 1)


def test_a_public_hosted_zone_is_refused_naming_it() -> None:
    fake = endpoints()
    fake.public.add(ZONE)
    with pytest.raises(InvalidInputError, match=f"hosted zone {ZONE} is public") as raised:
        check_application("elearn", APP, members("db", "app", "web"), fake_ports(endpoints=fake))
    assert raised.value.field == "applications.elearn.database_endpoint.route53.zone_id"
