"""scripts/motoserver.py, with moto's UpdateStack resolving ``UsePreviousValue`` as CloudFormation does.

moto looks a kept parameter up among the values given at create time only, so a parameter that took
its template default then answers 500 (KeyError) on update; CloudFormation keeps its value, default
or not (DESIGN.md, "What moto does not do here"). Tests that update a stack with
``UsePreviousValue`` start this server instead: ``python tests/motoserver_previous_values.py --port N``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import motoserver


def keep_previous_values_as_cloudformation_does() -> None:
    from moto.cloudformation.models import CloudFormationBackend, Stack

    original = CloudFormationBackend._resolve_update_parameters

    def resolve(self, instance, incoming_params):  # type: ignore[no-untyped-def]
        if not isinstance(instance, Stack):
            return original(self, instance, incoming_params)
        current = instance.stack_parameters  # every parameter's value, defaults included
        resolved = {}
        for parameter in incoming_params:
            key = parameter["ParameterKey"]
            if parameter.get("UsePreviousValue"):
                resolved[key] = current[key]
            elif "ParameterValue" in parameter:
                resolved[key] = parameter["ParameterValue"]
        return resolved

    CloudFormationBackend._resolve_update_parameters = resolve


if __name__ == "__main__":
    keep_previous_values_as_cloudformation_does()
    motoserver.main()
