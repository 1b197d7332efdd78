"""Typed errors. Their class names are the error names Step Functions Retry/Catch match on."""

from __future__ import annotations


class LifeboatError(Exception):
    """Base class of every error Lifeboat raises on purpose."""


class InvalidInputError(LifeboatError):
    """Bad input: names the field and the fix. Raised before anything is changed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TransientAwsError(LifeboatError):
    """An AWS call still throttled or rate-limited after local retries: retry the task."""


class NotOwnedError(LifeboatError):
    """A destructive action was asked for on a resource Lifeboat did not create."""


class StackNotFoundError(LifeboatError):
    """The Lifeboat stack (or one of its outputs) could not be found."""


class RestoreInProgressError(LifeboatError):
    """Another restore of the same resource holds its lock."""


class NoTargetError(LifeboatError):
    """No eligible target (AZ and subnet of the same tier) for a restore: nothing was launched."""


class NoCapacityError(LifeboatError):
    """Every instance type in every eligible AZ answered InsufficientInstanceCapacity."""


class ReplacementFailedError(LifeboatError):
    """The replacement did not become healthy in time, or stopped."""


class CutOverError(LifeboatError):
    """Moving the address or traffic to the replacement was refused or failed."""


class UnsafeToDeleteError(LifeboatError):
    """Deleting would rest on a catalog that cannot prove what Lifeboat made: nothing deleted."""


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ``ClientError`` (or of anything with its ``response``)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
