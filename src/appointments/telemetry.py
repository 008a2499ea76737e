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
