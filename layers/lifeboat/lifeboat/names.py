"""Naming a server the way people do: by its ``Name`` tag (``web-1``) or by its id. One resolver
for every command that names an instance (``restore start --instance``, ``recovery-points list
--resource``, ``drill start --resource``, ``copies list --resource`` …): a unique match is the
instance's id; several are refused listing the candidates; none is refused. A database is named
by its DB identifier, as before."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel

from lifeboat.errors import InvalidInputError

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
GONE_STATES = frozenset({"terminated", "shutting-down"})


class NamedInstance(BaseModel):
    """An instance carrying a ``Name`` tag, as the resolver shows it."""

    instance_id: str
    state: str
    availability_zone: str | None = None
    fenced: bool = False  # replaced by a restore (tag lifeboat:fenced)

    def describe(self) -> str:
        where = self.availability_zone or "AZ unknown"
        return f"{self.instance_id} ({self.state}, {where}{', fenced' if self.fenced else ''})"


class NamesPort(Protocol):
    """What the resolver reads (:class:`lifeboat.aws.names.AwsNames`)."""

    def instances_named(self, name: str) -> list[NamedInstance]:
        """Every instance whose ``Name`` tag is ``name`` (terminated ones included)."""
        ...

    def database_exists(self, identifier: str) -> bool: ...


class AmbiguousNameError(InvalidInputError):
    """A Name tag carried by several instances: the id must be given."""


def resolve_instance(value: str, names: NamesPort, field: str = "--instance") -> str:
    """The instance id ``value`` names: an id as it is, else the one live instance whose
    ``Name`` tag it is. An instance fenced by a restore (its replacement carries its name) is a
    candidate only when no unfenced one is."""
    if INSTANCE_ID.match(value):
        return value
    found = _named(value, names, field)
    if found is None:
        raise InvalidInputError(
            field,
            f"no instance is named {value!r} (Name tag) and it is not an instance id (i-…); "
            "an instance that is gone is named by its id (lifeboat recovery-points list)",
        )
    return found


def resolve_resource(
    value: str,
    names: NamesPort,
    field: str = "--resource",
    known: Callable[[str], bool] | None = None,
) -> str:
    """An instance (id or Name tag, as :func:`resolve_instance`) or a DB identifier: a name no
    instance carries is taken as a DB identifier if that database exists or ``known`` says the
    catalog knows it (a resource that is gone); otherwise refused."""
    if INSTANCE_ID.match(value):
        return value
    found = _named(value, names, field)
    if found is not None:
        return found
    if names.database_exists(value) or (known is not None and known(value)):
        return value
    raise InvalidInputError(
        field,
        f"{value!r} is not an instance id, the Name tag of an instance, a DB identifier, nor a "
        "resource with recovery points",
    )


def _named(value: str, names: NamesPort, field: str) -> str | None:
    live = [i for i in names.instances_named(value) if i.state not in GONE_STATES]
    if not live:
        return None
    candidates = [i for i in live if not i.fenced] or live
    if len(candidates) == 1:
        return candidates[0].instance_id
    listed = "; ".join(i.describe() for i in sorted(live, key=lambda i: i.instance_id))
    raise AmbiguousNameError(
        field,
        f"{value!r} is the Name tag of {len(candidates)} instances: {listed}. "
        "Name one by its instance id",
    )
