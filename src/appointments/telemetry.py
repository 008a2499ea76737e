"""What every handler logs and measures with: Powertools' structured logger and EMF metrics, set up once.

Each function runs one handler module; they all import these, so the set-up is written once.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

# GET requests and idle batches emit no metrics by design; Powertools would warn about each of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")
logger = Logger()
metrics = Metrics()


def count_deliveries(deliveries) -> None:
    """One EMF metric per message: NotificationsSent, NotificationsFailed or NotificationsSkipped, with the
    message's kind and channel as dimensions (a duplicate delivery found sent is none of them)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():  # as the Metrics the handlers flush respect it (single_metric does not)
        return
    names = {"sent": "NotificationsSent", "failed": "NotificationsFailed", "in flight": "NotificationsFailed",
             "skipped": "NotificationsSkipped"}
    for delivery in deliveries:
        name = names.get(delivery.outcome)
        if name is None:
            continue
        with single_metric(name=name, unit=MetricUnit.Count, value=1,
                           default_dimensions=metrics.default_dimensions) as metric:
            metric.add_dimension(name="kind", value=delivery.kind)
            metric.add_dimension(name="channel", value=delivery.channel)


def log_deliveries(deliveries) -> None:
    """What became of each message, by calendar ID and channel; never an address."""
    for delivery in deliveries:
        logger.info("message handled", kind=delivery.kind, channel=delivery.channel, recipient=delivery.recipient,
                    outcome=delivery.outcome, reason=delivery.reason)
