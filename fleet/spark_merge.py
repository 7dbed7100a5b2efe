#!/usr/bin/env python3
"""The fleet merge on Spark: one answer per window across appliances.

Reads netsketch's window messages (docs/kafka-schema.md) from Kafka with
Structured Streaming, drops duplicates (delivery is at least once), and per
(window_index, start_ts_ns, end_ts_ns) across appliances:
- exact counters: summed;
- distinct sources and destinations: `hll_union_agg` over the DataSketches
  HLL bytes (allowDifferentLgConfigK), `hll_sketch_estimate`; bounds (2
  standard errors, 95.45%, as netsketch states) from the union sketch read
  by the `datasketches` package;
- top-k per ranking: `approx_top_k_combine` (Spark 4.1+) over states built
  from the messages' frequent-items bytes (the state's sketch is
  DataSketches frequent-items bytes followed by an 8-byte big-endian null
  count, here 0), ranked by `approx_top_k_estimate`'s counts; each key's
  bounds from the combined sketch (`weight <= truth <= weight + offset`).
  On a Spark without approx_top_k_combine the frequent items are merged in
  Python with the datasketches package instead (`top_engine` says which).

Kafka source: `format("kafka")` where the spark-sql-kafka connector is on
the classpath (`--source kafka`), else a small Python data source over
confluent-kafka (`--source python`, fleet/netsketch_source.py; `auto` picks
the connector when Spark can load it).

Output: the merged windows as JSON lines in --out, rewritten after every
micro-batch (complete mode; keys as netsketch's own window lines:
`distinct.{src,dst}`, `top.{src,dst}.{bytes,packets}` items with `key`,
`value`, `lower`, `upper`).

    spark_merge.py --brokers 127.0.0.1:9092 --out merged.jsonl [--once]

`--once` processes what the topic holds now and exits (a batch query over
the same plan); without it the job streams until stopped, triggering every
--trigger seconds.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# Spark's Python workers unpickle the data source class: they need this
# folder on their path too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in [HERE, os.environ.get("PYTHONPATH", "")] if p)

COUNTERS = ["packets", "wire_bytes", "ip_bytes", "ipv4", "ipv6", "tcp", "udp",
            "icmp", "late", "future"]
RANKINGS = [("src", "bytes"), ("src", "packets"), ("dst", "bytes"), ("dst", "packets")]
MESSAGE = (
    "schema int, type string, appliance string, window_index int, "
    "start_ts_ns long, end_ts_ns long, partial boolean, "
    "counters struct<" + ",".join(f"{c}:long" for c in COUNTERS) + ">, "
    "hll struct<src:string,dst:string>, "
    "frequent_items struct<src_bytes:string,src_packets:string,"
    "dst_bytes:string,dst_packets:string>"
)
SCHEMA_VERSION = 1
NULL_COUNT = "X'0000000000000000'"


def args_of(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", default="netsketch.windows")
    p.add_argument("--source", choices=["auto", "kafka", "python"], default="auto")
    p.add_argument("--out", required=True, help="merged windows, JSON lines")
    p.add_argument("-k", "--top", type=int, default=10)
    p.add_argument("--max-items", type=int, default=10000,
                   help="maxItemsTracked of the combined top-k sketches")
    p.add_argument("--once", action="store_true")
    p.add_argument("--trigger", type=float, default=5.0)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--topk-engine", choices=["auto", "spark", "python"], default="auto")
    p.add_argument("--also", action="append", default=[], metavar="TOPIC=OUT",
                   help="with --once: merge TOPIC into OUT too, in the same Spark session")
    return p.parse_args(argv)


def has_function(spark, name):
    return spark.sql(f"SHOW FUNCTIONS LIKE '{name}'").count() > 0


def source_frame(spark, a, stream):
    reader = spark.readStream if stream else spark.read
    use_connector = a.source == "kafka"
    if a.source == "auto":
        try:
            spark._jvm.java.lang.Class.forName(
                "org.apache.spark.sql.kafka010.KafkaSourceProvider")
            use_connector = True
        except Exception:
            use_connector = False
    if use_connector:
        df = (reader.format("kafka")
              .option("kafka.bootstrap.servers", a.brokers)
              .option("subscribe", a.topic)
              .option("startingOffsets", "earliest")
              .load())
        return df.selectExpr("CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value")
    from netsketch_source import NetsketchKafka

    spark.dataSource.register(NetsketchKafka)
    return (reader.format("netsketch_kafka")
            .option("brokers", a.brokers).option("topic", a.topic).load()
            .select("key", "value"))


def merged_frame(spark, a, stream, native_topk):
    from pyspark.sql import functions as F

    raw = source_frame(spark, a, stream)
    m = (raw.select(F.from_json("value", MESSAGE).alias("m")).select("m.*")
         .where(f"schema = {SCHEMA_VERSION} AND type = 'window'")
         .dropDuplicates(["appliance", "window_index", "start_ts_ns"]))
    aggs = [F.sum(f"counters.{c}").alias(c) for c in COUNTERS]
    aggs += [
        F.sort_array(F.collect_set("appliance")).alias("appliances"),
        F.max(F.col("partial").cast("int")).alias("any_partial"),
        F.expr("hll_union_agg(unbase64(hll.src), true)").alias("hll_src"),
        F.expr("hll_union_agg(unbase64(hll.dst), true)").alias("hll_dst"),
    ]
    for dim, metric in RANKINGS:
        col = f"frequent_items.{dim}_{metric}"
        if native_topk:
            state = (f"CASE WHEN {col} IS NULL THEN NULL ELSE named_struct("
                     f"'sketch', concat(unbase64({col}), {NULL_COUNT}), "
                     f"'maxItemsTracked', {a.max_items}, "
                     f"'itemDataType', CAST(NULL AS STRING), "
                     f"'itemDataTypeDDL', 'item string not null') END")
            aggs.append(F.expr(f"approx_top_k_combine({state}, {a.max_items})")
                        .alias(f"topk_{dim}_{metric}"))
        else:
            aggs.append(F.collect_list(col).alias(f"fi_{dim}_{metric}"))
    g = m.groupBy("window_index", "start_ts_ns", "end_ts_ns").agg(*aggs)
    g = (g.withColumn("src_estimate", F.expr("hll_sketch_estimate(hll_src)"))
         .withColumn("dst_estimate", F.expr("hll_sketch_estimate(hll_dst)")))
    if native_topk:
        for dim, metric in RANKINGS:
            c = f"topk_{dim}_{metric}"
            g = g.withColumn(f"est_{dim}_{metric}",
                             F.expr(f"approx_top_k_estimate({c}, {a.max_items})"))
    return g


def distinct_of(sketch_bytes, estimate):
    import datasketches

    if sketch_bytes is None:
        return {"value": 0, "lower": 0, "upper": 0, "confidence": 0.9545}
    h = datasketches.hll_sketch.deserialize(bytes(sketch_bytes))
    return {
        "value": round(estimate),
        "lower": int(h.get_lower_bound(2)),
        "upper": int(-(-h.get_upper_bound(2) // 1)),
        "confidence": 0.9545,
    }


def top_of(sketch, k, spark_counts=None):
    """Top k of a frequent-strings sketch: heaviest first (ties by key),
    `value` the estimate, bounds `[weight, weight + offset]`."""
    import datasketches

    if sketch is None:
        return []
    err = datasketches.frequent_items_error_type.NO_FALSE_NEGATIVES
    items = sketch.get_frequent_items(err)
    items.sort(key=lambda t: (-t[1], t[0]))
    out = []
    for item, est, lb, ub in items[:k]:
        e = {"key": item, "value": int(est), "lower": int(lb), "upper": int(ub)}
        if spark_counts is not None:
            e["spark_count"] = spark_counts.get(item)
        out.append(e)
    return out


def finish_rows(rows, a, native_topk):
    import base64

    import datasketches

    out = []
    for r in rows:
        w = {
            "type": "fleet_window",
            "window_index": r["window_index"],
            "start_ts_ns": r["start_ts_ns"],
            "end_ts_ns": r["end_ts_ns"],
            "appliances": list(r["appliances"]),
            "partial": bool(r["any_partial"]),
            "distinct": {
                "src": distinct_of(r["hll_src"], r["src_estimate"] or 0.0),
                "dst": distinct_of(r["hll_dst"], r["dst_estimate"] or 0.0),
            },
            "top": {"src": {}, "dst": {}},
            "top_engine": "approx_top_k_combine" if native_topk else "python-datasketches",
        }
        for c in COUNTERS:
            w[c] = r[c]
        for dim, metric in RANKINGS:
            if native_topk:
                state = r[f"topk_{dim}_{metric}"]
                sk = None
                if state is not None:
                    raw = bytes(state["sketch"])
                    # The state's sketch: frequent-items bytes, then the
                    # 8-byte big-endian count of null items.
                    sk = datasketches.frequent_strings_sketch.deserialize(raw[:-8])
                counts = {e["item"]: e["count"] for e in (r[f"est_{dim}_{metric}"] or [])}
                w["top"][dim][metric] = top_of(sk, a.top, counts)
            else:
                sk = None
                for b in r[f"fi_{dim}_{metric}"] or []:
                    s = datasketches.frequent_strings_sketch.deserialize(base64.b64decode(b))
                    if sk is None:
                        sk = datasketches.frequent_strings_sketch(24)
                    sk.merge(s)
                w["top"][dim][metric] = top_of(sk, a.top)
        out.append(w)
    out.sort(key=lambda w: (w["window_index"], w["start_ts_ns"]))
    return out


def write(out, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for w in out:
            f.write(json.dumps(w) + "\n")
    os.replace(tmp, path)


def main(argv):
    a = args_of(argv)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.appName("netsketch-fleet-merge")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    native = {"spark": True, "python": False}.get(
        a.topk_engine, has_function(spark, "approx_top_k_combine"))
    if a.topk_engine == "auto" and not native:
        print("spark_merge: this Spark has no approx_top_k_combine (4.1+); "
              "top-k merged in Python with datasketches", file=sys.stderr)
    if a.once:
        jobs = [(a.topic, a.out)] + [tuple(x.split("=", 1)) for x in a.also]
        for topic, out in jobs:
            a.topic = topic
            df = merged_frame(spark, a, stream=False, native_topk=native)
            write(finish_rows(df.collect(), a, native), out)
        spark.stop()
        return 0
    df = merged_frame(spark, a, stream=True, native_topk=native)
    q = (df.writeStream.outputMode("complete")
         .foreachBatch(lambda b, _id: write(finish_rows(b.collect(), a, native), a.out))
         .trigger(processingTime=f"{a.trigger} seconds"))
    if a.checkpoint:
        q = q.option("checkpointLocation", a.checkpoint)
    q.start().awaitTermination()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
