#!/usr/bin/env python3
"""Prints every record of a Kafka topic as JSON lines (key, partition,
offset, value parsed as JSON), from the beginning to the end offset seen
at start. Used by tests/fleet.rs; needs `pip install confluent-kafka`.

    kafka_dump.py BROKERS TOPIC
"""
import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition


def dump(brokers, topic, timeout_s=30.0):
    c = Consumer({
        "bootstrap.servers": brokers,
        "group.id": "netsketch-dump",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
    })
    md = c.list_topics(topic, timeout=10)
    if topic not in md.topics or md.topics[topic].error is not None:
        raise SystemExit(f"kafka_dump: no topic {topic}")
    parts = sorted(md.topics[topic].partitions)
    ends = {}
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        ends[p] = hi
    todo = {p for p in parts if ends[p] > 0}
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out = []
    deadline = time.time() + timeout_s
    while todo and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            continue
        out.append({
            "key": m.key().decode() if m.key() is not None else None,
            "partition": m.partition(),
            "offset": m.offset(),
            "value": json.loads(m.value()),
        })
        if m.offset() + 1 >= ends[m.partition()]:
            todo.discard(m.partition())
    c.close()
    if todo:
        raise SystemExit(f"kafka_dump: partitions {sorted(todo)} not read to their end in {timeout_s} s")
    return out


if __name__ == "__main__":
    for r in dump(sys.argv[1], sys.argv[2]):
        print(json.dumps(r))
