//! The accept loop: each connection goes to hyper, or — when its first request is an event
//! stream — to [`events::raw`](crate::events), with bounded buffers and timeouts, until
//! graceful shutdown.

use std::time::Duration;

use axum::Router;

use crate::events::raw;

/// Largest amount of response data queued for one connection before its response body stops
/// being polled. It bounds the memory of a slow event-stream reader (hyper's default, ~400 KiB,
/// meant ~400 MiB for 1,000 readers that fell behind); beyond it, a lagging stream waits and
/// later catches up from the event log. It also bounds request headers.
pub const CONNECTION_BUFFER_BYTES: usize = 16 * 1024;

/// Settings of the accept loop.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a new connection may take to send its first request head, counted from the
    /// accept: a connection silent (or trickling) for longer is closed, whichever path would
    /// have served it.
    pub header_timeout: Duration,
    /// Terminate TLS on every connection (HTTP/1.1 over TLS); `None` serves plain HTTP.
    pub tls: Option<crate::Tls>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_timeout: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// in-flight requests to finish. Event streams end when
/// [`ApiConfig::shutdown`](crate::ApiConfig::shutdown) is cancelled, which the `shutdown` future
/// should do. [`serve_with`] with the default options.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ServeOptions::default(), shutdown).await
}

/// [`serve`] with `options`.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then accept again.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (router, watcher) = (router.clone(), graceful.watcher());
        // One deadline for the first request head, from the accept, whichever path serves it:
        // waiting to tell the paths apart must not add to hyper's own timeout.
        let deadline = std::time::Instant::now() + options.header_timeout;
        if let Some(tls) = &options.tls {
            let acceptor = tls.acceptor().clone();
            tokio::spawn(async move {
                // The handshake counts against the first request's deadline.
                let stream = match tokio::time::timeout_at(deadline.into(), acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "connection closed: no TLS handshake within the header timeout");
                        return;
                    }
                };
                // Over TLS every request, event streams included, goes through hyper.
                serve_http(stream, router, watcher, deadline, peer).await;
            });
            continue;
        }
        let fut = async move {
            // Event streams skip hyper's connection machinery (see `events::raw`): with 10,000
            // subscribers its two 8 KiB buffers per connection were most of the memory.
            // Each branch is boxed, so that a connection's task holds the state of the one it
            // takes, not the larger of both.
            match raw::first_bytes(&stream, deadline).await {
                raw::FirstBytes::EventStream => {
                    Box::pin(raw::serve_event_stream(stream, router, deadline)).await;
                    return;
                }
                raw::FirstBytes::Silent => {
                    tracing::debug!(%peer, "connection closed: no request within the header timeout");
                    return;
                }
                raw::FirstBytes::Other => {}
            }
            Box::pin(serve_http(stream, router, watcher, deadline, peer)).await;
        };
        tokio::spawn(fut);
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection's requests with hyper, its first request head due by `deadline`.
async fn serve_http<S>(
    stream: S,
    router: Router,
    watcher: hyper_util::server::graceful::Watcher,
    deadline: std::time::Instant,
    peer: std::net::SocketAddr,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};

    let left = deadline
        .saturating_duration_since(std::time::Instant::now())
        .max(Duration::from_millis(1));
    let service = hyper_util::service::TowerToHyperService::new(router);
    let connection = hyper::server::conn::http1::Builder::new()
        .max_buf_size(CONNECTION_BUFFER_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(left)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
