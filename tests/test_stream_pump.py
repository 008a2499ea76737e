"""The local stream pump on a stream whose shards change, as DynamoDB's do (scripts/local_aws.py).

DynamoDB closes a stream's shards every few hours and continues in child shards; an iterator
expires after 15 minutes. moto never does either, so these tests read a fake stream that does.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from local_aws import StreamPump


class ChangingStream:
    """A dynamodbstreams client for one stream whose shards can close into children, expire their
    iterators, or be replaced under the same ID (as moto did when it restored a table from a copy)."""

    def __init__(self):
        self.records: dict[str, list[dict]] = {"shard-a": []}
        self.parents: dict[str, str] = {}
        self.closed: set[str] = set()
        self.generation: dict[str, int] = {"shard-a": 0}
        self.issued: set[str] = set()
        self.expired: set[str] = set()
        self.sequence = 100

    def write(self, shard: str, key: str) -> None:
        self.sequence += 1
        self.records[shard].append({"eventID": key, "eventName": "INSERT", "awsRegion": "us-east-1",
                                    "dynamodb": {"SequenceNumber": str(self.sequence), "Keys": {"k": {"S": key}}}})

    def split(self, shard: str, child: str) -> None:
        self.closed.add(shard)
        self.records[child], self.parents[child], self.generation[child] = [], shard, 0

    def replace(self, shard: str) -> None:
        """Iterators handed out so far read a copy that never grows again."""
        self.generation[shard] += 1

    def expire_iterators(self) -> None:
        self.expired |= self.issued

    def _iterator(self, shard: str, generation: int, index: int) -> str:
        iterator = f"{shard}|{generation}|{index}|{len(self.issued)}"
        self.issued.add(iterator)
        return iterator

    # -- the client's calls --------------------------------------------------------------------
    def describe_stream(self, StreamArn: str) -> dict:
        shards = [{"ShardId": s, **({"ParentShardId": self.parents[s]} if s in self.parents else {})}
                  for s in self.records]
        return {"StreamDescription": {"Shards": shards[::-1]}}  # children first: no order is promised

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str,
                           SequenceNumber: str | None = None) -> dict:
        records = self.records[ShardId]
        index = {"TRIM_HORIZON": 0, "LATEST": len(records)}.get(ShardIteratorType)
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            index = sum(1 for r in records if int(r["dynamodb"]["SequenceNumber"]) <= int(SequenceNumber))
        return {"ShardIterator": self._iterator(ShardId, self.generation[ShardId], index)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict:
        if ShardIterator in self.expired:
            raise ClientError({"Error": {"Code": "ExpiredIteratorException", "Message": "expired"}}, "GetRecords")
        shard, generation, index, _ = ShardIterator.split("|")
        if int(generation) != self.generation[shard]:
            return {"Records": [], "NextShardIterator": self._iterator(shard, int(generation), int(index))}
        batch = self.records[shard][int(index):int(index) + Limit]
        end = int(index) + len(batch)
        if shard in self.closed and end == len(self.records[shard]):
            return {"Records": batch}  # a closed shard read to its end has no next iterator
        return {"Records": batch, "NextShardIterator": self._iterator(shard, int(generation), end)}


def keys(records: list[dict]) -> list[str]:
    return [r["dynamodb"]["Keys"]["k"]["S"] for r in records]


def test_the_pump_follows_a_closed_shard_into_its_child_after_reading_the_parent_to_its_end():
    stream = ChangingStream()
    pump = StreamPump(stream, "arn:stream")
    stream.write("shard-a", "a1")
    stream.write("shard-a", "a2")
    assert keys(pump.poll()) == ["a1", "a2"]

    stream.write("shard-a", "a3")
    stream.split("shard-a", "shard-b")
    stream.write("shard-b", "b1")
    delivered = [keys(pump.poll()) for _ in range(3)]
    stream.write("shard-b", "b2")
    delivered.append(keys(pump.poll()))

    assert [key for batch in delivered for key in batch] == ["a3", "b1", "b2"]
    assert delivered[0] == ["a3"]  # the child waited for its parent's last record


def test_a_pump_that_starts_at_latest_reads_a_later_child_shard_from_its_beginning():
    stream = ChangingStream()
    stream.write("shard-a", "old")
    pump = StreamPump(stream, "arn:stream", starting_position="LATEST")
    assert pump.poll() == []
    stream.write("shard-a", "a1")
    stream.split("shard-a", "shard-b")
    stream.write("shard-b", "b1")  # before the pump has seen shard-b
    assert [key for _ in range(3) for key in keys(pump.poll())] == ["a1", "b1"]


def test_an_expired_iterator_is_replaced_and_no_record_is_handed_over_twice():
    stream = ChangingStream()
    pump = StreamPump(stream, "arn:stream")
    stream.write("shard-a", "a1")
    assert keys(pump.poll()) == ["a1"]
    stream.write("shard-a", "a2")
    stream.expire_iterators()
    assert [key for _ in range(3) for key in keys(pump.poll())] == ["a2"]


def test_a_shard_replaced_under_the_same_id_is_read_again_after_its_last_record():
    stream = ChangingStream()
    pump = StreamPump(stream, "arn:stream", refresh_after=3)
    stream.write("shard-a", "a1")
    assert keys(pump.poll()) == ["a1"]
    stream.replace("shard-a")
    stream.write("shard-a", "a2")
    assert [key for _ in range(5) for key in keys(pump.poll())] == ["a2"]
