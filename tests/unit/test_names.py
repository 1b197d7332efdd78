"""Name tags resolve to instance ids wherever an instance is named (issues 20 and 23): a unique
match is the id, several are refused listing each candidate, none is refused; DB identifiers
and ids pass as they are."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from lifeboat.errors import InvalidInputError
from lifeboat.names import AmbiguousNameError, NamedInstance, resolve_instance, resolve_resource

pytestmark = pytest.mark.unit
WEB1 = "i-0aaaaaaaaaaaaaaa1"
WEB1_OLD = "i-0aaaaaaaaaaaaaaa0"
APP_A, APP_B = "i-0bbbbbbbbbbbbbbb1", "i-0bbbbbbbbbbbbbbb2"


@dataclass
class FakeNames:
    instances: dict[str, list[NamedInstance]] = field(default_factory=dict)
    databases: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def instances_named(self, name: str) -> list[NamedInstance]:
        self.asked.append(name)
        return list(self.instances.get(name, []))

    def database_exists(self, identifier: str) -> bool:
        return identifier in self.databases


@pytest.fixture
def names() -> FakeNames:
    return FakeNames(
        instances={
            "web-1": [
                NamedInstance(instance_id=WEB1, state="running", availability_zone="us-east-1b"),
                # the original a restore replaced: fenced, stopped, same Name
                NamedInstance(
                    instance_id=WEB1_OLD,
                    state="stopped",
                    availability_zone="us-east-1a",
                    fenced=True,
                ),
            ],
            "app": [
                NamedInstance(instance_id=APP_A, state="running", availability_zone="us-east-1a"),
                NamedInstance(instance_id=APP_B, state="stopped", availability_zone="us-east-1b"),
            ],
            "old": [NamedInstance(instance_id="i-0ccccccccccccccc1", state="terminated")],
        },
        databases={"elearn-db"},
    )


def test_a_unique_name_is_the_instance_id(names: FakeNames) -> None:
    # the fenced original carries the name too, but the server is its replacement now
    assert resolve_instance("web-1", names) == WEB1


def test_an_id_is_taken_as_it_is_without_a_lookup(names: FakeNames) -> None:
    assert resolve_instance(APP_B, names) == APP_B
    assert resolve_resource(APP_B, names) == APP_B
    assert names.asked == []


def test_an_ambiguous_name_is_refused_listing_every_candidate(names: FakeNames) -> None:
    with pytest.raises(AmbiguousNameError) as refused:
        resolve_instance("app", names)
    message = refused.value.message
    assert refused.value.field == "--instance"
    assert f"{APP_A} (running, us-east-1a)" in message
    assert f"{APP_B} (stopped, us-east-1b)" in message
    assert "instance id" in message


def test_an_unknown_name_is_refused(names: FakeNames) -> None:
    for value in ("nothere", "old"):  # a terminated instance's name is no longer a server's
        with pytest.raises(InvalidInputError) as refused:
            resolve_instance(value, names)
        assert not isinstance(refused.value, AmbiguousNameError)
        assert "no instance is named" in refused.value.message


def test_a_resource_may_be_a_database_or_a_catalogued_resource(names: FakeNames) -> None:
    assert resolve_resource("web-1", names) == WEB1
    assert resolve_resource("elearn-db", names) == "elearn-db"
    assert resolve_resource("gone-db", names, known=lambda v: v == "gone-db") == "gone-db"
    with pytest.raises(AmbiguousNameError):
        resolve_resource("app", names)
    with pytest.raises(InvalidInputError) as refused:
        resolve_resource("nothere", names, "--resource", known=lambda v: False)
    assert refused.value.field == "--resource" and "nothere" in refused.value.message
