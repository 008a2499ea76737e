"""template.json is code: its wiring, IAM and outputs are tested here (STYLE.md §6)."""

from __future__ import annotations

import importlib
import json
import re

import pytest

from appointments.settings import (
    ApiSettings,
    NotifierSettings,
    PublisherSettings,
    SchedulerSettings,
    SenderSettings,
)
from conftest import ROOT, TEMPLATE
from proxy_events import routes_from_template

MANAGE_ROUTES = {("GET", "/manage/{token}"), ("POST", "/manage/{token}/cancel"), ("POST", "/manage/{token}/reschedule")}

RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::Lambda::Function"}
SETTINGS = {"ConflictDetectorFunction": ApiSettings, "ReminderSenderFunction": SenderSettings,
            "ReminderSchedulerFunction": SchedulerSettings, "EventPublisherFunction": PublisherSettings,
            "NotifierFunction": NotifierSettings}
SEED_LOGICAL_IDS = ["AppointmentsTable", "NotificationTopic", "ConflictDetectorRole", "ReminderSenderRole",
                    "ConflictDetectorFunction", "ReminderSenderFunction", "ReminderSenderPermission",
                    "AppointmentApi", "AppointmentResource", "AppointmentMethod", "ApiGatewayInvokePermission",
                    "ApiDeployment", "BookingMetricFilter", "BookingSuccessAlarm"]


def test_the_deployment_waits_for_every_method():
    """For every route's method by DependsOn; for the CORS preflights, which exist only with origins, by
    a Ref inside Fn::If (DependsOn cannot name a resource that may not exist)."""
    methods = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::ApiGateway::Method"}
    preflights = {name for name in methods if "Condition" in RESOURCES[name]}
    assert set(RESOURCES["ApiDeployment"]["DependsOn"]) == methods - preflights
    described = RESOURCES["ApiDeployment"]["Properties"]["Description"]["Fn::If"][1]["Fn::Join"][1]
    assert {part["Ref"] for part in described if isinstance(part, dict)} == preflights


def statements(role: str) -> list[dict]:
    return [s for p in RESOURCES[role]["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_the_seed_logical_ids_parameter_and_outputs_are_kept():
    assert set(SEED_LOGICAL_IDS) <= set(RESOURCES)
    assert TEMPLATE["Parameters"]["EnvironmentSuffix"]["Default"] == "dev"
    assert {"ApiEndpoint", "AppointmentsTableName", "NotificationTopicArn"} <= set(TEMPLATE["Outputs"])


def test_seed_resource_names_are_kept():
    names = {"AppointmentsTable": "AppointmentsTable-${EnvironmentSuffix}",
             "NotificationTopic": "AppointmentNotifications-${EnvironmentSuffix}",
             "ConflictDetectorFunction": "ConflictDetector-${EnvironmentSuffix}",
             "ReminderSenderFunction": "ReminderSender-${EnvironmentSuffix}"}
    for logical_id, name in names.items():
        props = RESOURCES[logical_id]["Properties"]
        assert (props.get("TableName") or props.get("TopicName") or props.get("FunctionName")) == {"Fn::Sub": name}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_handler_string_resolves_to_a_callable(name):
    module_name, attribute = FUNCTIONS[name]["Handler"].rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module_name), attribute))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_run_python313_from_the_s3_code_parameters(name):
    props = FUNCTIONS[name]
    assert props["Runtime"] == "python3.13"
    assert props["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_environment_variable_the_code_reads_is_set(name):
    variables = FUNCTIONS[name]["Environment"]["Variables"]
    assert set(SETTINGS[name].variables()) <= set(variables)
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(variables)


def test_every_function_is_tested_for_its_settings():
    assert set(SETTINGS) == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_logs_to_its_own_log_group_with_retention(name):
    group = RESOURCES[FUNCTIONS[name]["LoggingConfig"]["LogGroup"]["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    expected = FUNCTIONS[name]["FunctionName"]["Fn::Sub"]
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{expected}"}


def test_the_metric_filter_reads_a_log_group_the_template_creates_and_matches_real_log_lines():
    props = RESOURCES["BookingMetricFilter"]["Properties"]
    assert props["LogGroupName"] == {"Ref": "ConflictDetectorLogGroup"}  # so the group exists first
    # Powertools writes JSON lines with a "level" key; the filter selects ERROR ones.
    assert props["FilterPattern"] == '{ $.level = "ERROR" }'


def test_the_success_rate_alarm_divides_successes_by_attempts_and_has_actions():
    props = RESOURCES["BookingSuccessAlarm"]["Properties"]
    metrics = {m["Id"]: m for m in props["Metrics"]}
    assert metrics["attempts"]["MetricStat"]["Metric"]["MetricName"] == "BookingAttempts"
    assert metrics["successes"]["MetricStat"]["Metric"]["MetricName"] == "BookingSuccess"
    assert "100 * FILL(successes, 0) / attempts" in metrics["successRate"]["Expression"]
    assert (props["Threshold"], props["ComparisonOperator"]) == (90, "LessThanThreshold")
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_every_api_md_route_is_wired_to_the_booking_function_with_iam_auth():
    routes = {(r.method, r.resource) for r in routes_from_template(TEMPLATE)}  # without CORS preflights
    assert routes == {("POST", "/appointments"), ("GET", "/appointments"), ("GET", "/appointments/{appointmentId}"),
                      ("PATCH", "/appointments/{appointmentId}"), ("DELETE", "/appointments/{appointmentId}"),
                      ("GET", "/users/{userId}/busy"), ("GET", "/calendars/{calendarId}/busy"),
                      ("GET", "/calendars/{calendarId}/appointments"), ("GET", "/calendars/{calendarId}/slots"),
                      ("GET", "/slots"), ("POST", "/series"), ("GET", "/series/{seriesId}"),
                      ("DELETE", "/series/{seriesId}"), ("POST", "/appointments/{appointmentId}/confirm"),
                      *((method, "/appointments/{appointmentId}/outcome") for method in ("PUT", "DELETE")),
                      *((method, "/calendars/{calendarId}/availability") for method in ("PUT", "GET", "DELETE")),
                      *((method, "/calendars/{calendarId}/contact") for method in ("PUT", "GET", "DELETE")),
                      *MANAGE_ROUTES}
    methods = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::ApiGateway::Method"
               and r["Properties"]["HttpMethod"] != "OPTIONS"]
    for method in methods:
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert "${ConflictDetectorFunction.Arn}" in method["Integration"]["Uri"]["Fn::Sub"]


def test_the_stage_deploys_in_a_fresh_account():
    stage = RESOURCES["ApiDeployment"]["Properties"]["StageDescription"]
    # Execution logging needs an account-level CloudWatch role; it is off unless asked for.
    assert stage["LoggingLevel"] == {"Ref": "ApiLoggingLevel"}
    assert TEMPLATE["Parameters"]["ApiLoggingLevel"]["Default"] == "OFF"
    assert stage["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert TEMPLATE["Parameters"]["ThrottlingBurstLimit"]["Default"] == 100
    assert TEMPLATE["Parameters"]["ThrottlingRateLimit"]["Default"] == 50


def test_reserved_concurrency_is_opt_in():
    value = FUNCTIONS["ConflictDetectorFunction"]["ReservedConcurrentExecutions"]
    assert value == {"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    assert TEMPLATE["Parameters"]["ReservedConcurrency"]["Default"] == -1


def rules_refusing(parameters: dict[str, str]) -> list[str]:
    """The AssertDescription of every template rule these parameter values break, evaluated as CloudFormation
    does before it changes anything (parameter values are strings there); defaults fill what is not given."""
    values = {name: str(p.get("Default", "")) for name, p in TEMPLATE["Parameters"].items()} | parameters

    def evaluate(expression):
        if not isinstance(expression, dict):
            return expression
        [(function, arguments)] = expression.items()
        if function == "Ref":
            return values[arguments]
        arguments = [evaluate(a) for a in arguments]
        operations = {"Fn::Equals": lambda a, b: str(a) == str(b), "Fn::Not": lambda a: not a,
                      "Fn::And": lambda *a: all(a), "Fn::Or": lambda *a: any(a), "Fn::Contains": lambda a, b: b in a}
        return operations[function](*arguments)  # any other function: KeyError, not a silent pass

    return [assertion["AssertDescription"] for rule in TEMPLATE["Rules"].values()
            if evaluate(rule.get("RuleCondition", True)) for assertion in rule["Assertions"]
            if not evaluate(assertion["Assert"])]


def test_reserved_concurrency_zero_is_refused_as_it_would_turn_the_api_off():
    [refusal] = rules_refusing({"ReservedConcurrency": "0"})
    assert "turn the API off" in refusal
    assert "put-function-concurrency" in refusal  # the deliberate kill switch, kept out of the stack's parameters
    assert rules_refusing({"ReservedConcurrency": "-1"}) == rules_refusing({"ReservedConcurrency": "20"}) == []
    assert "0 is refused" in TEMPLATE["Parameters"]["ReservedConcurrency"]["Description"]


def test_cognito_needs_a_user_pool():
    assert rules_refusing({"AuthMode": "COGNITO"}) == ["AuthMode COGNITO needs UserPoolArn"]
    assert rules_refusing({"AuthMode": "COGNITO", "UserPoolArn": "arn:aws:cognito-idp:x"}) == []


def test_no_eventbridge_rule_permissions_remain():
    text = json.dumps(TEMPLATE)
    assert not re.search(r'"events:[A-Za-z]*Rule', text)
    assert "events:PutTargets" not in text


# Actions that AWS authorises only on "*": a narrower resource is silently never matched. sns:Publish to a
# phone number (SMS) names no resource; to a topic it does, and those grants name the topic.
ACTIONS_ONLY_ON_EVERY_RESOURCE = {"dynamodb:ListStreams", "sns:Publish"}


def test_no_policy_statement_allows_every_resource_unless_aws_requires_it():
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::IAM::Role":
            for statement in statements(name):
                if "*" in as_list(statement["Resource"]):
                    assert set(as_list(statement["Action"])) <= ACTIONS_ONLY_ON_EVERY_RESOURCE, (name, statement)
                assert not any(a.endswith(":*") or a == "*" for a in as_list(statement["Action"])), (name, statement)


def test_list_streams_is_granted_on_every_resource_as_aws_requires():
    [statement] = [s for s in statements("ReminderSchedulerRole") if "dynamodb:ListStreams" in s["Action"]]
    assert statement["Resource"] == "*"
    assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}}


LONGEST_REGION = "ap-southeast-7"  # 14 characters, the longest region name so far


@pytest.mark.parametrize("name", sorted(n for n, r in RESOURCES.items() if r["Type"] == "AWS::IAM::Role"))
def test_role_names_carry_the_region_and_fit_in_64_characters(name):
    role_name = RESOURCES[name]["Properties"]["RoleName"]["Fn::Sub"]
    assert role_name.endswith("-${EnvironmentSuffix}-${AWS::Region}")  # one environment in two regions
    longest = TEMPLATE["Parameters"]["EnvironmentSuffix"]["MaxLength"]
    resolved = role_name.replace("${EnvironmentSuffix}", "x" * longest).replace("${AWS::Region}", LONGEST_REGION)
    assert len(resolved) <= 64, resolved


def test_named_resources_fit_their_service_limits_at_the_longest_suffix():
    limits = {"FunctionName": 64, "TableName": 255, "TopicName": 256, "QueueName": 80, "Name": 64}
    longest = "x" * TEMPLATE["Parameters"]["EnvironmentSuffix"]["MaxLength"]
    for name, resource in RESOURCES.items():
        for prop, limit in limits.items():
            value = resource["Properties"].get(prop)
            if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
                resolved = value["Fn::Sub"].replace("${EnvironmentSuffix}", longest)
                assert len(resolved) <= limit, (name, resolved)


def test_the_booking_function_may_only_touch_its_two_tables_and_read_its_signing_key():
    resources = [r for s in statements("ConflictDetectorRole") for r in as_list(s["Resource"])]
    assert {"Fn::GetAtt": ["AppointmentsTable", "Arn"]} in resources
    assert {"Fn::GetAtt": ["CalendarTable", "Arn"]} in resources
    actions = {a for s in statements("ConflictDetectorRole") for a in as_list(s["Action"])}
    assert {a for a in actions if not a.startswith("dynamodb:")} == {"secretsmanager:GetSecretValue"}
    [secret] = [s for s in statements("ConflictDetectorRole") if "secretsmanager:GetSecretValue" in s["Action"]]
    assert (secret["Action"], secret["Resource"]) == (["secretsmanager:GetSecretValue"], {"Ref": "SigningKey"})
    assert "dynamodb:Scan" not in actions


def test_scheduler_permissions_are_scoped_to_the_group_and_pass_role_to_the_invoke_role():
    by_action = {a: s for s in statements("ReminderSchedulerRole") for a in as_list(s["Action"])}
    group_schedules = ":schedule/AppointmentReminders-${EnvironmentSuffix}/*"
    for action in ("scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:UpdateSchedule"):
        assert by_action[action]["Resource"]["Fn::Sub"].endswith(group_schedules)
    pass_role = by_action["iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": ["SchedulerInvokeRole", "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def test_the_scheduler_invoke_role_may_only_invoke_the_sender_and_feed_the_dlq():
    trust = RESOURCES["SchedulerInvokeRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    granted = {(a, json.dumps(s["Resource"])) for s in statements("SchedulerInvokeRole") for a in as_list(s["Action"])}
    assert granted == {("lambda:InvokeFunction", json.dumps({"Fn::GetAtt": ["ReminderSenderFunction", "Arn"]})),
                       ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["ReminderDeadLetterQueue", "Arn"]}))}


STREAM_CONSUMERS = {"ReminderSchedulerStreamMapping": ("ReminderSchedulerFunction", "ReminderDeadLetterQueue"),
                    "EventPublisherStreamMapping": ("EventPublisherFunction", "AppointmentEventDeadLetterQueue")}


@pytest.mark.parametrize("mapping", sorted(STREAM_CONSUMERS))
def test_each_stream_mapping_retries_finitely_bisects_and_keeps_failures_in_its_own_queue(mapping):
    function, queue = STREAM_CONSUMERS[mapping]
    props = RESOURCES[mapping]["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["AppointmentsTable", "StreamArn"]}
    assert props["FunctionName"] == {"Ref": function}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 < props["MaximumRetryAttempts"] <= 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert props.get("ParallelizationFactor", 1) == 1
    stream = RESOURCES["AppointmentsTable"]["Properties"]["StreamSpecification"]
    assert stream == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_event_publisher_may_read_the_stream_put_events_on_its_bus_and_feed_its_dlq_only():
    granted = {(a, json.dumps(s["Resource"])) for s in statements("EventPublisherRole") for a in as_list(s["Action"])}
    stream = json.dumps({"Fn::GetAtt": ["AppointmentsTable", "StreamArn"]})
    assert granted == {("dynamodb:DescribeStream", stream), ("dynamodb:GetRecords", stream),
                       ("dynamodb:GetShardIterator", stream), ("dynamodb:ListStreams", '"*"'),
                       ("events:PutEvents", json.dumps({"Fn::GetAtt": ["AppointmentEventBus", "Arn"]})),
                       ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["AppointmentEventDeadLetterQueue", "Arn"]}))}
    # GetAtt Name, not Ref: both give the name on AWS, but moto's Ref gives an object it cannot serialise.
    bus_name = {"Fn::GetAtt": ["AppointmentEventBus", "Name"]}
    assert FUNCTIONS["EventPublisherFunction"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == bus_name
    assert TEMPLATE["Outputs"]["AppointmentEventBusName"]["Value"] == bus_name


def test_the_sender_retries_then_dead_letters():
    config = RESOURCES["ReminderSenderInvokeConfig"]["Properties"]
    assert config["FunctionName"] == {"Ref": "ReminderSenderFunction"}
    assert config["MaximumRetryAttempts"] == 2
    assert FUNCTIONS["ReminderSenderFunction"]["DeadLetterConfig"]["TargetArn"] == {
        "Fn::GetAtt": ["ReminderDeadLetterQueue", "Arn"]}


def test_the_schedule_group_name_matches_what_the_scheduler_function_is_told():
    group = RESOURCES["ReminderScheduleGroup"]["Properties"]["Name"]
    variables = FUNCTIONS["ReminderSchedulerFunction"]["Environment"]["Variables"]
    assert variables["SCHEDULE_GROUP"] == group
    assert "ReminderScheduleGroup" in RESOURCES["ReminderSchedulerFunction"]["DependsOn"]


def test_calendar_table_is_keyed_by_user_and_day_with_ttl():
    props = RESOURCES["CalendarTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "userId", "KeyType": "HASH"},
                                  {"AttributeName": "day", "KeyType": "RANGE"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


@pytest.mark.parametrize("table", ["AppointmentsTable", "CalendarTable"])
def test_tables_have_point_in_time_recovery_and_encryption(table):
    props = RESOURCES[table]["Properties"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


# -- security checks that checkov only has for Terraform ------------------------------------------------

# Every route's method; CORS preflights answer without authorization (tests/test_cors.py), and so do the manage
# links, whose token is the credential (API.md, "Manage links").
MANAGE_METHODS = ("ManageGetMethod", "ManageCancelMethod", "ManageRescheduleMethod")
METHODS = {n: r["Properties"] for n, r in RESOURCES.items() if r["Type"] == "AWS::ApiGateway::Method"
           and r["Properties"]["HttpMethod"] != "OPTIONS" and n not in MANAGE_METHODS}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_is_authorized_by_auth_mode_with_iam_by_default(name):
    method = METHODS[name]
    assert method["AuthorizationType"] == {"Fn::If": ["UseCognito", "COGNITO_USER_POOLS", {"Ref": "AuthMode"}]}
    assert method["AuthorizerId"] == {"Fn::If": ["UseCognito", {"Ref": "CognitoAuthorizer"}, {"Ref": "AWS::NoValue"}]}
    assert TEMPLATE["Parameters"]["AuthMode"]["Default"] == "AWS_IAM"
    assert set(TEMPLATE["Parameters"]["AuthMode"]["AllowedValues"]) == {"AWS_IAM", "COGNITO", "NONE"}


@pytest.mark.parametrize("name", MANAGE_METHODS)
def test_manage_routes_have_no_authorizer_and_say_why_to_checkov(name):
    method = RESOURCES[name]
    assert method["Properties"]["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in method["Properties"]
    (skip,) = method["Metadata"]["checkov"]["skip"]
    assert skip["id"] == "CKV_AWS_59"
    assert "token" in skip["comment"]


def test_manage_routes_have_their_own_stage_throttling_below_the_stages():
    stage = RESOURCES["ApiDeployment"]["Properties"]["StageDescription"]
    settings = {(s["HttpMethod"], s["ResourcePath"][1:].replace("~1", "/")): s for s in stage["MethodSettings"]}
    assert set(settings) == set(MANAGE_ROUTES)
    for setting in settings.values():
        assert setting["ThrottlingBurstLimit"] == {"Ref": "ManageThrottlingBurstLimit"}
        assert setting["ThrottlingRateLimit"] == {"Ref": "ManageThrottlingRateLimit"}
    parameters = TEMPLATE["Parameters"]
    assert parameters["ManageThrottlingRateLimit"]["Default"] < parameters["ThrottlingRateLimit"]["Default"]
    assert parameters["ManageThrottlingBurstLimit"]["Default"] < parameters["ThrottlingBurstLimit"]["Default"]


def test_manage_links_start_with_the_manage_base_url_output():
    base = TEMPLATE["Outputs"]["ManageBaseUrl"]["Value"]
    assert base == TEMPLATE["Outputs"]["ApiEndpoint"]["Value"]
    for function in ("ReminderSenderFunction", "ReminderSchedulerFunction", "NotifierFunction"):
        variables = RESOURCES[function]["Properties"]["Environment"]["Variables"]
        assert variables["MANAGE_BASE_URL"] == base
        assert variables["SIGNING_KEY_ARN"] == {"Ref": "SigningKey"}


def test_the_cognito_authorizer_uses_the_user_pool_parameter():
    authorizer = RESOURCES["CognitoAuthorizer"]
    assert authorizer["Condition"] == "UseCognito"
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["ProviderARNs"] == [{"Ref": "UserPoolArn"}]
    assert TEMPLATE["Rules"]["CognitoNeedsAUserPool"]["RuleCondition"] == {"Fn::Equals": [{"Ref": "AuthMode"},
                                                                                        "COGNITO"]}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_trace_with_xray(name):
    assert FUNCTIONS[name]["TracingConfig"] == {"Mode": "Active"}
    role = RESOURCES[FUNCTIONS[name]["Role"]["Fn::GetAtt"][0]]["Properties"]
    assert {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"} in role["ManagedPolicyArns"]


def test_the_stage_traces_with_xray():
    assert RESOURCES["ApiDeployment"]["Properties"]["StageDescription"]["TracingEnabled"] is True


def test_a_wildcard_resource_appears_only_in_key_policies_and_is_scoped_there():
    for name, resource in RESOURCES.items():
        documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        if resource["Type"] == "AWS::KMS::Key":
            for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
                # In a key policy "*" means "this key"; a service principal must also be conditioned.
                if "Service" in statement["Principal"]:
                    assert "Condition" in statement, (name, statement)
            continue
        for document in documents:
            for statement in document["Statement"]:
                assert "*" not in as_list(statement["Resource"]) or "Condition" in statement, (name, statement)


def test_no_secrets_in_environment_variables():
    for name, props in FUNCTIONS.items():
        for variable in props["Environment"]["Variables"]:
            assert not re.search(r"SECRET|PASSWORD|TOKEN|PRIVATE", variable), (name, variable)


def test_tables_are_retained_unless_retain_data_is_false_but_never_after_a_failed_create():
    for table in ("AppointmentsTable", "CalendarTable"):
        # Retain would keep a table from a create that rolled back, and the next create would then
        # fail on "already exists"; RetainExceptOnCreate is for exactly that (UpdateReplacePolicy lacks it).
        assert RESOURCES[table]["DeletionPolicy"] == {"Fn::If": ["RetainTables", "RetainExceptOnCreate", "Delete"]}
        assert RESOURCES[table]["UpdateReplacePolicy"] == {"Fn::If": ["RetainTables", "Retain", "Delete"]}
    assert TEMPLATE["Parameters"]["RetainData"]["Default"] == "true"


def test_topics_and_queues_are_encrypted():
    assert RESOURCES["NotificationTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    assert RESOURCES["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    assert RESOURCES["AlarmTopicKey"]["Properties"]["EnableKeyRotation"] is True
    for queue in ("ReminderDeadLetterQueue", "AppointmentEventDeadLetterQueue", "NotificationDeadLetterQueue"):
        assert RESOURCES[queue]["Properties"]["SqsManagedSseEnabled"] is True


# -- alarms ------------------------------------------------------------------------------------------------

ALARMS = {n: r["Properties"] for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
SERVICE_METRICS = {"AWS/Lambda": {"Errors", "Throttles", "IteratorAge"},
                   "AWS/SQS": {"ApproximateNumberOfMessagesVisible"}}


def alarm_metrics(props: dict) -> list[tuple[str, str]]:
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"])]
    return [(m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
            for m in props["Metrics"] if "MetricStat" in m]


def test_the_expected_alarms_exist():
    assert set(ALARMS) == {"BookingSuccessAlarm", "ConflictDetectorFailureAlarm", "ReminderSchedulerFailureAlarm",
                           "ReminderSenderFailureAlarm", "ReminderDeadLetterAlarm", "ReminderStreamAgeAlarm",
                           "EventPublisherFailureAlarm", "EventDeadLetterAlarm", "EventStreamAgeAlarm",
                           "NotifierFailureAlarm", "NotificationDeadLetterAlarm"}


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_every_alarm_notifies_the_alarm_topic(name):
    assert ALARMS[name]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert RESOURCES["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_every_alarm_watches_a_metric_that_is_really_emitted(name):
    emitted = "".join((ROOT / "src" / f).read_text() for f in ("conflict_detector.py", "reminder_sender.py",
                                                                 "event_publisher.py", "notifier.py"))
    for namespace, metric in alarm_metrics(ALARMS[name]):
        if namespace == "AppointmentScheduler":
            assert f'name="{metric}"' in emitted, metric
        else:
            assert metric in SERVICE_METRICS[namespace], (namespace, metric)


def test_failure_alarms_watch_their_own_function():
    for fn in ("ConflictDetector", "ReminderScheduler", "ReminderSender", "EventPublisher", "Notifier"):
        for metric in ALARMS[f"{fn}FailureAlarm"]["Metrics"]:
            if "MetricStat" in metric and metric["MetricStat"]["Metric"]["Namespace"] == "AWS/Lambda":
                assert metric["MetricStat"]["Metric"]["Dimensions"] == [
                    {"Name": "FunctionName", "Value": {"Ref": f"{fn}Function"}}]
