"""eLearn as an application (docs/concepts/applications.md): its existing resources tagged
``app=elearn`` and ``tier=web|app|db`` (the instances already are; the database gets its tags
here), and the private hosted zone ``elearn.internal`` whose record ``db.elearn.internal``
points at the database's endpoint, as the application finds it. ``seed_elearn()``'s resources
are not changed otherwise."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from lifeboat.aws.clients import client
from lifeboat.local.seed import AZ_A, Seeded

ZONE_NAME = "elearn.internal"
RECORD = "db.elearn.internal"
APPLICATION = {"select": {"app": "elearn"}, "order": ["db", "app", "web"]}


@dataclass
class SeededApplication:
    zone_id: str
    record: str
    db_endpoint: str

    def application(self) -> dict[str, Any]:
        """The plans-file declaration of the eLearn application with this zone."""
        return {
            **APPLICATION,
            "database_endpoint": {"route53": {"zone_id": self.zone_id, "name": self.record}},
        }


def seed_elearn_application(seeded: Seeded) -> SeededApplication:
    rds = client("rds")
    db = rds.describe_db_instances(DBInstanceIdentifier="elearn-db")["DBInstances"][0]
    rds.add_tags_to_resource(
        ResourceName=db["DBInstanceArn"], Tags=[{"Key": "app", "Value": "elearn"}]
    )
    endpoint = str(db["Endpoint"]["Address"])
    route53 = client("route53")
    zone = route53.create_hosted_zone(
        Name=ZONE_NAME,
        CallerReference=str(uuid.uuid4()),
        HostedZoneConfig={"PrivateZone": True, "Comment": "eLearn"},
        VPC={"VPCRegion": AZ_A[:-1], "VPCId": seeded.vpc_id},
    )["HostedZone"]
    zone_id = str(zone["Id"]).rsplit("/", 1)[-1]
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": RECORD,
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": endpoint}],
                    },
                }
            ]
        },
    )
    return SeededApplication(zone_id=zone_id, record=RECORD, db_endpoint=endpoint)
