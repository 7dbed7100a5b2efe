//! The sender thread: drains the queue into Kafka with rskafka on a
//! current-thread tokio runtime of its own, one record per produce
//! request, holding each message until it is acknowledged.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use rskafka::chrono::{DateTime, Utc};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use rskafka::record::Record;
use rskafka::BackoffConfig;

use super::{Outgoing, Plan};

/// Longest a connect or a produce may take before it is retried.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Partition clients for the two topics.
struct Conn {
    windows: PartitionClient,
    alerts: PartitionClient,
}

/// FNV-1a: a fixed partition per appliance, so its windows stay in order.
fn partition_of(key: &[u8], partitions: usize) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    (h % partitions.max(1) as u64) as i32
}

async fn connect(plan: &Plan) -> Result<Conn, String> {
    let client = ClientBuilder::new(plan.brokers.clone())
        .client_id("netsketch")
        // rskafka's own retries (which reconnect unseen) end within half a
        // second, so an outage comes back to us as an error and is counted
        // as a reconnect once we get through again; we retry from there.
        .backoff_config(BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            base: 2.0,
            deadline: Some(Duration::from_millis(500)),
        })
        .build()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut topics = client
        .list_topics()
        .await
        .map_err(|e| format!("metadata: {e}"))?;
    // Tansu, like a Kafka with auto.create.topics.enable=false, creates no
    // topic on first produce: create a missing one (one partition).
    for name in [&plan.windows_topic, &plan.alerts_topic] {
        if !topics.iter().any(|t| &t.name == name) {
            let c = client
                .controller_client()
                .map_err(|e| format!("controller: {e}"))?;
            if let Err(e) = c.create_topic(name.as_str(), 1, 1, 5_000).await {
                let exists = e.to_string().contains("TopicAlreadyExists");
                if !exists {
                    return Err(format!("cannot create topic {name}: {e}"));
                }
            }
            topics = client
                .list_topics()
                .await
                .map_err(|e| format!("metadata: {e}"))?;
        }
    }
    let part = |name: &str| {
        let n = topics
            .iter()
            .find(|t| t.name == name)
            .map_or(1, |t| t.partitions.len());
        partition_of(&plan.key, n)
    };
    let windows = client
        .partition_client(
            plan.windows_topic.as_str(),
            part(&plan.windows_topic),
            UnknownTopicHandling::Error,
        )
        .await
        .map_err(|e| format!("topic {}: {e}", plan.windows_topic))?;
    let alerts = client
        .partition_client(
            plan.alerts_topic.as_str(),
            part(&plan.alerts_topic),
            UnknownTopicHandling::Error,
        )
        .await
        .map_err(|e| format!("topic {}: {e}", plan.alerts_topic))?;
    Ok(Conn { windows, alerts })
}

/// Time left before the end-of-run deadline, if it is set.
fn left(plan: &Plan) -> Option<Duration> {
    plan.deadline
        .get()
        .map(|d| d.saturating_duration_since(Instant::now()))
}

/// Drains `rx` until the sink ends it; see the module documentation of
/// `kafka` for the delivery rules.
pub(super) fn run(plan: &Plan, rx: &Receiver<Outgoing>) {
    let c = &plan.counters;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("netsketch: warning: kafka sender: {e}; no message will be sent");
            for _ in rx.iter() {
                c.drops.with_label_values(&["given_up"]).inc();
            }
            return;
        }
    };
    let mut conn: Option<Conn> = None;
    let mut failing = false;
    let mut backoff = FIRST_BACKOFF;
    let mut warned = false;
    let mut warn = |what: &str| {
        if !warned {
            warned = true;
            eprintln!("netsketch: warning: kafka: {what}; retrying (counted in netsketch_kafka_reconnects_total)");
        }
    };
    for msg in rx.iter() {
        let d = plan.depth.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        c.queued.set(d as i64);
        let record = Record {
            key: Some(plan.key.clone()),
            value: Some(msg.value),
            headers: [("schema".to_string(), b"1".to_vec())].into(),
            timestamp: DateTime::<Utc>::from_timestamp_millis(msg.timestamp_ms).unwrap_or_default(),
        };
        let len = record.value.as_ref().map_or(0, Vec::len) as u64;
        let kind = if msg.alert { "alert" } else { "window" };
        loop {
            if left(plan).is_some_and(|l| l.is_zero()) {
                // The run is over and the flush time is spent: this message
                // and every one still queued are given up, counted.
                let rest = rx.try_iter().count() as u64;
                c.drops.with_label_values(&["given_up"]).inc_by(1 + rest);
                plan.depth.store(0, Ordering::Relaxed);
                c.queued.set(0);
                // Later messages (none: the sink has ended) would be too.
                for _ in rx.iter() {
                    c.drops.with_label_values(&["given_up"]).inc();
                }
                return;
            }
            let limit = left(plan).map_or(OP_TIMEOUT, |l| l.min(OP_TIMEOUT));
            if conn.is_none() {
                match rt.block_on(async { tokio::time::timeout(limit, connect(plan)).await }) {
                    Ok(Ok(k)) => {
                        if failing {
                            c.reconnects.inc();
                        }
                        conn = Some(k);
                    }
                    Ok(Err(e)) => {
                        warn(&e);
                        failing = true;
                    }
                    Err(_) => {
                        warn("connect timed out");
                        failing = true;
                    }
                }
            }
            if let Some(k) = &conn {
                let pc = if msg.alert { &k.alerts } else { &k.windows };
                let sent = rt.block_on(async {
                    tokio::time::timeout(
                        limit,
                        pc.produce(vec![record.clone()], Compression::NoCompression),
                    )
                    .await
                });
                match sent {
                    Ok(Ok(_)) => {
                        c.sent.with_label_values(&[kind]).inc();
                        c.sent_bytes.inc_by(len);
                        failing = false;
                        backoff = FIRST_BACKOFF;
                        break;
                    }
                    Ok(Err(e)) => warn(&format!("produce: {e}")),
                    Err(_) => warn("produce timed out"),
                }
                conn = None;
                failing = true;
            }
            let pause = left(plan).map_or(backoff, |l| l.min(backoff));
            std::thread::sleep(pause);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::partition_of;

    #[test]
    fn an_appliance_keeps_its_partition() {
        assert_eq!(partition_of(b"edge-1", 1), 0);
        let p = partition_of(b"edge-1", 8);
        assert!((0..8).contains(&p));
        assert_eq!(partition_of(b"edge-1", 8), p);
    }
}
