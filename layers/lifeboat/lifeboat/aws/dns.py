"""Where an application finds its database: a Route 53 record of a private hosted zone, or an
SSM parameter (README: plans' ``database_endpoint``). Typed models out, never response dicts;
IAM allows only the zones and parameters the plans declare."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat.apps.resources import DnsRecord, ParameterValue
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code

SIMPLE_TYPES = ("CNAME", "A", "AAAA")


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


class EndpointGateway:
    def __init__(
        self, retrier: Retrier | None = None, route53: Any = None, ssm: Any = None
    ) -> None:
        self._route53 = route53
        self._ssm = ssm
        self.retrier = retrier or Retrier()

    @property
    def route53(self) -> Any:  # made when first used: most tasks never call Route 53
        if self._route53 is None:
            self._route53 = client("route53")
        return self._route53

    @property
    def ssm(self) -> Any:
        if self._ssm is None:
            self._ssm = client("ssm")
        return self._ssm

    @needs("route53:GetHostedZone")
    def zone_exists(self, zone_id: str) -> bool:
        try:
            self.route53.get_hosted_zone(Id=zone_id)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchHostedZone", "InvalidInput"):
                return False
            raise
        return True

    @needs("route53:ListResourceRecordSets")
    def record(self, zone_id: str, name: str) -> DnsRecord | None:
        wanted = _fqdn(name)
        pages = self.route53.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zone_id, StartRecordName=wanted
        )
        for page in pages:
            for item in page.get("ResourceRecordSets", []):
                if _fqdn(item["Name"]) != wanted:
                    return None  # sorted by name: past it
                if item["Type"] in SIMPLE_TYPES and "AliasTarget" not in item:
                    return DnsRecord(
                        name=wanted,
                        type=item["Type"],
                        ttl=int(item.get("TTL", 60)),
                        values=tuple(r["Value"] for r in item.get("ResourceRecords", [])),
                    )
        return None

    @needs("route53:ChangeResourceRecordSets")
    def upsert_record(self, zone_id: str, record: DnsRecord, comment: str) -> str:
        change = {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": _fqdn(record.name),
                "Type": record.type,
                "TTL": record.ttl,
                "ResourceRecords": [{"Value": v} for v in record.values],
            },
        }
        response = self.retrier.call(
            self.route53.change_resource_record_sets,
            HostedZoneId=zone_id,
            ChangeBatch={"Comment": comment[:256], "Changes": [change]},
        )
        return str(response["ChangeInfo"]["Id"])

    @needs("route53:GetChange")
    def change_status(self, change_id: str) -> str:
        return str(self.route53.get_change(Id=change_id)["ChangeInfo"]["Status"])

    @needs("ssm:GetParameter")
    def parameter(self, name: str) -> ParameterValue | None:
        try:
            found = self.ssm.get_parameter(Name=name)["Parameter"]
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                return None
            raise
        return ParameterValue(name=name, value=found["Value"], version=found.get("Version", 0))

    @needs("ssm:PutParameter")
    def put_parameter(self, name: str, value: str) -> int:
        # Overwrite keeps the parameter's type and tags; the version before is recorded by the
        # caller, so rollback restores the value (SSM keeps the history too).
        response = self.retrier.call(self.ssm.put_parameter, Name=name, Value=value, Overwrite=True)
        return int(response.get("Version", 0))
