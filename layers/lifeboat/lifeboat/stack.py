"""Finding a deployed Lifeboat stack (on AWS or in the local emulator) by name."""

from __future__ import annotations

from botocore.exceptions import ClientError

from lifeboat.aws.clients import client
from lifeboat.errors import StackNotFoundError


def stack_outputs(stack_name: str) -> dict[str, str]:
    try:
        stacks = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise StackNotFoundError(
            f"stack {stack_name!r} not found ({exc.response['Error'].get('Message', '')}). "
            "Deploy it with 'sam build && sam deploy --guided', pass --stack NAME, or start the "
            "local emulator with 'lifeboat local serve' and export what it prints."
        ) from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def require(outputs: dict[str, str], key: str, stack_name: str) -> str:
    if key not in outputs:
        raise StackNotFoundError(f"stack {stack_name!r} has no output {key}; redeploy it")
    return outputs[key]
