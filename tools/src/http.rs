//! The HTTP server under `--serve`, made to be exposed to clients that
//! misbehave: hyper's HTTP/1 server on a current-thread tokio runtime of
//! its own thread, so a connection is a task, never a thread.
//!
//! Limits (see [`Limits`]): the request head (request line and headers)
//! is read into a bounded buffer and refused past it; a request that
//! declares a body (`Content-Length` above 0, or any `Transfer-Encoding`)
//! is answered 413 without reading it, and any method but GET and HEAD
//! 405; a head must arrive within the header timeout, which also ends a
//! keep-alive connection idle that long (hyper starts it when it waits for
//! the next head); a request's answer must leave within the request
//! timeout, so a client that never reads its answers (2,000 pipelined
//! requests, say) holds one connection for that long and blocks nobody
//! else; connections over the cap are closed at once. Accept errors
//! (file descriptors running out) are counted and retried after a pause:
//! the listener never stops while the process runs.
//!
//! Self-metrics, in the engine's registry:
//! `netsketch_http_requests_total{code}`,
//! `netsketch_http_rejected_connections_total{reason}` (`connection_cap`,
//! `header_timeout`, `request_timeout`, `head_too_large`, `bad_request`),
//! `netsketch_http_accept_errors_total{kind}` (`fd_limit`, `other`) and
//! `netsketch_http_connections` (open now).

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;

/// What one request is answered with.
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Answers a GET of a path with its query string (`/api/v1/top?k=5`).
pub type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// Bytes of a request head (request line and headers together).
    pub max_head_bytes: usize,
    /// Headers per request.
    pub max_headers: usize,
    /// Time for a request head to arrive, from the moment the connection
    /// waits for one (also the keep-alive idle time).
    pub header_timeout: Duration,
    /// Time for an answer to be written out once its request is in.
    pub request_timeout: Duration,
    /// Pause after a failed accept (EMFILE: let connections close first).
    pub accept_backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            max_head_bytes: 16 << 10,
            max_headers: 64,
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            accept_backoff: Duration::from_millis(100),
        }
    }
}

/// The server's self-metrics.
#[derive(Debug, Clone)]
struct HttpMetrics {
    requests: IntCounterVec,
    rejected: IntCounterVec,
    accept_errors: IntCounterVec,
    open: IntGauge,
}

impl HttpMetrics {
    fn new(registry: &Registry) -> Result<HttpMetrics> {
        let m = HttpMetrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "netsketch_http_requests_total",
                    "HTTP requests answered, by status code",
                ),
                &["code"],
            )?,
            rejected: IntCounterVec::new(
                Opts::new(
                    "netsketch_http_rejected_connections_total",
                    "HTTP connections closed by the server's limits, by reason",
                ),
                &["reason"],
            )?,
            accept_errors: IntCounterVec::new(
                Opts::new(
                    "netsketch_http_accept_errors_total",
                    "Failed accepts of HTTP connections (fd_limit: out of file descriptors), each followed by a pause",
                ),
                &["kind"],
            )?,
            open: IntGauge::new(
                "netsketch_http_connections",
                "HTTP connections open now",
            )?,
        };
        for c in [
            Box::new(m.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.rejected.clone()),
            Box::new(m.accept_errors.clone()),
            Box::new(m.open.clone()),
        ] {
            registry.register(c)?;
        }
        // Every series exists from the start, so a scrape shows zeros.
        for r in [
            "connection_cap",
            "header_timeout",
            "request_timeout",
            "head_too_large",
            "bad_request",
        ] {
            m.rejected.with_label_values(&[r]);
        }
        for k in ["fd_limit", "other"] {
            m.accept_errors.with_label_values(&[k]);
        }
        Ok(m)
    }
}

/// Binds `addr` and serves `handler` on a thread of its own; returns the
/// address bound (port 0 resolved). Errors (the address taken, the
/// runtime not built) come back before the thread starts.
pub fn spawn(
    addr: SocketAddr,
    limits: Limits,
    registry: &Registry,
    handler: Handler,
) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot serve on {addr}"))?;
    let bound = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let metrics = HttpMetrics::new(registry)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start the HTTP server's runtime")?;
    let listener = {
        let _in_runtime = rt.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    std::thread::Builder::new()
        .name("netsketch-http".into())
        .spawn(move || rt.block_on(accept_loop(listener, limits, metrics, handler)))?;
    Ok(bound)
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    limits: Limits,
    metrics: HttpMetrics,
    handler: Handler,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                let fd = matches!(
                    rustix::io::Errno::from_io_error(&e),
                    Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE)
                );
                metrics
                    .accept_errors
                    .with_label_values(&[if fd { "fd_limit" } else { "other" }])
                    .inc();
                tokio::time::sleep(limits.accept_backoff).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics
                .rejected
                .with_label_values(&["connection_cap"])
                .inc();
            drop(stream);
            continue;
        };
        let (metrics, handler) = (metrics.clone(), Arc::clone(&handler));
        tokio::spawn(async move {
            metrics.open.inc();
            if let Some(reason) = connection(stream, limits, &metrics, handler).await {
                metrics.rejected.with_label_values(&[reason]).inc();
            }
            metrics.open.dec();
            drop(slot);
        });
    }
}

/// Serves one connection to its end; returns why the server closed it, if
/// a limit did.
async fn connection(
    stream: tokio::net::TcpStream,
    limits: Limits,
    metrics: &HttpMetrics,
    handler: Handler,
) -> Option<&'static str> {
    let busy = Arc::new(Busy::default());
    let io = TokioIo::new(Watched {
        inner: stream,
        busy: Arc::clone(&busy),
    });
    let svc_busy = Arc::clone(&busy);
    let requests = metrics.requests.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        svc_busy.start();
        let res = answer(&req, &handler);
        requests.with_label_values(&[res.status().as_str()]).inc();
        std::future::ready(Ok::<_, Infallible>(res))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .max_headers(limits.max_headers)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let tick = (limits.request_timeout / 4).max(Duration::from_millis(50));
    loop {
        tokio::select! {
            r = conn.as_mut() => return r.err().and_then(|e| reason_of(&e)),
            () = tokio::time::sleep(tick) => {
                if busy.longer_than(limits.request_timeout) {
                    // Dropping the connection closes the socket.
                    return Some("request_timeout");
                }
            }
        }
    }
}

/// Why hyper gave a connection up, when one of our limits is the cause
/// (a client hanging up is not counted).
fn reason_of(e: &hyper::Error) -> Option<&'static str> {
    if e.is_timeout() {
        Some("header_timeout")
    } else if e.is_parse_too_large() {
        Some("head_too_large")
    } else if e.is_parse() {
        Some("bad_request")
    } else {
        None
    }
}

/// The answer to one request: 413 for a body, 405 for a method other than
/// GET and HEAD, else the handler's.
fn answer(req: &Request<Incoming>, handler: &Handler) -> Response<Full<Bytes>> {
    let h = req.headers();
    let declared = h.get(CONTENT_LENGTH).is_some_and(|v| {
        v.to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .is_none_or(|n| n > 0)
    });
    let reply = if declared || h.contains_key(TRANSFER_ENCODING) {
        Reply {
            code: 413,
            content_type: "text/plain",
            body: b"request bodies are not accepted: the API is GET only\n".to_vec(),
        }
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        Reply {
            code: 405,
            content_type: "text/plain",
            body: b"method not allowed: the API is GET only\n".to_vec(),
        }
    } else {
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        handler(target)
    };
    let code = StatusCode::from_u16(reply.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = Response::new(Full::new(Bytes::from(reply.body)));
    *res.status_mut() = code;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    if code == StatusCode::PAYLOAD_TOO_LARGE {
        // The body is never read: the connection cannot carry another request.
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if code == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    res
}

/// Since when a request's answer has been waiting to be written out (0:
/// none waiting), in ns after `base`.
#[derive(Debug)]
struct Busy {
    base: Instant,
    since_ns: AtomicU64,
}

impl Default for Busy {
    fn default() -> Self {
        Busy {
            base: Instant::now(),
            since_ns: AtomicU64::new(0),
        }
    }
}

impl Busy {
    fn now_ns(&self) -> u64 {
        (self.base.elapsed().as_nanos() as u64).max(1)
    }

    /// A request came in; the clock runs until its answer is flushed.
    fn start(&self) {
        let _ =
            self.since_ns
                .compare_exchange(0, self.now_ns(), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Everything written so far reached the socket.
    fn flushed(&self) {
        self.since_ns.store(0, Ordering::Relaxed);
    }

    fn longer_than(&self, t: Duration) -> bool {
        let s = self.since_ns.load(Ordering::Relaxed);
        s != 0 && self.now_ns().saturating_sub(s) > t.as_nanos() as u64
    }
}

/// A socket that tells [`Busy`] when hyper's buffered answers have all
/// been handed to the kernel (hyper flushes only once its buffer is out).
struct Watched {
    inner: tokio::net::TcpStream,
    busy: Arc<Busy>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) {
            self.busy.flushed();
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Raises this process's open-file limit to its hard limit (a unit's
/// `LimitNOFILE=` or the shell's `ulimit -Hn`) and returns the soft limit
/// now in force, if known.
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current < l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
    getrlimit(Resource::Nofile).current
}
