"""SNS notifications."""

from __future__ import annotations

import json
from typing import Any

from lifeboat.aws.clients import client
from lifeboat.aws.permissions import needs


class Notifier:
    def __init__(self, topic_arn: str, sns: Any = None) -> None:
        self.topic_arn = topic_arn
        self.sns = sns or client("sns")

    @needs("sns:Publish")
    def publish(self, subject: str, body: dict[str, Any]) -> None:
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=subject[:100],
            Message=json.dumps(body, indent=2, default=str)[:250_000],
        )
