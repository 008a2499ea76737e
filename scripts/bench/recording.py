"""Recording a run's AWS calls, and replaying its DynamoDB answers.

``AwsRecorder`` counts every API call of the clients it makes, through botocore's ``before-call``
event, by service and API name, and keeps each DynamoDB request with its response (for the capacity
arithmetic). ``Replayed`` answers a handler's DynamoDB calls with those responses, in order, so that a
request can be run again without moto doing any work in the process being timed.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from contextlib import contextmanager

Exchange = tuple[str, dict, dict]  # (API name, request parameters, parsed response)


class AwsRecorder:
    """Counts every API call of the clients it made, and keeps DynamoDB requests and responses."""

    def __init__(self):
        import boto3

        self.session = boto3.Session()
        self.calls: Counter[str] = Counter()
        self.exchanges: list[Exchange] = []
        self._params: list[tuple[str, dict]] = []
        events = self.session.events
        events.register("before-call", self._count)
        events.register("provide-client-params.dynamodb", self._remember_params)
        events.register("after-call.dynamodb", self._remember_response)

    def client(self, name: str):
        return self.session.client(name)

    def _count(self, model, **_):
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def _remember_params(self, params, model, **_):
        self._params.append((model.name, json.loads(json.dumps(params, default=str))))

    def _remember_response(self, parsed, model, **_):
        name, params = self._params.pop(0) if self._params else (model.name, {})
        self.exchanges.append((name, params, parsed))

    @contextmanager
    def measuring(self):
        """Yields a dict that holds, once the block ends, the ``calls`` and ``exchanges`` made inside it."""
        self.calls.clear()
        self.exchanges.clear()
        self._params.clear()
        snapshot: dict = {}
        yield snapshot
        snapshot["calls"] = dict(self.calls)
        snapshot["exchanges"] = list(self.exchanges)


class Replayed:
    """A DynamoDB client that answers each call with the response recorded for it, in order."""

    def __init__(self, exchanges: list[Exchange], exceptions):
        from botocore import xform_name

        self.exceptions = exceptions
        self._answers: dict[str, list[dict]] = {}
        for name, _, parsed in exchanges:
            self._answers.setdefault(xform_name(name), []).append(copy.deepcopy(parsed))

    def __getattr__(self, name: str):
        answers = self._answers.get(name)
        if answers is None:
            raise AttributeError(name)
        return lambda **_: answers.pop(0)
