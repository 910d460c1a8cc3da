//! The lab's CONNECT proxy: tools that hard-code Microsoft's host names (MSAL, azure-identity, roadtx) are
//! pointed at it with their ordinary HTTPS proxy setting, and every tunnel they open, whatever host it
//! names, ends at ztd's own TLS listener, whose certificate (from the lab root) covers those names. It
//! listens on loopback only, and it is bounded: the request head is at most [`MAX_HEAD_BYTES`] and must
//! arrive within [`HEAD_TIMEOUT`], at most [`MAX_TUNNELS`] tunnels are open at once, and a tunnel idle
//! for [`IDLE_TIMEOUT`] is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub const MAX_HEAD_BYTES: usize = 8 * 1024;
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_TUNNELS: usize = 256;
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the lab proxy listens on loopback only; {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// Binds the proxy on `listen` (loopback) and serves it in the background, tunnelling to `target`.
pub async fn start(listen: SocketAddr, target: SocketAddr) -> Result<SocketAddr, ProxyError> {
    if !listen.ip().is_loopback() {
        return Err(ProxyError::NotLoopback(listen));
    }
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| ProxyError::Bind(listen, e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ProxyError::Bind(listen, e))?;
    let slots = Arc::new(Semaphore::new(MAX_TUNNELS));
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                // Full: refuse at once rather than queue.
                tokio::spawn(refuse(client, "503 Service Unavailable"));
                continue;
            };
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(err) = tunnel(client, target).await {
                    tracing::debug!(error = %err, "lab proxy connection ended");
                }
            });
        }
    });
    Ok(local)
}

async fn refuse(mut client: TcpStream, status: &str) {
    let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = client.write_all(answer.as_bytes()).await;
}

/// What the head asked for.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// `CONNECT host:port`, and how many bytes the head took.
    Connect {
        authority: String,
        length: usize,
    },
    /// Another method: ztd's proxy only tunnels.
    NotConnect,
    /// More bytes are needed.
    Partial,
    Invalid,
}

fn parse_head(bytes: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => match (request.method, request.path) {
            (Some(method), Some(path)) if method.eq_ignore_ascii_case("CONNECT") => Head::Connect {
                authority: path.to_string(),
                length,
            },
            _ => Head::NotConnect,
        },
        Ok(httparse::Status::Partial) => Head::Partial,
        Err(_) => Head::Invalid,
    }
}

async fn tunnel(mut client: TcpStream, target: SocketAddr) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let parsed = tokio::time::timeout(HEAD_TIMEOUT, async {
        loop {
            let n = client.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(Head::Invalid);
            }
            head.extend_from_slice(&buf[..n]);
            match parse_head(&head) {
                Head::Partial if head.len() < MAX_HEAD_BYTES => continue,
                Head::Partial => return Ok(Head::Invalid),
                done => return Ok(done),
            }
        }
    })
    .await;
    let (authority, length) = match parsed {
        Ok(Ok(Head::Connect { authority, length })) => (authority, length),
        Ok(Ok(Head::NotConnect)) => {
            refuse(client, "405 Method Not Allowed").await;
            return Ok(());
        }
        Ok(Ok(_)) => {
            refuse(client, "400 Bad Request").await;
            return Ok(());
        }
        Ok(Err(err)) => return Err(err),
        Err(_) => {
            refuse(client, "408 Request Timeout").await;
            return Ok(());
        }
    };
    let mut server = TcpStream::connect(target).await?;
    tracing::debug!(%authority, "lab proxy tunnel");
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    // Bytes the client sent after the head (the start of its TLS handshake) go first.
    if head.len() > length {
        server.write_all(&head[length..]).await?;
    }
    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
    match tokio::time::timeout(IDLE_TIMEOUT, copy).await {
        Ok(result) => result.map(drop),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_complete_connect_head_opens_a_tunnel() {
        assert_eq!(
            parse_head(b"CONNECT login.microsoftonline.com:443 HTTP/1.1\r\nHost: x\r\n\r\nTLS"),
            Head::Connect {
                authority: "login.microsoftonline.com:443".into(),
                length: 59
            }
        );
        assert_eq!(
            parse_head(b"CONNECT login.microsoftonline.com:443 HTTP/1.1\r\n"),
            Head::Partial
        );
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\n\r\n"), Head::NotConnect);
        assert_eq!(parse_head(b"\x16\x03\x01garbage\r\n\r\n"), Head::Invalid);
    }
}
