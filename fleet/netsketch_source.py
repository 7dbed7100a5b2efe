"""A small PySpark data source (batch and streaming) over a Kafka topic,
for Spark installations without the spark-sql-kafka connector jar. Reads
with confluent-kafka (PyPI); offsets are per partition, from the low to the
high watermark seen when a micro-batch is planned.

    spark.dataSource.register(NetsketchKafka)
    spark.readStream.format("netsketch_kafka") \
        .option("brokers", "127.0.0.1:9092").option("topic", "netsketch.windows").load()

Columns as the Kafka connector's, value decoded: key string, topic string,
partition int, offset long, value string.
"""

from pyspark.sql.datasource import (
    DataSource,
    DataSourceReader,
    DataSourceStreamReader,
    InputPartition,
)

SCHEMA = "key string, topic string, partition int, offset long, value string"


class _Range(InputPartition):
    def __init__(self, partition, start, end):
        self.partition = partition
        self.start = start
        self.end = end


def _consumer(brokers):
    from confluent_kafka import Consumer

    return Consumer({
        "bootstrap.servers": brokers,
        "group.id": "netsketch-spark",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
    })


def _watermarks(brokers, topic):
    """{partition: (low, high)} of `topic`."""
    from confluent_kafka import TopicPartition

    c = _consumer(brokers)
    try:
        md = c.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise RuntimeError(f"netsketch_kafka: no topic {topic} on {brokers}")
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in sorted(t.partitions)
        }
    finally:
        c.close()


def _read(brokers, topic, part, timeout_s=60.0):
    """Rows of records [start, end) of one partition."""
    import time

    from confluent_kafka import TopicPartition

    if part.end <= part.start:
        return
    c = _consumer(brokers)
    try:
        c.assign([TopicPartition(topic, part.partition, part.start)])
        deadline = time.time() + timeout_s
        nxt = part.start
        while nxt < part.end:
            if time.time() > deadline:
                raise RuntimeError(
                    f"netsketch_kafka: {topic}[{part.partition}] stopped at {nxt} of {part.end}")
            m = c.poll(1.0)
            if m is None or m.error():
                continue
            if m.offset() >= part.end:
                break
            nxt = m.offset() + 1
            key = m.key().decode("utf-8", "replace") if m.key() is not None else None
            yield (key, topic, m.partition(), m.offset(), m.value().decode("utf-8", "replace"))
    finally:
        c.close()


class _Batch(DataSourceReader):
    def __init__(self, options):
        self.brokers = options["brokers"]
        self.topic = options["topic"]

    def partitions(self):
        return [_Range(p, lo, hi) for p, (lo, hi) in _watermarks(self.brokers, self.topic).items()]

    def read(self, partition):
        yield from _read(self.brokers, self.topic, partition)


class _Stream(DataSourceStreamReader):
    def __init__(self, options):
        self.brokers = options["brokers"]
        self.topic = options["topic"]

    def initialOffset(self):
        return {str(p): lo for p, (lo, _) in _watermarks(self.brokers, self.topic).items()}

    def latestOffset(self):
        return {str(p): hi for p, (_, hi) in _watermarks(self.brokers, self.topic).items()}

    def partitions(self, start, end):
        return [_Range(int(p), start.get(p, 0), hi) for p, hi in end.items()]

    def read(self, partition):
        yield from _read(self.brokers, self.topic, partition)

    def commit(self, end):
        pass


class NetsketchKafka(DataSource):
    @classmethod
    def name(cls):
        return "netsketch_kafka"

    def schema(self):
        return SCHEMA

    def reader(self, schema):
        return _Batch(self.options)

    def streamReader(self, schema):
        return _Stream(self.options)
