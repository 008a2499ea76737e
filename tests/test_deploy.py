"""Packaging and deployment: a reproducible zip, and scripts/deploy.py against a moto server."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import zipfile
from importlib import metadata
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import deploy
import package
from conftest import ROOT, MotoServer, free_port

# One worker runs the whole file: its tests build the zip into the same build/ (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("package")


def test_package_builds_are_byte_identical(tmp_path):
    first = package.build(tmp_path / "a.zip")
    second = package.build(tmp_path / "b.zip")
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.s3_key == f"lambda/appointment-scheduler-{first.sha256}.zip"


def test_builds_at_once_install_the_dependencies_once_each_into_a_directory_of_its_own(tmp_path, monkeypatch):
    """make test's two workers may both build into a fresh build/: neither installs into the other's directory
    (pip's --target refuses a package directory that is already there), and one complete directory stays."""
    racers = 2
    both_installing = threading.Barrier(racers, timeout=10)

    def pip_install(command, check):  # as pip --target: moves each package's directories into the target
        target = Path(command[command.index("--target") + 1])
        both_installing.wait()
        target.mkdir(parents=True, exist_ok=True)
        (target / "babel-2.18.0.dist-info").mkdir()  # FileExistsError when a second install shares it
        (target / "babel-2.18.0.dist-info" / "RECORD").write_text(str(target))

    monkeypatch.setattr(package, "BUILD", tmp_path)
    monkeypatch.setattr(package.subprocess, "run", pip_install)
    with concurrent.futures.ThreadPoolExecutor(racers) as pool:
        found = [f.result(timeout=20) for f in [pool.submit(package.vendored_dependencies) for _ in range(racers)]]
    assert len(set(found)) == 1
    assert (found[0] / ".complete").exists()
    assert (found[0] / "babel-2.18.0.dist-info" / "RECORD").exists()
    assert [p.name for p in tmp_path.iterdir()] == [found[0].name]  # the loser's directory is gone


def test_package_holds_the_handlers_and_powertools_but_not_boto3(tmp_path):
    names = zipfile.ZipFile(package.build(tmp_path / "lambda.zip").path).namelist()
    assert {"conflict_detector.py", "reminder_sender.py", "reminder_scheduler.py",
            "appointments/store.py"} <= set(names)
    assert any(n.startswith("aws_lambda_powertools/") for n in names)
    assert any(n.startswith("tzdata/") for n in names)
    assert any(n.startswith("icalendar/") for n in names)
    assert {"dateutil/parser/__init__.py", "six.py"} <= set(names)  # icalendar's own dependencies
    assert not any(n.split("/")[0] in ("boto3", "botocore", "s3transfer") for n in names)


@pytest.mark.skipif(sys.implementation.cache_tag != "cpython-313", reason="bytecode is built by python3.13 only")
@pytest.mark.slow
def test_package_carries_bytecode_for_every_module_and_python_loads_it_without_compiling(tmp_path):
    archive = zipfile.ZipFile(package.build(tmp_path / "lambda.zip").path)
    names = set(archive.namelist())
    sources = {n for n in names if n.endswith(".py")}
    assert {n for n in names if n.endswith(".pyc")} == {importlib.util.cache_from_source(n) for n in sources}
    code = tmp_path / "task"
    archive.extractall(code)
    # Change a source after the build: Python still runs the bytecode (Lambda's /var/task is read-only,
    # so this is the only way it avoids compiling), which the marker's absence shows.
    with (code / "conflict_detector.py").open("a") as source:
        source.write("\nCOMPILED_FROM_SOURCE = True\n")
    check = "import conflict_detector; print(hasattr(conflict_detector, 'COMPILED_FROM_SOURCE'))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=True,
                            env={**os.environ, "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.stdout.strip() == "False"


# What the python3.13 runtime ships for boto3 itself. python-dateutil and six come with it too, but only as
# botocore's dependencies: icalendar imports dateutil, so the zip bundles both rather than rely on that.
RUNTIME_PROVIDES = {"boto3", "botocore", "jmespath", "s3transfer", "urllib3"}


def test_every_dependency_of_what_the_zip_bundles_is_bundled_or_comes_with_the_runtime():
    def requirements(lines) -> set[str]:
        on_lambda = {"python_version": "3.13", "extra": ""}
        return {canonicalize_name(r.name) for r in map(Requirement, lines)
                if r.marker is None or r.marker.evaluate(on_lambda)}

    listed = (ROOT / "requirements" / "lambda.txt").read_text().splitlines()
    bundled = requirements(line for line in listed if line.strip() and not line.startswith("#"))
    needed = set().union(*(requirements(metadata.requires(name) or []) for name in bundled))
    assert needed <= bundled | RUNTIME_PROVIDES, needed - bundled - RUNTIME_PROVIDES


def run_deploy(action: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "deploy.py"), action], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.slow
def test_deploy_into_a_moto_server_creates_the_stack_and_a_second_deploy_is_a_no_op(moto_server_env):
    moto_server_env()
    env = {**os.environ, "ENV": "ci", "STACK_NAME": "appointments-ci", "POLL_SECONDS": "0.1"}

    first = run_deploy("deploy", env)
    assert first.returncode == 0, first.stderr
    assert "CREATE_COMPLETE" in first.stdout
    assert "--aws-sigv4" in first.stdout

    cfn = boto3.client("cloudformation")
    stack = cfn.describe_stacks(StackName="appointments-ci")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["ApiEndpoint"].startswith("https://")
    assert outputs["ApiEndpoint"].endswith("/prod")
    assert outputs["AppointmentsTableName"] == "AppointmentsTable-ci"
    assert outputs["NotificationTopicArn"].endswith(":AppointmentNotifications-ci")

    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    code = boto3.client("s3").get_object(Bucket=parameters["CodeBucket"], Key=parameters["CodeKey"])["Body"].read()
    expected_sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    lam = boto3.client("lambda")
    for name in ("ConflictDetector-ci", "ReminderSender-ci", "ReminderScheduler-ci", "EventPublisher-ci"):
        assert lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"] == expected_sha

    # Events: the bus exists under the output's name, the publisher is told it, and reads the stream.
    assert outputs["AppointmentEventBusName"] == "AppointmentEvents-ci"
    boto3.client("events").describe_event_bus(Name=outputs["AppointmentEventBusName"])
    publisher = lam.get_function_configuration(FunctionName="EventPublisher-ci")
    assert publisher["Environment"]["Variables"]["EVENT_BUS_NAME"] == outputs["AppointmentEventBusName"]
    mappings = lam.list_event_source_mappings(FunctionName="EventPublisher-ci")["EventSourceMappings"]
    stream = boto3.client("dynamodb").describe_table(TableName="AppointmentsTable-ci")["Table"]["LatestStreamArn"]
    assert [m["EventSourceArn"] for m in mappings] == [stream]

    events_before = len(cfn.describe_stack_events(StackName="appointments-ci")["StackEvents"])
    second = run_deploy("deploy", env)
    assert second.returncode == 0, second.stderr
    assert "no changes: the stack is up to date" in second.stdout
    assert "already uploaded" in second.stdout
    assert len(cfn.describe_stack_events(StackName="appointments-ci")["StackEvents"]) == events_before

    # The template went through S3 (TemplateURL), content-addressed next to the code.
    template_keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(
        Bucket=parameters["CodeBucket"], Prefix="templates/")["Contents"]]
    assert template_keys == [f"templates/template-{hashlib.sha256(deploy.TEMPLATE.read_bytes()).hexdigest()}.json"]

    gone = run_deploy("destroy", env)
    assert gone.returncode == 0, gone.stderr
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in cfn.describe_stacks()["Stacks"])
    # A non-prod stack is deployed with RetainData=false, so destroying it removes its tables too.
    assert parameters["RetainData"] == "false"
    assert not {"AppointmentsTable-ci", "CalendarTable-ci"} & set(boto3.client("dynamodb").list_tables()["TableNames"])


@pytest.fixture
def moto_server_keeping_previous_values(moto_server_env, monkeypatch):
    """A moto server whose UpdateStack keeps a parameter with UsePreviousValue as CloudFormation does, also one
    that took its default at create time (tests/motoserver_previous_values.py); boto3 and children point at it."""
    moto_server_env()  # the fake credentials and region; its server is left unused
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "motoserver_previous_values.py"),
                                "--port", str(port)], stdout=subprocess.PIPE, text=True)
    server = MotoServer(process.stdout.readline().split()[-1], process)
    try:
        assert server.url == f"http://127.0.0.1:{port}", "the moto server did not start"
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        yield server
    finally:
        server.stop()


def stack_parameters(stack_name: str) -> dict[str, str]:
    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


@pytest.mark.slow
def test_a_deploy_without_parameters_keeps_those_the_stack_was_deployed_with(moto_server_keeping_previous_values):
    env = {**os.environ, "ENV": "ci", "STACK_NAME": "appointments-keep", "POLL_SECONDS": "0.1"}
    first = run_deploy("deploy", {**env, "PARAMETERS": "AuthMode=NONE ThrottlingRateLimit=7"})
    assert first.returncode == 0, first.stderr
    created = stack_parameters("appointments-keep")
    assert (created["AuthMode"], created["ThrottlingRateLimit"]) == ("NONE", "7")

    # A plain `make deploy` that changes something (here the code's bucket, as a code change changes its key).
    again = run_deploy("deploy", {**env, "CODE_BUCKET": "appointments-keep-code"})
    assert again.returncode == 0, again.stderr
    assert "UPDATE_COMPLETE" in again.stdout
    updated = stack_parameters("appointments-keep")
    assert updated["CodeBucket"] == "appointments-keep-code"
    assert (updated["AuthMode"], updated["ThrottlingRateLimit"]) == ("NONE", "7")
    assert {k: v for k, v in updated.items() if k != "CodeBucket"} == {
        k: v for k, v in created.items() if k != "CodeBucket"}


def stage_deployment(api_id: str) -> str:
    return boto3.client("apigateway").get_stage(restApiId=api_id, stageName="prod")["deploymentId"]


def method_authorization(api_id: str) -> str:
    apigateway = boto3.client("apigateway")
    resource = next(r for r in apigateway.get_resources(restApiId=api_id)["items"] if r["path"] == "/appointments")
    return apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod="POST")["authorizationType"]


@pytest.mark.slow
def test_a_stack_update_that_changes_the_api_publishes_a_new_deployment_to_the_stage(
        moto_server_keeping_previous_values):
    env = {**os.environ, "ENV": "ci", "STACK_NAME": "appointments-update", "POLL_SECONDS": "0.1"}
    assert run_deploy("deploy", env).returncode == 0
    stack = boto3.client("cloudformation").describe_stacks(StackName="appointments-update")["Stacks"][0]
    api_id = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["ApiId"]
    created_with = stage_deployment(api_id)
    assert method_authorization(api_id) == "AWS_IAM"

    switched = run_deploy("deploy", {**env, "PARAMETERS": "AuthMode=NONE"})
    assert switched.returncode == 0, switched.stderr
    assert "UPDATE_COMPLETE" in switched.stdout
    # moto's CloudFormation keeps the method as it was (on AWS it changes); what deploy.py owns is the
    # new snapshot on the stage, without which AWS would go on serving the old authorization.
    published = stage_deployment(api_id)
    assert published != created_with
    assert f"published API deployment {published} to stage prod" in switched.stdout


def test_the_template_fits_the_limit_of_the_route_both_deploy_paths_use():
    """deploy.py and the README's AWS CLI route both pass the template through S3: 1 MB, not 51,200 bytes."""
    size = deploy.TEMPLATE.stat().st_size
    assert size <= deploy.TEMPLATE_URL_LIMIT
    readme = (ROOT / "README.md").read_text()
    assert "--template-body" not in readme
    assert "--template-url" in readme or "--s3-bucket" in readme


def readme_blocks(section: str) -> list[str]:
    text = re.split(r"\n##+ ", (ROOT / "README.md").read_text().split(f"### {section}\n", 1)[1], maxsplit=1)[0]
    return [block.split("```", 1)[0] for block in text.split("```sh\n")[1:]]


@pytest.mark.slow
def test_the_readmes_aws_cli_route_creates_updates_and_publishes_the_stack_as_written(
        moto_server_keeping_previous_values, tmp_path):
    """Every command of "With the AWS CLI only" and "Sending events to a webhook", run as written by the
    AWS CLI against a moto server (one that keeps UsePreviousValue parameters as CloudFormation does)."""
    aws = ROOT / ".venv-awscli" / "bin" / "aws"
    if not aws.exists():
        pytest.fail("the AWS CLI is missing: run `make install` (make test does it)")
    create, update = readme_blocks("With the AWS CLI only")
    [webhook] = readme_blocks("Sending events to a webhook")
    env = {**os.environ, "PATH": f"{aws.parent}:{os.environ['PATH']}", "AWS_PAGER": ""}
    # One terminal: the update and webhook blocks use the variables the create block set; the webhook
    # block writes a policy file, so it runs in a scratch directory.
    # AWS CLI v1 sends every sqs command to queue.amazonaws.com unless --endpoint-url is given, ignoring
    # AWS_ENDPOINT_URL; on AWS that is the right host, against moto it is not.
    shim = 'aws() { if [ "$1" = sqs ]; then command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; ' \
           'else command aws "$@"; fi; }\n'
    script = f"{shim}{create}{update}cd {shlex.quote(str(tmp_path))}\n{webhook}"
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    stack = boto3.client("cloudformation").describe_stacks(StackName="appointment-scheduler-dev")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["AlarmEmail"] == "ops@example.com"
    # What the update did not name is kept, not reset to the template's default.
    assert parameters["CodeBucket"] == "appointment-scheduler-artifacts-123456789012-us-east-1"
    api_id = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["ApiId"]
    deployments = boto3.client("apigateway").get_deployments(restApiId=api_id)["items"]
    assert stage_deployment(api_id) == max(deployments, key=lambda d: d["createdDate"])["id"]
    assert len(deployments) == 2  # the stack's own, and the one the update published

    events = boto3.client("events")
    bus = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["AppointmentEventBusName"]
    [target] = events.list_targets_by_rule(Rule="appointments-to-webhook", EventBusName=bus)["Targets"]
    destination = events.describe_api_destination(Name="appointments-webhook")
    assert (target["Arn"], destination["InvocationEndpoint"]) == (destination["ApiDestinationArn"],
                                                                  "https://example.com/hooks/appointments")
    assert target["DeadLetterConfig"]["Arn"].endswith(":appointments-webhook-dlq")
    assert target["RoleArn"].endswith(":role/AppointmentsWebhook-us-east-1")
    # The dead-letter queue takes messages from EventBridge for this rule only (no confused deputy).
    sqs = boto3.client("sqs")
    queue = sqs.get_queue_url(QueueName="appointments-webhook-dlq")["QueueUrl"]
    [statement] = json.loads(sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["Policy"])
                             ["Attributes"]["Policy"])["Statement"]
    rule = events.describe_rule(Name="appointments-to-webhook", EventBusName=bus)["Arn"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule}}


@pytest.mark.slow
def test_deploy_without_credentials_exits_1_with_advice(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1",
            "CODE_BUCKET": "any-bucket", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    result = run_deploy("deploy", env)
    assert result.returncode == 1
    assert "no AWS credentials found" in result.stderr
    assert "Traceback" not in result.stderr


# -- failure reasons, with fakes for the two AWS services ------------------------------------------

class FakeS3:
    def __init__(self, head_bucket_code: str):
        self.code = head_bucket_code

    def head_bucket(self, Bucket):
        raise ClientError({"Error": {"Code": self.code, "Message": "Forbidden"}}, "HeadBucket")


class FakeCloudFormation:
    """A stack whose creation failed on one resource."""

    def describe_stacks(self, StackName):
        return {"Stacks": [{"StackStatus": "ROLLBACK_COMPLETE", "Outputs": []}]}

    def get_paginator(self, name):
        event = {"EventId": "1", "LogicalResourceId": "ConflictDetectorFunction", "ResourceStatus": "CREATE_FAILED",
                 "ResourceStatusReason": "Resource handler returned message: Code storage limit exceeded"}
        return type("Pages", (), {"paginate": lambda self, **_: [{"StackEvents": [event]}]})()


def deployer_with(s3=None, cfn=None) -> deploy.Deployer:
    deployer = deploy.Deployer.__new__(deploy.Deployer)
    deployer.config, deployer.out = deploy.Config(), lambda *_: None
    deployer.s3, deployer.cfn = s3, cfn
    return deployer


def test_a_bucket_without_permission_is_a_clear_error():
    with pytest.raises(deploy.DeployError, match=r"403.*s3:PutObject"):
        deployer_with(s3=FakeS3("403")).ensure_bucket("someone-elses-bucket")


def test_a_failed_stack_names_the_failing_resource_and_its_reason():
    reasons = deployer_with(cfn=FakeCloudFormation()).failure_reasons()
    assert reasons == "Failing resources: ConflictDetectorFunction: Resource handler returned message: " \
                      "Code storage limit exceeded"


def test_config_reads_stack_env_region_and_extra_parameters():
    config = deploy.Config.from_environment({"ENV": "prod", "REGION": "eu-west-1",
                                             "PARAMETERS": "ReservedConcurrency=20 ApiLoggingLevel=ERROR"})
    assert (config.stack_name, config.env, config.region) == ("appointment-scheduler-prod", "prod", "eu-west-1")
    assert config.parameters == {"ReservedConcurrency": "20", "ApiLoggingLevel": "ERROR"}


def parameters_sent(config: deploy.Config, current: dict | None) -> dict:
    deployer = deployer_with()
    deployer.config = config
    return {p["ParameterKey"]: p.get("ParameterValue", "(kept)")
            for p in deployer.parameters("code-bucket", "lambda/new.zip", current)}


DECLARED = set(json.loads(deploy.TEMPLATE.read_text())["Parameters"])


def test_a_create_sends_what_is_given_and_retains_data_only_for_prod():
    assert parameters_sent(deploy.Config(env="dev", parameters={"AuthMode": "NONE"}), None) == {
        "EnvironmentSuffix": "dev", "CodeBucket": "code-bucket", "CodeKey": "lambda/new.zip", "RetainData": "false",
        "AuthMode": "NONE"}
    assert parameters_sent(deploy.Config(env="prod"), None)["RetainData"] == "true"


def test_an_update_keeps_every_parameter_not_given_retain_data_included():
    current = {name: "previous" for name in DECLARED} | {"EnvironmentSuffix": "prod", "RetainData": "true"}
    sent = parameters_sent(deploy.Config(env="prod", parameters={"ThrottlingRateLimit": "7"}), current)
    assert sent == {name: "(kept)" for name in DECLARED} | {
        "EnvironmentSuffix": "prod", "CodeBucket": "code-bucket", "CodeKey": "lambda/new.zip",
        "ThrottlingRateLimit": "7"}
    assert parameters_sent(deploy.Config(env="prod", parameters={"RetainData": "false"}), current)["RetainData"] \
        == "false"


def test_an_update_keeps_only_what_both_the_stack_and_the_template_have():
    current = {"EnvironmentSuffix": "dev", "CodeBucket": "b", "CodeKey": "k", "AuthMode": "COGNITO",
               "RemovedFromTheTemplate": "x"}
    sent = parameters_sent(deploy.Config(env="dev"), current)
    assert sent["AuthMode"] == "(kept)"
    assert "RemovedFromTheTemplate" not in sent  # CloudFormation refuses a parameter the template lacks
    assert "AlarmEmail" not in sent  # new to the stack: it takes its default


def test_an_update_with_another_env_is_refused_as_it_would_replace_every_resource():
    with pytest.raises(deploy.DeployError, match=r"EnvironmentSuffix=prod; ENV=dev would rename"):
        parameters_sent(deploy.Config(env="dev"), {"EnvironmentSuffix": "prod", "RetainData": "true"})


def test_the_pruned_zip_still_formats_every_message_and_checks_addresses_with_only_its_own_files(tmp_path):
    """Babel's locale data is cut to the message locales and phonenumbers' geodata dropped: from the extracted
    zip alone (no site-packages), every kind formats in every locale, addresses still validate, and the manage
    page renders with the zip's Jinja2 and its template."""
    archive = zipfile.ZipFile(package.build(tmp_path / "lambda.zip").path)
    names = set(archive.namelist())
    assert {n for n in names if n.startswith("babel/locale-data/")} == {
        f"babel/locale-data/{locale}.dat" for locale in ("root", "en", "de", "fr", "es")}
    assert not any(n.startswith(("phonenumbers/geodata/", "phonenumbers/carrierdata/")) for n in names)
    code = tmp_path / "task"
    archive.extractall(code)
    check = """
import babel, phonenumbers, email_validator
from datetime import datetime, UTC
from appointments.appointment import Appointment
from appointments.contacts import Contact, parse_contact
from appointments.messages import compose
from appointments.times import Interval
for module in (babel, phonenumbers, email_validator):
    assert module.__file__.startswith(TASK), module.__file__
when = Interval(datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 10, tzinfo=UTC))
appointment = Appointment("a1", "alice", when, time_zone="Europe/Berlin", details={"title": "Check-up"})
for locale in ("en", "de", "fr", "es", "pt-BR"):
    for kind, extra in (("confirmation", {}), ("rescheduled", {"previous": when}), ("cancelled", {}),
                        ("reminder", {"minutes_before": 60})):
        print(compose(kind, appointment, Contact(locale=locale), "Clinic", **extra).subject)
import jinja2, markupsafe
from appointments.manage import ManageView
from appointments.manage_page import render
for module in (jinja2, markupsafe):
    assert module.__file__.startswith(TASK), module.__file__
page = render(ManageView(appointment, "alice", Contact(locale="de"), (when,), datetime(2026, 11, 25, tzinfo=UTC)),
              action="t/")
assert '<html lang="de">' in page and 'name="startTime"' in page, page
print(parse_contact({"email": "a@example.com", "phone": "+4915112345678", "channels": ["email", "sms"]},
                    datetime.now(UTC)).phone)
"""
    result = subprocess.run([sys.executable, "-S", "-c", f"TASK = {str(code)!r}\n{check}"], capture_output=True,
                            text=True, timeout=120, env={"PYTHONPATH": str(code), "PATH": os.environ["PATH"]})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Clinic: Check-up am Dienstag, 1. Dezember 2026 bestätigt" in lines
    assert "Clinic : Check-up dans 1\xa0heure" in lines
    assert lines[-1] == "+4915112345678"
