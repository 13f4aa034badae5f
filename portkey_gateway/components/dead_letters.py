"""Where an event that could not be handled goes, so that a lost secret-change or ECS event is never silent.

EventBridge puts an event here when it cannot deliver it to a target (after its retries), and Lambda an asynchronous
invocation that failed every retry. The queue keeps them 14 days (SQS's maximum), encrypted at rest with SQS's own
key (an EventBridge dead-letter queue on a KMS key needs events.amazonaws.com in the key's policy, which an existing
key's policy cannot be given from here) and TLS-only; an alarm, which the monitoring sends to the operations topic
with the others, goes off as soon as one arrives.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..compliance import acknowledge, checkov_skip

RETENTION = Duration.days(14)


class DeadLetters(Construct):
    """Exposes `queue` and `alarm` (None unless `alarm`). One per gateway: every rule target and operations function
    uses it."""

    def __init__(self, scope: Construct, construct_id: str, *, name_prefix: str, alarm: bool):
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(self, "Queue", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                               retention_period=RETENTION)
        acknowledge(self.queue, "AwsSolutions-SQS3",
                    "This queue is the dead-letter queue of the EventBridge targets and operations functions")
        checkov_skip(self.queue.node.default_child, "CKV_AWS_27", (
            "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which checkov does not recognise; a KMS "
            "key would need events.amazonaws.com in its policy, which an existing key's policy cannot be given here"))
        self.alarm = None
        if alarm:
            self.alarm = cloudwatch.Alarm(
                self, "Alarm", alarm_name=f"{name_prefix}-undelivered-events",
                alarm_description="An event was not delivered or its function failed every retry: read it from the "
                                  "dead-letter queue, and do by hand what it was for (e.g. redeploy after a secret change)",
                metric=self.queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5),
                                                                                 statistic="Maximum"),
                threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )

    def target_config(self, rule: events.IRule) -> events.CfnRule.DeadLetterConfigProperty:
        """For a target CDK's targets module does not build: `rule` may send its undelivered events here."""
        self.queue.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("events.amazonaws.com")], actions=["sqs:SendMessage"],
            resources=[self.queue.queue_arn], conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
        ))
        return events.CfnRule.DeadLetterConfigProperty(arn=self.queue.queue_arn)
