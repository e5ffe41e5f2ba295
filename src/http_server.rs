//! The HTTP/1 accept loop: axum's router on hyper, with a header read timeout.
//!
//! `axum::serve` gives hyper no timer, so hyper's header read timeout never fires and a
//! client that sends one header line every few seconds holds its connection forever. This
//! loop is `axum::serve` with a timer and `HTTP_HEADER_READ_TIMEOUT_MS`; it keeps WebSocket
//! upgrades and graceful shutdown (stop accepting, let every connection finish).
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// Serves `router` on `listener` until `shutdown` completes, then waits for open
/// connections to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let (done, all_done) = watch::channel(());
    tokio::pin!(shutdown);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait, as axum::serve does.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Handlers can read the peer address with `ConnectInfo<SocketAddr>`, as with
        // `into_make_service_with_connect_info`.
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.clone();
        let all_done = all_done.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::debug!(error = %err, "connection ended with an error");
                        }
                        break;
                    }
                    Ok(()) = stopping.changed() => connection.as_mut().graceful_shutdown(),
                }
            }
            drop(all_done);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(all_done);
    done.closed().await;
    Ok(())
}
