"""The benchmark: capacity arithmetic on items whose sizes are known by hand, the report's template and
rows, the busy day the slot search is measured on, the table it writes into docs/SCALING.md; and the
measurements of pools, holds, series and messages, run on tiny inputs against the template deployed
into in-process moto, as `make bench` runs them."""

import itertools

import pytest

from bench.capacity import capacity_units, item_size
from conftest import aws_environment_restored


def test_item_size_follows_dynamodb_rules():
    # name lengths + values: "id" 2 + "abc" 3; "n" 1 + 12345 (5 digits -> 3+1); "ok" 2 + bool 1
    assert item_size({"id": {"S": "abc"}, "n": {"N": "12345"}, "ok": {"BOOL": True}}) == 5 + 5 + 3
    # a map: 3 overhead + per entry (key + value + 1)
    assert item_size({"m": {"M": {"a": {"S": "xy"}}}}) == 1 + 3 + (1 + 2 + 1)


def test_consistent_batch_reads_cost_one_unit_per_4kb_and_one_per_missing_key():
    big = {"k": {"S": "x" * 5000}}
    exchange = ("BatchGetItem", {"RequestItems": {"T": {"Keys": [{}, {}, {}]}}}, {"Responses": {"T": [big]}})
    assert capacity_units([exchange], set()) == (2 + 2, 0)


def test_transactional_writes_cost_two_units_per_kb_plus_the_index():
    item = {"k": {"S": "x" * 1500}}  # 1 + 1500 bytes: 2 KB
    exchange = ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "A", "Item": item}},
                                                         {"Put": {"TableName": "B", "Item": item}}]}, {})
    assert capacity_units([exchange], {"A"}) == (0, 2 * 2 + 2 + 2 * 2)


def test_the_report_puts_the_results_between_its_prose():
    from bench.report import document

    text = document("| measure | value | detail |", stamp="2027-01-01 00:00 UTC", seconds=12.3)
    assert text.startswith("# Benchmarks\n\nRun of 2027-01-01 00:00 UTC on ")
    assert ", in 12 s. Regenerate with `make bench`." in text
    assert text.index("| measure | value | detail |") < text.index("## Method") < text.index("## Reading the results")
    assert "$" not in text


def test_a_busy_day_holds_40_appointments_that_leave_only_the_evening_for_a_30_minute_slot():
    from datetime import datetime, timedelta

    from bench.measurements import busy_day

    day = busy_day(["dr-a", "room-b"], 3)
    spans = [(datetime.fromisoformat(a["startTime"]), datetime.fromisoformat(a["endTime"])) for a in day]
    assert len(day) == 40
    assert {(a["userId"], tuple(a["participants"])) for a in day} == {("dr-a", ("room-b",))}
    assert len({start.date() for start, _ in spans} | {end.date() for _, end in spans}) == 1  # one UTC day
    gaps = [later - end for (_, end), (later, _) in itertools.pairwise(spans)]
    assert max(gaps) < timedelta(minutes=30)
    assert spans[-1][1].hour == 19


# -- the rows of pools, holds, series and messages -------------------------------------------------------------

def test_the_series_table_replaces_only_the_lines_between_its_markers():
    from bench.scaling import BEGIN, END, with_series_table

    limits = [{"calendars": 2, "capped": capped, "largest": 7 - capped, "actions": 90 + capped}
              for capped in (False, True)]
    page = f"# Scaling\n\nprose before\n\n{BEGIN}\n| an old table |\n{END}\n\nprose after\n"
    written = with_series_table(page, limits)
    assert written.startswith("# Scaling\n\nprose before\n\n")
    assert written.endswith(f"{END}\n\nprose after\n")
    assert "| 2 | 7 occurrences (90 actions) | 6 occurrences (91 actions) |" in written
    assert "an old table" not in written
    assert with_series_table(written, limits) == written


def test_scaling_md_keeps_the_markers_the_bench_writes_between():
    from bench.scaling import BEGIN, END, SCALING

    page = SCALING.read_text()
    assert page.count(BEGIN) == page.count(END) == 1
    assert page.index(BEGIN) < page.index(END)


def test_a_pool_search_is_reported_as_a_ratio_to_the_booking_of_the_same_run():
    from bench.report import pool_rows

    pools = {"plain": {"calls": {"dynamodb:BatchGetItem": 1}, "reads": 4.0, "writes": 5.0, "cpu": 0.0012},
             "bookings": [{"members": 2, "calls": {"dynamodb:BatchGetItem": 1}, "reads": 12.0, "writes": 11.0}],
             "searches": [{"members": 10, "days": 7, "calls": {}, "reads": 20.0, "slots": 98, "choices": 8.2,
                           "cpu": 0.036}]}
    rows = pool_rows(pools)
    assert tuple(r.strip() for r in rows[1]) == ("2 members", "12 RRU / 11 WRU", "dynamodb:BatchGetItem 1")
    assert rows[-2][2].endswith("handler CPU 1.2 ms")
    assert rows[-1][2].endswith("CPU 36.0 ms = 30 x a booking")


@pytest.fixture(scope="module")
def deployed():
    """The template deployed into in-process moto, as `make bench` deploys it. The moto patches that
    ``motoserver.patch_moto`` applies for it, and the AWS environment, are undone afterwards, so later
    tests see moto as they expect it."""
    from moto.apigateway.models import Method
    from moto.awslambda.models import LambdaBackend
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
    from moto.events.models import Rule

    import motoserver
    from bench.stack import in_process_stack

    patched = [(DynamoHandler, "call_action"), (LambdaBackend, "send_dynamodb_items"),
               (Method, "create_from_cloudformation_json"), (DynamoDBBackend, "transact_write_items"),
               (ShardIterator, "__init__"), (DynamoDBStreamsBackend, "get_records"), (Rule, "send_to_targets")]
    with pytest.MonkeyPatch.context() as patch, aws_environment_restored():
        for owner, name in patched:
            patch.setattr(owner, name, owner.__dict__[name])  # put back as it was when the module ends
        patch.setattr(motoserver, "_patched", False)
        with in_process_stack() as stack:
            yield stack


@pytest.fixture
def harness(deployed):
    """The handlers wired to a fresh recorder (every test starts with handler modules that hold nothing)."""
    from bench.config import NOW
    from bench.recording import AwsRecorder
    from bench.stack import Harness

    recorder = AwsRecorder()
    return Harness(*deployed, recorder, lambda: NOW), recorder


def test_a_pool_booking_reads_every_member_and_writes_only_the_one_assigned(harness):
    from bench.measurements import measure_pools

    pools = measure_pools(*harness, sizes=(2, 4), searched=2, windows=(1,))
    two, four = pools["bookings"]
    assert two["calls"] == four["calls"] == {"dynamodb:BatchGetItem": 1, "dynamodb:TransactWriteItems": 1}
    assert four["reads"] > two["reads"]
    assert four["writes"] == two["writes"]
    assert pools["plain"]["cpu"] > 0
    [search] = pools["searches"]
    assert search["calls"] == {"dynamodb:BatchGetItem": 1, "dynamodb:Query": 2}
    assert search["slots"] > 0
    assert search["cpu"] > 0


def test_a_hold_and_its_confirmation_are_each_one_transaction(harness):
    from bench.measurements import measure_holds

    held, confirmed = measure_holds(*harness)
    assert held["calls"] == {"dynamodb:BatchGetItem": 1, "dynamodb:TransactWriteItems": 1}
    assert confirmed["calls"] == {"dynamodb:GetItem": 1, "dynamodb:BatchGetItem": 1, "dynamodb:TransactWriteItems": 1}
    assert held["writes"] > 0
    assert confirmed["writes"] > 0


def test_a_series_is_one_transaction_and_the_largest_is_what_the_service_books(harness):
    from appointments.series import MAX_OCCURRENCES
    from bench.measurements import measure_series, measure_series_limits

    [series] = measure_series(*harness, counts=(3,))
    assert series["calls"]["dynamodb:TransactWriteItems"] == 1
    assert series["actions"] > 3
    plain, capped = measure_series_limits(*harness, calendar_counts=(2,))
    assert 0 < capped["largest"] < plain["largest"] < MAX_OCCURRENCES  # a cap's local date spans two UTC days
    assert plain["actions"] <= 100
    assert capped["actions"] <= 100
    assert plain["refusal_cpu"] > 0


def test_each_message_is_sent_once_and_its_duplicate_delivery_sends_nothing(harness):
    from bench.notifications import measure_messages

    book, confirmation, again, reminder, reminded_again = measure_messages(*harness)
    assert book["calls"] == {"dynamodb:BatchGetItem": 1, "dynamodb:TransactWriteItems": 1}
    for sent in (confirmation, reminder):
        assert sent["calls"]["sesv2:SendEmail"] == 1
        assert sent["writes"] > 0
    for duplicate in (again, reminded_again):
        assert not {"sesv2:SendEmail", "sns:Publish"} & duplicate["calls"].keys()


def test_the_probe_names_what_the_booking_handler_import_loads_of_the_libraries_only_messages_need(tmp_path):
    import types
    import zipfile
    from pathlib import Path

    from bench.notifications import booking_handler_loads

    source = Path(__file__).resolve().parent.parent / "src"
    clean, loading = tmp_path / "clean.zip", tmp_path / "loading.zip"
    with zipfile.ZipFile(clean, "w") as archive:
        for path in source.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(source).as_posix())
    with zipfile.ZipFile(loading, "w") as archive:
        archive.writestr("conflict_detector.py", "import babel\nimport appointments.messages\n")
        for path in (source / "appointments").rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(source).as_posix())
    assert booking_handler_loads(types.SimpleNamespace(path=clean)) == []
    assert booking_handler_loads(types.SimpleNamespace(path=loading)) == ["appointments.messages", "babel"]
