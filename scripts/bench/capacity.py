"""DynamoDB capacity units computed from item sizes, by the published rules
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/): moto reports a constant for
ConsumedCapacity, so the benchmark applies the rules to the items really read and written.
"""

from __future__ import annotations

import math

from bench.recording import Exchange


def value_size(value: dict) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = len(data.lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in data.items())
    raise ValueError(kind)


def item_size(item: dict) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def capacity_units(exchanges: list[Exchange], index_tables: set[str]) -> tuple[float, float]:
    """(read units, write units) of a list of DynamoDB exchanges, by the published rules:
    a strongly consistent read costs 1 unit per 4 KB of each item (at least 1, also for a missing
    item); a transactional write 2 units per 1 KB of each item written; an item written to a table
    with a GSI that projects all attributes costs 1 more unit per 1 KB for the index.
    """
    reads = writes = 0.0
    for name, params, parsed in exchanges:
        if name == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                found = parsed.get("Responses", {}).get(table, [])
                reads += sum(max(1, math.ceil(item_size(i) / 4096)) for i in found)
                reads += len(request["Keys"]) - len(found)
        elif name in ("GetItem", "Query"):
            items = [parsed["Item"]] if "Item" in parsed else parsed.get("Items", [])
            per = 1 if params.get("ConsistentRead") else 0.5
            reads += max(per, per * math.ceil(sum(item_size(i) for i in items) / 4096))
        elif name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (operation, body), = entry.items()
                size = item_size(body["Item"]) if "Item" in body else 1024
                writes += 2 * math.ceil(size / 1024)
                if body["TableName"] in index_tables and operation in ("Put", "Update"):
                    writes += math.ceil(size / 1024)
        elif name == "UpdateItem":
            writes += 1
    return reads, writes
