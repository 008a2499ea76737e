"""The benchmark's pure parts: capacity arithmetic on items whose sizes are known by hand, the report's
template, and the busy day the slot search is measured on."""

import itertools

from bench.capacity import capacity_units, item_size


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
