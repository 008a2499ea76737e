"""Where local runs and tests point boto3, and the ports they listen on: one home for both.

``fake_aws_environment`` is what make run, the benchmark and the tests set so that boto3 reaches moto
and never an account: fake credentials and one region, and either a moto server's URL or nothing (in-
process moto, ``mock_aws``). ``use_fake_aws`` puts it into an environment after removing what could
still lead elsewhere (a profile, a session token, another endpoint). ``free_port`` is a loopback port
nobody listens on.
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

REGION = "us-east-1"
# What would send a call to a real account or another endpoint: removed before the fake environment goes in.
LEADS_ELSEWHERE = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")


def fake_aws_environment(endpoint_url: str | None = None) -> dict[str, str]:
    """The variables under which boto3 talks to moto: to the moto server at ``endpoint_url``, or, without
    it, to in-process moto. Child processes inherit them."""
    environment = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                   # botocore sends ARN-bearing calls (DescribeStream) to <account>.streams-ddb..., a host
                   # in-process moto does not route; the regional endpoint is equivalent.
                   "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}
    if endpoint_url:
        environment["AWS_ENDPOINT_URL"] = endpoint_url
    return environment


def use_fake_aws(endpoint_url: str | None = None, environ: MutableMapping[str, str] | None = None) -> None:
    """Point boto3 in this process (or ``environ``) at moto, as ``fake_aws_environment`` says."""
    environ = os.environ if environ is None else environ
    for name in LEADS_ELSEWHERE:
        environ.pop(name, None)
    environ.update(fake_aws_environment(endpoint_url))


def free_port() -> int:
    """A loopback TCP port that nothing listens on (the system picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
