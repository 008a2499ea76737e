"""Each function's role grants exactly the AWS calls its code makes: nothing unused, nothing missing.

``CODE_CALLS`` is the one table to keep up to date. Three checks hold it in place:

* the template: each function's role grants exactly the table's actions on the table's resources;
* the code, statically: the DynamoDB, SNS, Scheduler and EventBridge calls reachable from each handler
  (``self.<client>.<operation>(`` and the item kinds of its transactions) are exactly the table's actions;
* the code, running: the booking function's calls, recorded with a botocore event hook while every
  route is used, reach exactly the resources the table names (its role spans two tables and an index).

When code adds or drops a call (say, a tombstone that updates a calendar's rules instead of deleting
them), change this table and the role in template.json together.

Out of scope here: what Lambda and Scheduler do with the function's role on its behalf (dead-letter and
on-failure ``sqs:SendMessage``, ``iam:PassRole``), which tests/test_template.py pins; and reading the
stream, which the event source mapping does, pinned below as ``EVENT_SOURCE_MAPPING_GRANTS``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import pytest

from conftest import ROOT, TEMPLATE, table_name

RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {n: r["Properties"] for n, r in RESOURCES.items() if r["Type"] == "AWS::Lambda::Function"}
SCHEDULES = ("arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/"
             "AppointmentReminders-${EnvironmentSuffix}/*")
USER_INDEX = "AppointmentsTable/index/UserAppointmentsIndex"
SENDER_IDENTITY = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderEmail}"
CONFIGURATION_SET = ("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/"
                     "${EmailConfigurationSet}")
# Messages to people: contacts read (BatchGetItem) and the message ledger written (UpdateItem) in CalendarTable,
# e-mail from the sender identity through the configuration set, and SMS, which SNS authorises only on "*".
# Each message carries its recipient's manage link, keyed with the signing key (read once per cold start).
MESSAGES = {"CalendarTable": {"dynamodb:BatchGetItem", "dynamodb:UpdateItem"},
            SENDER_IDENTITY: {"ses:SendEmail"}, CONFIGURATION_SET: {"ses:SendEmail"}, "*": {"sns:Publish"},
            "SigningKey": {"secretsmanager:GetSecretValue"}}

# What each function's code calls, by the resource it calls it on.
CODE_CALLS: dict[str, dict[str, set[str]]] = {
    "ConflictDetectorFunction": {
        "AppointmentsTable": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        # UpdateItem: rules set, and removed (a tombstone keeps their version; a bucket left empty is kept
        # too, one version on); ConditionCheckItem: unchanged buckets and rules in a transaction; Query: a
        # calendar's buckets over a window (busy, agenda, slots).
        "CalendarTable": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                          "dynamodb:ConditionCheckItem", "dynamodb:Query"},
        USER_INDEX: {"dynamodb:Query"},
        # The key of page tokens and manage links, read once per cold start.
        "SigningKey": {"secretsmanager:GetSecretValue"},
    },
    # Reads the appointment; writes nothing to AppointmentsTable (the ledger is in CalendarTable).
    "ReminderSenderFunction": {
        "AppointmentsTable": {"dynamodb:GetItem"},
        "NotificationTopic": {"sns:Publish"},
        **MESSAGES,
    },
    "ReminderSchedulerFunction": {
        SCHEDULES: {"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"},
        # A reminder due within a minute is delivered at once, as the sender would.
        "AppointmentsTable": {"dynamodb:GetItem"},
        "NotificationTopic": {"sns:Publish"},
        **MESSAGES,
    },
    "EventPublisherFunction": {
        "AppointmentEventBus": {"events:PutEvents"},
    },
    "NotifierFunction": MESSAGES,
}
# What an event source mapping on the table's stream needs from its function's role.
EVENT_SOURCE_MAPPING_GRANTS = {
    "AppointmentsTable.StreamArn": {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"},
    "*": {"dynamodb:ListStreams"},
}
CODE_SERVICES = {"dynamodb", "sns", "scheduler", "events", "ses", "secretsmanager"}


# -- the template ---------------------------------------------------------------------------------------

def resource_name(value) -> str:
    """A policy resource as the table names it: a logical ID, ``ID.Attribute``, or the Fn::Sub text with
    ``${ID.Arn}`` written as ``ID``."""
    if value == "*":
        return value
    if "Ref" in value:
        return value["Ref"]
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return logical_id if attribute == "Arn" else f"{logical_id}.{attribute}"
    text = value["Fn::Sub"]
    for logical_id in RESOURCES:
        text = text.replace(f"${{{logical_id}.Arn}}", logical_id)
    return text


def granted(function: str) -> dict[str, set[str]]:
    """The actions the function's role allows, by resource."""
    role = FUNCTIONS[function]["Role"]["Fn::GetAtt"][0]
    grants: dict[str, set[str]] = {}
    for policy in RESOURCES[role]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                grants.setdefault(resource_name(resource), set()).update(actions)
    return grants


def reads_the_stream(function: str) -> bool:
    return any(r["Type"] == "AWS::Lambda::EventSourceMapping" and r["Properties"]["FunctionName"] == {"Ref": function}
               for r in RESOURCES.values())


def split(grants: dict[str, set[str]], services: set[str]) -> dict[str, set[str]]:
    found = {r: {a for a in actions if a.split(":")[0] in services} for r, actions in grants.items()}
    return {r: actions for r, actions in found.items() if actions}


def test_the_table_covers_every_function():
    assert set(CODE_CALLS) == set(FUNCTIONS)


@pytest.mark.parametrize("function", sorted(CODE_CALLS))
def test_each_role_grants_exactly_what_its_functions_code_calls(function):
    grants = split(granted(function), CODE_SERVICES)
    if reads_the_stream(function):
        for resource, actions in EVENT_SOURCE_MAPPING_GRANTS.items():
            assert actions <= grants.get(resource, set()), f"{function}'s event source mapping cannot read the stream"
            grants[resource] -= actions
        grants = {r: a for r, a in grants.items() if a}
    unused = {r: a - CODE_CALLS[function].get(r, set()) for r, a in grants.items()}
    missing = {r: a - grants.get(r, set()) for r, a in CODE_CALLS[function].items()}
    assert not {r: a for r, a in unused.items() if a}, "granted, but no code calls it"
    assert not {r: a for r, a in missing.items() if a}, "called, but not granted"


# -- the code, statically ---------------------------------------------------------------------------------

CLIENTS = {"dynamodb": "dynamodb", "sns": "sns", "scheduler": "scheduler", "events": "events", "sesv2": "ses",
           "secrets": "secretsmanager"}
TRANSACTION_ITEMS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
CLIENT_ATTRIBUTES = {"exceptions", "meta"}  # what a client has besides its operations
ALWAYS_RUN = {"__init__", "__post_init__", "__call__", "__enter__", "__exit__"}


class _NoAnnotations(ast.NodeTransformer):
    """Annotations name types, not calls; with them a class used only as a hint would count as used."""

    def visit_arg(self, node):
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.returns = None
        return self.generic_visit(node)

    def visit_AnnAssign(self, node):
        node.annotation = ast.Constant(None)
        return self.generic_visit(node)


@dataclass
class Module:
    body: list[ast.stmt]  # top-level statements, without definitions and ``if TYPE_CHECKING:`` blocks
    functions: dict[str, ast.AST]
    classes: dict[str, dict[str, ast.AST]]  # class -> method -> definition


def parse_sources() -> dict[str, Module]:
    modules = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        tree = _NoAnnotations().visit(ast.parse(path.read_text()))
        module = Module([], {}, {})
        for statement in tree.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                module.functions[statement.name] = statement
            elif isinstance(statement, ast.ClassDef):
                module.classes[statement.name] = {n.name: n for n in statement.body
                                                  if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            elif not (isinstance(statement, ast.If) and getattr(statement.test, "id", "") == "TYPE_CHECKING"):
                module.body.append(statement)
        modules[path.relative_to(ROOT / "src").with_suffix("").as_posix().replace("/", ".")] = module
    return modules


@dataclass
class Reach:
    """What is reachable from a handler module: modules imported, names used, classes used, and the units
    (a module's top level, a function, a method) that ran; names resolve by name within imported modules,
    which over-approximates only where two reachable definitions share a name."""

    modules: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    classes: set[tuple[str, str]] = field(default_factory=set)
    done: set[tuple] = field(default_factory=set)
    calls: set[tuple[str, str]] = field(default_factory=set)
    transaction_items: set[str] = field(default_factory=set)

    def visit(self, node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom) and sub.module == "appointments":  # from appointments import decision
                self.modules.update(f"appointments.{alias.name}" for alias in sub.names)
            elif isinstance(sub, ast.ImportFrom) and (sub.module or "").split(".")[0] == "appointments":
                self.modules.add(sub.module)
            elif isinstance(sub, ast.Name):
                self.names.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                self.names.add(sub.attr)
            # ``self.dynamodb.get_item(...)``, or the method handed on: ``self._retried(self.dynamodb.get_item, ...)``
            if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute) and sub.value.attr in CLIENTS
                    and isinstance(sub.value.value, ast.Name) and sub.value.value.id == "self"
                    and sub.attr not in CLIENT_ATTRIBUTES):
                self.calls.add((CLIENTS[sub.value.attr], sub.attr))
            if isinstance(sub, ast.Dict):
                self.transaction_items |= {k.value for k in sub.keys
                                           if isinstance(k, ast.Constant) and k.value in TRANSACTION_ITEMS}


def aws_actions(handler_module: str) -> set[str]:
    """The IAM actions of the AWS calls reachable from a handler module's functions."""
    sources = parse_sources()
    reach = Reach(modules={handler_module})
    entry = {(handler_module, name) for name in sources[handler_module].functions}  # the handler and its routes
    progress = True
    while progress:
        progress = False
        for name in sorted(reach.modules):
            module = sources[name]
            units = [(("body", name), module.body)]
            units += [((name, f), [node]) for f, node in module.functions.items()
                      if f in reach.names or (name, f) in entry]
            for cls, methods in module.classes.items():
                if cls in reach.names:
                    reach.classes.add((name, cls))
                    units += [((name, cls, m), [node]) for m, node in methods.items()
                              if m in reach.names or m in ALWAYS_RUN]
            for unit, nodes in units:
                if unit not in reach.done:
                    reach.done.add(unit)
                    for node in nodes:
                        reach.visit(node)
                    progress = True
    actions = set()
    for service, operation in reach.calls:
        if operation == "transact_write_items":
            actions |= {f"dynamodb:{TRANSACTION_ITEMS[k]}" for k in reach.transaction_items - {"Get"}}
        elif operation == "transact_get_items":
            actions.add("dynamodb:GetItem")
        else:
            actions.add(f"{service}:{''.join(part.title() for part in operation.split('_'))}")
    return actions


# Where the scan's resolution by name reaches a method no code of the function calls: the notifier names
# appointments everywhere (``notice.appointment``), so ``Tables.appointment`` (a GetItem on AppointmentsTable,
# the sender's) counts as reached although the notifier never reads AppointmentsTable. Pinned exactly.
SCAN_REACHES_BY_NAME_ONLY = {"NotifierFunction": {"dynamodb:GetItem"}}


@pytest.mark.parametrize("function", sorted(CODE_CALLS))
def test_the_table_names_exactly_the_calls_reachable_from_each_handler(function):
    handler_module = FUNCTIONS[function]["Handler"].rsplit(".", 1)[0]
    in_table = set().union(*CODE_CALLS[function].values())
    in_code = aws_actions(handler_module)
    overreach = SCAN_REACHES_BY_NAME_ONLY.get(function, set())
    assert overreach <= in_code - in_table, "the scan no longer over-reaches here; drop the exception"
    in_code -= overreach
    assert in_code - in_table == set(), "the code calls these; add them to CODE_CALLS and the role"
    assert in_table - in_code == set(), "no code calls these; remove them from CODE_CALLS and the role"


def test_the_scan_finds_calls_through_wiring_adapters_and_transactions():
    """The scan itself: the API reaches the store's transaction items, and not the delivery ledger or bulk
    loading it shares a class with; the publisher reaches PutEvents through two lazy imports."""
    api = aws_actions("conflict_detector")
    assert {"dynamodb:ConditionCheckItem", "dynamodb:PutItem"} <= api
    assert "dynamodb:BatchWriteItem" not in api  # bulk_load: benchmarks and migrations only
    assert aws_actions("event_publisher") == {"events:PutEvents"}
    assert aws_actions("reminder_sender") == {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem",
                                              "sns:Publish", "ses:SendEmail", "secretsmanager:GetSecretValue"}
    assert "secretsmanager:GetSecretValue" in api
    assert "secretsmanager:GetSecretValue" in aws_actions("notifier")  # the key of the messages' manage links


def test_stream_reading_is_granted_to_the_roles_of_stream_consumers_only():
    for function in FUNCTIONS:
        stream = split(granted(function), {"dynamodb"}).get("AppointmentsTable.StreamArn", set())
        assert bool(stream) == reads_the_stream(function), function


# -- the code, running ------------------------------------------------------------------------------------

class CallRecorder:
    """A botocore event hook on the real client: (action, resource) of every DynamoDB call, with table
    names written as the template's logical IDs."""

    def __init__(self, client):
        self.made: set[tuple[str, str]] = set()
        self.logical = {table_name(t): t for t in ("AppointmentsTable", "CalendarTable")}
        client.meta.events.register("before-parameter-build.dynamodb", self.record)

    def resource(self, table: str, index: str | None = None) -> str:
        return f"{self.logical[table]}/index/{index}" if index else self.logical[table]

    def record(self, params, model, **_):
        operation = model.name
        if operation in ("TransactWriteItems", "TransactGetItems"):
            for item in params["TransactItems"]:
                [(kind, request)] = item.items()
                self.made.add((f"dynamodb:{TRANSACTION_ITEMS[kind]}", self.resource(request["TableName"])))
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            self.made |= {(f"dynamodb:{operation}", self.resource(t)) for t in params["RequestItems"]}
        else:
            self.made.add((f"dynamodb:{operation}", self.resource(params["TableName"], params.get("IndexName"))))


def test_every_route_of_the_booking_function_calls_exactly_what_its_role_grants(api, dynamodb):
    calls = CallRecorder(dynamodb)
    weekly = {d: [{"start": "09:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    window = "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"
    answers = [api.request("PUT", "/calendars/dr-smith/availability", {"timeZone": "UTC", "weekly": weekly}),
               api.get("/calendars/dr-smith/availability")]
    booked = api.post(body={"userId": "alice", "startTime": "2026-12-01T09:00:00Z",
                            "endTime": "2026-12-01T10:00:00Z", "participants": ["dr-smith"]},
                      headers={"Idempotency-Key": "first"})
    path = f"/appointments/{booked.body['appointmentId']}"
    answers += [booked, api.get(path), api.get("/appointments", query="userId=alice"),
                api.patch(path, {"startTime": "2026-12-01T11:00:00Z", "endTime": "2026-12-01T12:00:00Z"}),
                api.get("/users/alice/busy", query=window), api.get("/calendars/dr-smith/busy", query=window),
                api.get("/calendars/dr-smith/appointments", query=window),
                api.get("/calendars/dr-smith/slots", query=window + "&duration=60"),
                api.delete(path), api.delete("/calendars/dr-smith/availability"),
                api.request("PUT", "/calendars/alice/contact", {"email": "alice@example.com", "channels": ["email"]}),
                api.get("/calendars/alice/contact"), api.delete("/calendars/alice/contact")]
    assert [a.status for a in answers if a.status >= 300] == []
    table = {(action, resource) for resource, actions in CODE_CALLS["ConflictDetectorFunction"].items()
             for action in actions if action.startswith("dynamodb:")}
    assert calls.made - table == set(), "called on a resource the table (and the role) does not name"
    assert table - calls.made == set(), "named in the table, but no route calls it there"
