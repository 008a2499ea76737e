"""Deploy or destroy the stack with boto3: ``deploy.py deploy`` / ``deploy.py destroy``.

Configuration comes from the environment, so ``make deploy`` and the local emulator share it:

  STACK_NAME        default appointment-scheduler-$ENV
  ENV               EnvironmentSuffix, default dev
  REGION            default $AWS_REGION, else us-east-1
  CODE_BUCKET       artifacts bucket, default appointment-scheduler-artifacts-<account>-<region>
  PARAMETERS        template parameters, "Key=Value Key=Value". On create, the others take their
                    template defaults, and RetainData is true only for ENV=prod (so `make destroy`
                    removes a dev stack's tables). On update, every parameter not given keeps the
                    stack's value (UsePreviousValue), RetainData included: a redeploy never resets
                    AuthMode, an alarm e-mail or a prod stack's RetainData.
  AWS_ENDPOINT_URL  honoured by boto3 itself; point it at a moto server to deploy locally

Deploy builds the zip (scripts/package.py), creates the bucket if needed, uploads the zip and the
template under their content hashes, then runs create_stack or update_stack with the template's S3
URL (a TemplateBody is limited to 51,200 bytes, a TemplateURL to 1 MB) and prints stack events until
it settles. After an update it publishes a new API deployment to stage prod, because a stage keeps
serving the snapshot it was given until then. "No updates are to be performed" is a success. Every
failure exits non-zero with a reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import package

TEMPLATE = Path(__file__).resolve().parent.parent / "template.json"
TEMPLATE_URL_LIMIT = 1024 * 1024  # CloudFormation's limit for a template read from S3
STAGE = "prod"
SETTLED = ("_COMPLETE", "_FAILED")
FAILED_STATES = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
                 "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_FAILED"}


class DeployError(Exception):
    """A failure with a message a person can act on."""


@dataclass
class Config:
    env: str = "dev"
    region: str = "us-east-1"
    stack_name: str = ""
    code_bucket: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    poll_seconds: float = 5.0

    @classmethod
    def from_environment(cls, environ: os._Environ | dict = os.environ) -> Config:
        env = environ.get("ENV", "dev")
        extra = dict(pair.split("=", 1) for pair in environ.get("PARAMETERS", "").split() if "=" in pair)
        return cls(
            env=env,
            region=environ.get("REGION") or environ.get("AWS_REGION") or "us-east-1",
            stack_name=environ.get("STACK_NAME") or f"appointment-scheduler-{env}",
            code_bucket=environ.get("CODE_BUCKET", ""),
            parameters=extra,
            poll_seconds=float(environ.get("POLL_SECONDS", "5")),
        )


class Deployer:
    def __init__(self, config: Config, session: boto3.Session | None = None, out=print):
        self.config = config
        session = session or boto3.Session(region_name=config.region)
        self.s3 = session.client("s3")
        self.cfn = session.client("cloudformation")
        self.apigateway = session.client("apigateway")
        self.sts = session.client("sts")
        self.out = out

    # -- artifacts ---------------------------------------------------------------------------
    def bucket_name(self) -> str:
        if self.config.code_bucket:
            return self.config.code_bucket
        account = self.sts.get_caller_identity()["Account"]
        return f"appointment-scheduler-artifacts-{account}-{self.config.region}"

    def ensure_bucket(self, bucket: str) -> None:
        try:
            self.s3.head_bucket(Bucket=bucket)
            return
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in ("403", "AccessDenied", "Forbidden"):
                raise DeployError(
                    f"bucket {bucket} exists but these credentials may not use it (403). Grant "
                    "s3:ListBucket, s3:GetObject and s3:PutObject on it, or set CODE_BUCKET to a "
                    "bucket you own.") from error
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise
        self.out(f"creating artifacts bucket {bucket}")
        try:
            if self.config.region == "us-east-1":
                self.s3.create_bucket(Bucket=bucket)
            else:
                self.s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.config.region})
            self.s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        except ClientError as error:
            raise DeployError(
                f"cannot create artifacts bucket {bucket}: {error.response['Error']['Message']}. "
                "Grant s3:CreateBucket and s3:PutBucketPublicAccessBlock, or set CODE_BUCKET.") from error

    def upload(self, path: Path, bucket: str, key: str, what: str = "code") -> None:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            self.out(f"{what} s3://{bucket}/{key} already uploaded")
            return
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                raise DeployError(f"cannot read s3://{bucket}/{key}: {error}") from error
        self.out(f"uploading {path.stat().st_size} bytes to s3://{bucket}/{key}")
        try:
            self.s3.upload_file(str(path), bucket, key)
        except (ClientError, boto3.exceptions.S3UploadFailedError) as error:
            raise DeployError(f"cannot upload to s3://{bucket}: {error}. Grant s3:PutObject on it.") from error

    def upload_template(self, bucket: str) -> str:
        """Upload template.json under its content hash; return the URL CloudFormation reads it from."""
        data = TEMPLATE.read_bytes()
        if len(data) > TEMPLATE_URL_LIMIT:
            raise DeployError(f"template.json is {len(data)} bytes; CloudFormation reads at most "
                              f"{TEMPLATE_URL_LIMIT} from S3. Split it into nested stacks.")
        key = f"templates/template-{hashlib.sha256(data).hexdigest()}.json"
        self.upload(TEMPLATE, bucket, key, what="template")
        return template_url(bucket, self.config.region, key)

    # -- stack -------------------------------------------------------------------------------
    def stack_status(self) -> str | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=self.config.stack_name)["Stacks"]
        except ClientError as error:
            if "does not exist" in error.response["Error"]["Message"]:
                return None
            raise
        return stacks[0]["StackStatus"]

    def deploy(self) -> dict[str, str]:
        built = package.build()
        bucket = self.bucket_name()
        self.ensure_bucket(bucket)
        self.upload(built.path, bucket, built.s3_key)
        url = self.upload_template(bucket)
        status = self.stack_status()
        if status == "ROLLBACK_COMPLETE":
            raise DeployError(f"stack {self.config.stack_name} is in ROLLBACK_COMPLETE from a failed "
                              "create; run `make destroy` and deploy again.")
        current = None if status is None else self.current_parameters()
        request = {
            "StackName": self.config.stack_name,
            "TemplateURL": url,
            "Parameters": self.parameters(bucket, built.s3_key, current),
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
        }
        since = time.time() - 1
        if status is None:
            self.out(f"creating stack {self.config.stack_name}")
            self.cfn.create_stack(**request, OnFailure="ROLLBACK")
        elif self.is_unchanged(request, current):
            self.out("no changes: the stack is up to date")
            return self.outputs()
        else:
            self.out(f"updating stack {self.config.stack_name} ({status})")
            try:
                self.cfn.update_stack(**request)
            except ClientError as error:
                if "No updates are to be performed" in error.response["Error"]["Message"]:
                    self.out("no changes: the stack is up to date")
                    return self.outputs()
                raise
        final = self.wait(since)
        if final not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise DeployError(f"stack {self.config.stack_name} ended in {final}. {self.failure_reasons()}")
        if final == "UPDATE_COMPLETE":
            self.publish_api()
        return self.outputs()

    def publish_api(self) -> str:
        """Point stage prod at a new snapshot of the API, so an update's methods and authorization take effect.

        An AWS::ApiGateway::Deployment is made once, at create time; without this step a changed
        AuthMode or a new route would be stored but never served.
        """
        deployment = self.apigateway.create_deployment(
            restApiId=self.outputs()["ApiId"], stageName=STAGE,
            description=f"stack update at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        self.out(f"published API deployment {deployment['id']} to stage {STAGE}")
        return deployment["id"]

    def current_parameters(self) -> dict[str, str]:
        stack = self.cfn.describe_stacks(StackName=self.config.stack_name)["Stacks"][0]
        return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}

    def parameters(self, bucket: str, code_key: str, current: dict[str, str] | None) -> list[dict]:
        """The stack's parameters: for a create (``current`` None) the values given, the others taking their
        template defaults; for an update the values given and, for every other parameter the stack has, its
        current value (UsePreviousValue). Without that, CloudFormation would reset each parameter left out
        to its default: a plain redeploy would turn AuthMode=COGNITO back into AWS_IAM.

        RetainData is computed from ENV at create time only. An update keeps the stack's value unless
        PARAMETERS names it, so a prod stack never loses its tables' protection by a deploy with another
        ENV, and a dev stack someone chose to retain stays retained.
        """
        given = {"EnvironmentSuffix": self.config.env, "CodeBucket": bucket, "CodeKey": code_key}
        if current is None:
            # Production keeps its tables when the stack goes; other stacks clean up fully.
            given["RetainData"] = "true" if self.config.env == "prod" else "false"
        given |= self.config.parameters
        if current is None:
            return [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
        suffix = current.get("EnvironmentSuffix")
        if suffix is not None and suffix != given["EnvironmentSuffix"]:
            raise DeployError(
                f"stack {self.config.stack_name} was deployed with EnvironmentSuffix={suffix}; ENV="
                f"{given['EnvironmentSuffix']} would rename, and so replace, every resource, its tables included. "
                f"Deploy it with ENV={suffix}, or choose another STACK_NAME for a new stack.")
        # Only parameters the new template declares: CloudFormation refuses others. A parameter new to the
        # template is not in the stack yet, so it takes its default.
        declared = json.loads(TEMPLATE.read_text()).get("Parameters", {})
        kept = [k for k in declared if k in current and k not in given]
        return ([{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
                + [{"ParameterKey": k, "UsePreviousValue": True} for k in kept])

    def is_unchanged(self, request: dict, current: dict[str, str]) -> bool:
        """True when the stack already runs this template with these parameters.

        CloudFormation answers "No updates are to be performed" itself, but moto does not, so the
        comparison is made here and an unchanged deploy costs no update on either. A parameter kept with
        UsePreviousValue is the stack's current value, so only the values given are compared.
        """
        name = self.config.stack_name
        deployed = self.cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
        proposed = TEMPLATE.read_text()
        if isinstance(deployed, dict):  # boto3 decodes JSON template bodies
            deployed = json.dumps(deployed, sort_keys=True)
            proposed = json.dumps(json.loads(proposed), sort_keys=True)
        given = {p["ParameterKey"]: p["ParameterValue"] for p in request["Parameters"] if "ParameterValue" in p}
        return deployed == proposed and all(current.get(k) == v for k, v in given.items())

    def destroy(self) -> None:
        if self.stack_status() is None:
            self.out(f"stack {self.config.stack_name} does not exist; nothing to delete")
            return
        since = time.time() - 1
        self.out(f"deleting stack {self.config.stack_name}")
        self.cfn.delete_stack(StackName=self.config.stack_name)
        final = self.wait(since, deleting=True)
        if final not in ("DELETE_COMPLETE", None):
            raise DeployError(f"stack {self.config.stack_name} ended in {final}. {self.failure_reasons()}")

    def wait(self, since: float, deleting: bool = False) -> str | None:
        seen: set[str] = set()
        while True:
            status = self.stack_status()
            self.print_events(since, seen)
            if status is None and deleting:
                return None
            if status and status.endswith(SETTLED) and not status.endswith("_IN_PROGRESS"):
                return status
            time.sleep(self.config.poll_seconds)

    def events(self) -> list[dict]:
        try:
            pages = self.cfn.get_paginator("describe_stack_events").paginate(StackName=self.config.stack_name)
            return [event for page in pages for event in page["StackEvents"]]
        except ClientError:
            return []

    def print_events(self, since: float, seen: set[str]) -> None:
        for event in reversed(self.events()):
            if event["EventId"] in seen or event["Timestamp"].timestamp() < since:
                continue
            seen.add(event["EventId"])
            reason = f"  {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
            self.out(f"  {event['Timestamp']:%H:%M:%S}  {event['ResourceStatus']:<22} "
                     f"{event['LogicalResourceId']}{reason}")

    def failure_reasons(self) -> str:
        reasons = [f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}" for e in self.events()
                   if e["ResourceStatus"].endswith("_FAILED") and e.get("ResourceStatusReason")]
        return ("Failing resources: " + "; ".join(reasons)) if reasons else "No resource gave a reason."

    def outputs(self) -> dict[str, str]:
        stack = self.cfn.describe_stacks(StackName=self.config.stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def template_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def curl_example(outputs: dict[str, str], region: str) -> str:
    endpoint = outputs.get("ApiEndpoint", "https://API_ID.execute-api.REGION.amazonaws.com/prod")
    return (
        f"curl --aws-sigv4 \"aws:amz:{region}:execute-api\" \\\n"
        "  --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" \\\n"
        "  -H \"x-amz-security-token: $AWS_SESSION_TOKEN\" \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -X POST {endpoint}/appointments \\\n"
        "  -d '{\"userId\": \"alice\", \"startTime\": \"2030-01-15T09:00:00Z\", "
        "\"endTime\": \"2030-01-15T10:00:00Z\"}'"
    )


def main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else "deploy"
    if action not in ("deploy", "destroy"):
        print(f"usage: {argv[0]} [deploy|destroy]", file=sys.stderr)
        return 2
    config = Config.from_environment()
    try:
        deployer = Deployer(config)
        if action == "destroy":
            deployer.destroy()
            print(f"stack {config.stack_name} deleted (the artifacts bucket is kept)")
            return 0
        outputs = deployer.deploy()
    except NoCredentialsError:
        print("deploy: no AWS credentials found. Run `aws configure` or `aws sso login`, or export "
              "AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.", file=sys.stderr)
        return 1
    except NoRegionError:
        print("deploy: no region; set REGION or AWS_REGION.", file=sys.stderr)
        return 1
    except DeployError as error:
        print(f"deploy: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"deploy: AWS refused the request: {error}", file=sys.stderr)
        return 1
    print("\nOutputs:")
    for key, value in sorted(outputs.items()):
        print(f"  {key:<28} {value}")
    print("\nTry it (SigV4-signed, as the API uses AWS_IAM authorization):\n")
    print(curl_example(outputs, config.region))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
