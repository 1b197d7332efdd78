"""Copies to other regions in local mode: what real EC2 does and moto 5.2.x does not.

* CopyImage honours ``ClientToken`` (a repeat returns the same image), ``TagSpecifications``
  (image and snapshots) and copies every snapshot of the source image into the destination
  region (moto: a new root snapshot only, no tags, no token);
* CopySnapshot with ``Encrypted=True`` makes an encrypted copy (moto keeps the source's);
* CopyDBSnapshot / CopyDBClusterSnapshot record their source, as RDS reports it on the copy
  (``SourceDBSnapshotIdentifier``, ``SourceRegion``; ``SourceDBClusterSnapshotArn``): what
  proves a copy Lifeboat's (moto reports neither);
* copies take time when :data:`COPY_TIMING` says so (the benchmark: moto completes a copy at
  once): a copied snapshot stays ``pending`` (a copied image too, with its snapshots) for
  ``seconds``, and the most copied snapshots ever pending at once in a region is recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import moto.ec2.models.amis as ami_models
import moto.ec2.models.elastic_block_store as ebs_models
import moto.ec2.responses.amis as ami_responses
import moto.ec2.responses.elastic_block_store as ebs_responses
import moto.rds.models as rds_models
from moto.core.responses import ActionResult


@dataclass
class CopyTiming:
    seconds: float = 0.0
    peak: dict[str, int] = field(default_factory=dict)  # region -> snapshots pending at most
    pending: dict[str, tuple[Any, str, str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, seconds: float = 0.0) -> None:
        with self._lock:
            self.seconds, self.peak, self.pending = seconds, {}, {}

    def hold(self, region: str, resource: Any, attribute: str, done: str) -> None:
        """``resource`` copied: pending until ``seconds`` from now."""
        if self.seconds <= 0:
            return
        with self._lock:
            setattr(resource, attribute, "pending")
            self.pending[resource.id] = (resource, attribute, done, time.monotonic() + self.seconds)
            self._settle()
            count = sum(
                1
                for r, a, _d, _t in self.pending.values()
                if a == "status" and r.ec2_backend.region_name == region
            )
            self.peak[region] = max(self.peak.get(region, 0), count)

    def settle(self) -> None:
        with self._lock:
            self._settle()

    def _settle(self) -> None:
        now = time.monotonic()
        for key, (resource, attribute, done, due) in list(self.pending.items()):
            if due <= now:
                setattr(resource, attribute, done)
                del self.pending[key]


COPY_TIMING = CopyTiming()
ORIGINAL_DESCRIBE_SNAPSHOTS = ebs_models.EBSBackend.describe_snapshots
ORIGINAL_DESCRIBE_IMAGES = ami_models.AmiBackend.describe_images


def _describe_snapshots(backend: Any, *args: Any, **kwargs: Any) -> Any:
    COPY_TIMING.settle()
    return ORIGINAL_DESCRIBE_SNAPSHOTS(backend, *args, **kwargs)


def _describe_images(backend: Any, *args: Any, **kwargs: Any) -> Any:
    COPY_TIMING.settle()
    return ORIGINAL_DESCRIBE_IMAGES(backend, *args, **kwargs)


ORIGINAL_COPY_SNAPSHOT = ebs_responses.ElasticBlockStore.copy_snapshot


def _copy_image(response: Any) -> Any:
    from moto.ec2.models import ec2_backends  # noqa: PLC0415 (moto's registry of regions)

    backend = response.ec2_backend
    token = response._get_param("ClientToken")
    tokens: dict[str, str] = backend.__dict__.setdefault("lifeboat_copy_tokens", {})
    if token and token in tokens:
        return ActionResult({"ImageId": tokens[token]})
    source_region = response._get_param("SourceRegion")
    source_id = response._get_param("SourceImageId")
    specs = response._get_param("TagSpecifications", [])
    tags = {s["ResourceType"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])} for s in specs}
    ami = backend.copy_image(
        source_id, source_region, response._get_param("Name"), response._get_param("Description")
    )
    source = ec2_backends[backend.account_id][source_region].describe_images(ami_ids=[source_id])[0]
    kms_key = response._get_param("KmsKeyId")
    copied = []
    for mapping in getattr(source, "lifeboat_mappings", []):
        snap = backend.copy_snapshot(
            mapping["Ebs"]["SnapshotId"], source_region, f"Copied for {ami.id}", kms_key
        )
        snap.encrypted = True
        COPY_TIMING.hold(backend.region_name, snap, "status", "completed")
        copied.append({**mapping, "Ebs": {**mapping["Ebs"], "SnapshotId": snap.id}})
        for key, value in tags.get("snapshot", {}).items():
            snap.add_tag(key, value)
    ami.lifeboat_mappings = copied
    ami.ebs_snapshot.encrypted = True
    COPY_TIMING.hold(backend.region_name, ami.ebs_snapshot, "status", "completed")
    COPY_TIMING.hold(backend.region_name, ami, "state", "available")
    for key, value in tags.get("snapshot", {}).items():
        ami.ebs_snapshot.add_tag(key, value)
    for key, value in tags.get("image", {}).items():
        ami.add_tag(key, value)
    if token:
        tokens[token] = ami.id
    return ActionResult({"ImageId": ami.id})


def _copy_snapshot(response: Any) -> Any:
    result = ORIGINAL_COPY_SNAPSHOT(response)
    found = getattr(result, "result", None)
    if isinstance(found, dict):
        snapshot = response.ec2_backend.get_snapshot(found["SnapshotId"])
        if str(response._get_param("Encrypted")).lower() == "true":
            snapshot.encrypted = True
        COPY_TIMING.hold(response.ec2_backend.region_name, snapshot, "status", "completed")
    return result


ORIGINAL_COPY_DB_SNAPSHOT = rds_models.RDSBackend.copy_db_snapshot
ORIGINAL_COPY_DB_CLUSTER_SNAPSHOT = rds_models.RDSBackend.copy_db_cluster_snapshot


def _region_of(identifier: str, default: str) -> str:
    parts = identifier.split(":")
    return parts[3] if identifier.startswith("arn:") and len(parts) > 3 else default


def _copy_db_snapshot(backend: Any, **kwargs: Any) -> Any:
    snapshot = ORIGINAL_COPY_DB_SNAPSHOT(backend, **kwargs)
    source = str(kwargs["source_db_snapshot_identifier"])
    snapshot.source_db_snapshot_identifier = source
    snapshot.source_region = _region_of(source, backend.region_name)
    return snapshot


def _copy_db_cluster_snapshot(backend: Any, **kwargs: Any) -> Any:
    snapshot = ORIGINAL_COPY_DB_CLUSTER_SNAPSHOT(backend, **kwargs)
    source = str(kwargs["source_db_cluster_snapshot_identifier"])
    if not source.startswith("arn:"):
        source = backend.get_db_cluster_snapshot(source).db_cluster_snapshot_arn
    snapshot.source_db_cluster_snapshot_arn = source
    return snapshot


@contextmanager
def copy_gap_fills() -> Iterator[None]:
    patches: list[Any] = [
        mock.patch.object(rds_models.RDSBackend, "copy_db_snapshot", _copy_db_snapshot),
        mock.patch.object(
            rds_models.RDSBackend, "copy_db_cluster_snapshot", _copy_db_cluster_snapshot
        ),
        mock.patch.object(ami_responses.AmisResponse, "copy_image", _copy_image),
        mock.patch.object(ebs_responses.ElasticBlockStore, "copy_snapshot", _copy_snapshot),
        mock.patch.object(ebs_models.EBSBackend, "describe_snapshots", _describe_snapshots),
        mock.patch.object(ami_models.AmiBackend, "describe_images", _describe_images),
    ]
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield
