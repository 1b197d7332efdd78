"""The CLI's side of :mod:`lifeboat.names`: every option naming an instance goes through these
(``Name`` tag or id; several matches or none: exit 2 naming the candidates)."""

from __future__ import annotations

from lifeboat.aws.names import AwsNames
from lifeboat.names import resolve_instance, resolve_resource
from lifeboat.ports import CatalogPort


def instance_option(value: str, field: str = "--instance") -> str:
    """The instance id an ``--instance`` option names."""
    return resolve_instance(value, AwsNames(), field)


def resource_option(value: str, catalog: CatalogPort | None, field: str = "--resource") -> str:
    """The instance id or DB identifier a ``--resource`` option names (a resource that is gone
    is known by its recovery points)."""
    return resolve_resource(
        value,
        AwsNames(),
        field,
        known=(lambda v: bool(catalog.points_for_resource(v))) if catalog is not None else None,
    )
