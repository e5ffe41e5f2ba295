//! A TCP proxy that adds a fixed delay in each direction, for benchmarking against a "remote"
//! SMTP relay on loopback (`tc netem` is not available on the benchmark machines).
//!
//! ```sh
//! cargo build --release --example latency_proxy
//! ./target/release/examples/latency_proxy 127.0.0.1:0 127.0.0.1:2525 10   # 10 ms each way
//! ```
//!
//! Arguments: the address to listen on (port 0 picks a free one), the upstream address and
//! the delay in milliseconds added each way, so a round trip through the proxy takes twice
//! that. The first line on stdout is `listening on ADDR`.
//!
//! Each accepted connection opens its own upstream connection; both sockets have
//! `TCP_NODELAY`. Every chunk read from one side is written to the other `DELAY` after it
//! was read, in order: a delay line, with no bandwidth limit and no reordering, like a long
//! uncongested link. A half-close is forwarded (after the same delay), and an error on either
//! side closes both.
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Chunks in flight per direction before the reader waits for the writer.
const IN_FLIGHT_CHUNKS: usize = 1024;
const CHUNK_BYTES: usize = 64 * 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, upstream, delay_ms] = args.as_slice() else {
        anyhow::bail!("usage: latency_proxy LISTEN_ADDR UPSTREAM_ADDR DELAY_MS_EACH_WAY");
    };
    let upstream: SocketAddr = upstream.parse()?;
    let delay = Duration::from_millis(delay_ms.parse()?);
    let listener = TcpListener::bind(listen.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (client, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(err) = proxy(client, upstream, delay).await {
                eprintln!("latency_proxy: {err}");
            }
        });
    }
}

async fn proxy(client: TcpStream, upstream: SocketAddr, delay: Duration) -> anyhow::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = tokio::spawn(delay_line(client_read, server_write, delay));
    let down = tokio::spawn(delay_line(server_read, client_write, delay));
    let (up, down) = tokio::join!(up, down);
    up??;
    down??;
    Ok(())
}

/// Copies `from` to `to`, each chunk `delay` after it was read.
async fn delay_line(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
) -> anyhow::Result<()> {
    // `None` is the end of the stream.
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(IN_FLIGHT_CHUNKS);
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            // An error ends the stream like an EOF.
            let n: usize = from.read(&mut buf).await.unwrap_or_default();
            let chunk = (n > 0).then(|| buf[..n].to_vec());
            let end = chunk.is_none();
            if tx.send((Instant::now() + delay, chunk)).await.is_err() || end {
                return;
            }
        }
    });
    let written = async {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            match chunk {
                Some(bytes) => to.write_all(&bytes).await?,
                None => break,
            }
        }
        to.shutdown().await
    }
    .await;
    reader.abort();
    Ok(written?)
}
