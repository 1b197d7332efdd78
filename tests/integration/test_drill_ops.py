"""The drill's adapters against the emulator (moto on loopback, an empty account per test): the
RunInstances request really sent, what it leaves after termination, a database found in the
copy's place, production's network as EC2 and RDS describe it, the SSM application check, and
the catalog's holds — the same hold scenario on the in-memory catalog and on DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.drill_ops import DrillOps
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.rds import RdsGateway
from lifeboat.restore.models import Candidate, DatabasePlan, InstancePlan, VolumePlan
from tests.fakes.catalog import FakeCatalog
from tests.faults import RequestRecorder

pytestmark = pytest.mark.integration
DRILL = "arn:aws:states:us-east-1:123456789012:execution:lifeboat-drill:drill-1"
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


@pytest.fixture
def aws(stack: Any) -> dict[str, Any]:
    return {service: client(service) for service in ("ec2", "rds", "ssm")}


def ops_on(aws: dict[str, Any]) -> DrillOps:
    return DrillOps(
        Ec2Gateway(Retrier(), ec2=aws["ec2"]), RdsGateway(Retrier(), rds=aws["rds"]), aws["ssm"]
    )


def network(ec2: Any, cidr: str, tags: dict[str, str]) -> tuple[str, str, str]:
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    spec = [{"ResourceType": "subnet", "Tags": T.to_list(tags)}]
    subnet = ec2.create_subnet(
        VpcId=vpc,
        CidrBlock=cidr.replace("0.0/16", "1.0/24"),
        AvailabilityZone="us-east-1b",
        TagSpecifications=spec,
    )["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName=f"g-{vpc}",
        Description="d",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": T.to_list(tags)}],
    )["GroupId"]
    return vpc, subnet, group


def image(ec2: Any) -> str:
    """An AMI whose only device, /dev/sda1, the drill's plan does not list (moto's AMIs say
    DeleteOnTermination false for it)."""
    return str(
        ec2.register_image(
            Name="base",
            RootDeviceName="/dev/sda1",
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}],
            VirtualizationType="hvm",
        )["ImageId"]
    )


def plan(image_id: str, group: str) -> InstancePlan:
    return InstancePlan(
        source_id="i-0123456789abcdef0",
        data_taken_at=NOW,
        name="web-1",
        source_az="us-east-1a",
        source_state="drill",
        recovery_point_id="rp-1",
        image_id=image_id,
        image_taken_at=NOW,
        root_device_name="/dev/xvda",
        volumes=[
            VolumePlan(
                device_name="/dev/xvda",
                snapshot_id=None,
                size_gb=8,
                volume_type="gp3",
                source="vol-1",
                taken_at=NOW,
            )
        ],
        candidates=[],
        instance_types=["t3.medium"],
        security_group_ids=[group],
        key_name="elearn-production",  # the planner drops it; the adapter too
        tags={},
    )


def test_the_launch_request_sent_and_what_termination_leaves(aws: dict[str, Any]) -> None:
    ec2 = aws["ec2"]
    _vpc, subnet, group = network(ec2, "10.99.0.0/16", {T.DRILL_TIER: "web"})
    ops = ops_on(aws)
    tags = {T.DRILL: DRILL, T.DRILL_SOURCE: "i-0123456789abcdef0"}
    candidate = Candidate(availability_zone="us-east-1b", subnet_id=subnet)
    with RequestRecorder("RunInstances") as sent:
        launched = ops.launch(plan(image(ec2), group), candidate, "drill-token", tags)
    (request,) = sent.requests("RunInstances")
    assert request["NetworkInterfaces"] == [
        {
            "DeviceIndex": 0,
            "SubnetId": subnet,
            "Groups": [group],
            "AssociatePublicIpAddress": False,
            "DeleteOnTermination": True,
        }
    ]
    assert "KeyName" not in request and "SubnetId" not in request
    assert all(m["Ebs"]["DeleteOnTermination"] for m in request["BlockDeviceMappings"])
    assert {m["DeviceName"] for m in request["BlockDeviceMappings"]} == {"/dev/xvda", "/dev/sda1"}
    (instance,) = ec2.describe_instances(InstanceIds=[launched["InstanceId"]])["Reservations"][0][
        "Instances"
    ]
    assert "KeyName" not in instance and "PublicIpAddress" not in instance
    drilled = [{"Name": "tag-key", "Values": [T.DRILL]}]
    assert len(ec2.describe_volumes(Filters=drilled)["Volumes"]) == 2
    assert ops.terminate(launched["InstanceId"], DRILL) == "terminated"
    assert ec2.describe_volumes(Filters=drilled)["Volumes"] == []


def test_a_database_in_the_copy_s_place_is_described_never_touched(aws: dict[str, Any]) -> None:
    rds = aws["rds"]
    rds.create_db_instance(
        DBInstanceIdentifier="elearn-db",
        DBInstanceClass="db.t3.micro",
        Engine="mysql",
        MasterUsername="admin",
        MasterUserPassword="password123",
        AllocatedStorage=20,
    )
    rds.create_db_snapshot(DBInstanceIdentifier="elearn-db", DBSnapshotIdentifier="snap-1")
    rds.create_db_instance(
        DBInstanceIdentifier="lifeboat-drill-elearn-db-0000abcd",
        DBInstanceClass="db.t3.micro",
        Engine="mysql",
        MasterUsername="admin",
        MasterUserPassword="password123",
        AllocatedStorage=20,
        Tags=[{"Key": "team", "Value": "elearn"}],
    )
    taken = DatabasePlan(
        source_id="elearn-db",
        data_taken_at=NOW,
        source_az="us-east-1a",
        recovery_point_id="rp-db",
        snapshot_id="snap-1",
        restore_time=None,
        new_identifier="lifeboat-drill-elearn-db-0000abcd",
        target_az="us-east-1b",
        instance_class="db.t3.micro",
        multi_az=False,
        subnet_group=None,
        parameter_group=None,
        security_group_ids=[],
        tags={},
    )
    found = ops_on(aws).restore_db(taken, {T.DRILL: DRILL, T.DRILL_SOURCE: "elearn-db"})
    assert found["repeated"] and found["id"] == taken.new_identifier
    assert found["tags"] == {"team": "elearn"}
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=taken.new_identifier)["DBInstances"]
    assert db["DBInstanceStatus"] == "available"


def test_production_is_every_plan_tagged_instance_and_database(aws: dict[str, Any]) -> None:
    ec2 = aws["ec2"]
    vpc, subnet, group = network(ec2, "10.20.0.0/16", {"Name": "web-a"})
    ec2.run_instances(
        ImageId=image(ec2),
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": T.PLAN, "Value": "x"}]}],
    )
    _vpc2, other, _g = network(ec2, "10.30.0.0/16", {"Name": "bastion"})
    unprotected = {"ImageId": image(ec2), "InstanceType": "t3.micro", "SubnetId": other}
    ec2.run_instances(**unprotected, MinCount=1, MaxCount=1)
    found = ops_on(aws).production()
    assert found["subnets"] == {subnet} and found["vpcs"] == {vpc}
    assert group in found["groups"]


def test_the_application_check_runs_the_shell_document_on_the_copy(aws: dict[str, Any]) -> None:
    ops = ops_on(aws)
    command = ops.send_check("i-0123456789abcdef0", ["curl -s http://127.0.0.1/"], 60)
    (sent,) = aws["ssm"].list_commands(CommandId=command)["Commands"]
    assert sent["DocumentName"] == "AWS-RunShellScript"
    assert sent["InstanceIds"] == ["i-0123456789abcdef0"]
    assert sent["Parameters"]["commands"] == ["curl -s http://127.0.0.1/"]
    assert ops.check_result(command, "i-0123456789abcdef0")["status"] == "Success"


# --- holds: the same story on the in-memory catalog and on DynamoDB --------------------------
@pytest.fixture(params=["memory", "dynamodb"])
def catalog(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return FakeCatalog()
    stack = request.getfixturevalue("stack")
    return Catalog(stack.outputs["CatalogTableName"])


def test_holds_are_shared_apart_from_a_restore_s_lock_and_lapse(catalog: Any) -> None:
    now = int(NOW.timestamp())
    catalog.hold("i-1", DRILL, now + 100)
    catalog.hold("i-1", DRILL + "-2", now + 200)
    catalog.hold("i-1", DRILL, now + 100)  # repeated: the same
    # A restore takes its lock whatever drills hold; prune sees the restore's lock first.
    assert catalog.acquire_lock("i-1", "restore-x", now, 3600, {}) is None
    assert catalog.active_locks(["i-1", "i-2"], now)["i-1"]["kind"] == "restore"
    catalog.release_lock("i-1", "restore-x")
    held = catalog.active_locks(["i-1", "i-2"], now)
    assert set(held) == {"i-1"} and held["i-1"]["kind"] == "drill"
    assert set(held["i-1"]["holders"]) == {DRILL, DRILL + "-2"}
    catalog.release_hold("i-1", DRILL)
    catalog.release_hold("i-1", DRILL)  # safe to repeat
    catalog.release_hold("i-2", DRILL)  # nothing held: nothing created
    assert set(catalog.active_locks(["i-1"], now)["i-1"]["holders"]) == {DRILL + "-2"}
    assert catalog.active_locks(["i-1", "i-2"], now + 201) == {}  # lapsed by itself
    if isinstance(catalog, Catalog):
        item = catalog.ddb.get_item(
            TableName=catalog.table, Key={"pk": {"S": "LOCK#i-2"}, "sk": {"S": "HOLD"}}
        )
        assert "Item" not in item
