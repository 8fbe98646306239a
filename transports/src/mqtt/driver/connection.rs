//! The I/O task: opens the stream, runs one connection until it ends, backs off, reconnects.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, sleep_until, timeout};

use super::backoff::{Backoff, Jitter};
use super::stream::{Opener, Stream};
use super::{OpenError, Shared};
use crate::mqtt::client::LinkError;

const READ_BUFFER: usize = 4 * 1024;

pub(crate) async fn run(shared: Arc<Shared>, opener: Opener, backoff: Backoff, open_timeout: Duration) {
    let seed = {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let id = shared.lock().client.client_id().bytes().fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        now.as_nanos() as u64 ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    };
    let mut jitter = Jitter::new(seed);
    let mut attempt = 0u32;
    loop {
        if shared.lock().client.is_closed() {
            break;
        }
        match timeout(open_timeout, opener.open()).await {
            Ok(Ok(stream)) => {
                // Only a connection that stayed up starts the delays afresh.
                if connection(&shared, stream).await.is_some_and(|up| up >= backoff.stable_after) {
                    attempt = 0;
                }
            }
            failed => {
                let (why, cause) = match failed {
                    Ok(Err(e)) => {
                        (OpenError::Failed { kind: e.kind(), message: e.to_string() }, classify(&e))
                    }
                    _ => (OpenError::TimedOut { after: open_timeout }, LinkError::TimedOut),
                };
                let now = shared.now();
                let mut g = shared.lock();
                tracing::warn!(client_id = g.client.client_id(), attempt, error = %why, "MQTT broker could not be reached");
                g.open_error = Some(why);
                g.client.open_failed(now, cause);
            }
        }
        shared.app.notify_waiters();
        if shared.lock().client.is_closed() {
            break;
        }
        let delay = backoff.delay(attempt, jitter.next());
        tracing::debug!(attempt, ?delay, "MQTT reconnect after back-off");
        attempt = attempt.saturating_add(1);
        let deadline = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = sleep_until(deadline) => break,
                _ = shared.io.notified() => {
                    // Expire queued messages and notice a shutdown while waiting.
                    let now = shared.now();
                    let mut g = shared.lock();
                    let _ = g.client.handle_timeout(now);
                    if g.client.is_closed() {
                        break;
                    }
                }
            }
        }
        shared.app.notify_waiters();
    }
    shared.lock().task_done = true;
    shared.app.notify_waiters();
}

/// Runs one connection on `stream`; how long it was up after CONNACK (`None`: no CONNACK).
async fn connection(shared: &Shared, stream: Box<dyn Stream>) -> Option<Duration> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    shared.lock().client.connect(shared.now());
    let mut wbuf: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut rbuf = vec![0u8; READ_BUFFER];
    let mut reached: Option<Instant> = None;
    loop {
        let (deadline, want_read, live) = {
            let mut g = shared.lock();
            if pos == wbuf.len() {
                wbuf.clear();
                pos = 0;
                // Take more only when the last batch is written: the queue, not this buffer,
                // holds what a slow link cannot take yet.
                g.client.take_output(&mut wbuf);
            }
            if reached.is_none() && g.client.is_connected() {
                reached = Some(Instant::now());
                tracing::info!(client_id = g.client.client_id(), "MQTT connected");
            }
            let live = g.client.is_connected() || g.client.is_connecting();
            if !live {
                g.client.take_output(&mut wbuf);
            }
            g.unsent = wbuf.len() - pos;
            (g.client.next_timeout(), g.client.wants_input(), live)
        };
        shared.app.notify_waiters();
        if !live {
            // Ended by an error or by disconnect: send what is left (a DISCONNECT), briefly.
            let _ = timeout(Duration::from_secs(1), async {
                wr.write_all(&wbuf[pos..]).await?;
                wr.shutdown().await
            })
            .await;
            shared.lock().unsent = 0;
            return reached.map(|at| at.elapsed());
        }
        let sleep_for = deadline.map(|d| shared.instant(d));
        tokio::select! {
            r = rd.read(&mut rbuf), if want_read => {
                let now = shared.now();
                let mut g = shared.lock();
                match r {
                    Ok(0) => {
                        tracing::info!("MQTT connection closed by the broker");
                        if reached.is_none() {
                            g.open_error = Some(failed_before_connack(&std::io::ErrorKind::UnexpectedEof.into()));
                        }
                        g.client.link_failed(now, LinkError::Closed);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "MQTT connection failed");
                        // Before CONNACK this is part of opening the connection (a TLS 1.3
                        // server refuses a client certificate after the client's handshake).
                        if reached.is_none() {
                            g.open_error = Some(failed_before_connack(&e));
                        }
                        g.client.link_failed(now, classify(&e));
                    }
                    // An error ends the connection; the loop sends the DISCONNECT and returns.
                    Ok(n) => {
                        if let Err(e) = g.client.handle_input(&rbuf[..n], now) {
                            tracing::warn!(error = %e, "MQTT connection ended");
                        }
                    }
                }
            }
            w = wr.write(&wbuf[pos..]), if pos < wbuf.len() => match w {
                Ok(n) if n > 0 => pos += n,
                w => {
                    tracing::warn!(error = ?w.as_ref().err(), "MQTT write failed");
                    let cause = w.err().map_or(LinkError::Closed, |e| classify(&e));
                    let now = shared.now();
                    shared.lock().client.link_failed(now, cause);
                }
            },
            _ = sleep_until(sleep_for.unwrap_or_else(Instant::now)), if sleep_for.is_some() => {
                let now = shared.now();
                if let Err(e) = shared.lock().client.handle_timeout(now) {
                    tracing::warn!(error = %e, "MQTT connection ended");
                }
            }
            _ = shared.io.notified() => {}
        }
    }
}

/// What a failure before CONNACK is kept as in `last_open_error`: a close or a reset says so
/// (plaintext spoken to a TLS port ends that way), any other error as it is.
fn failed_before_connack(e: &std::io::Error) -> OpenError {
    let message = match classify(e) {
        LinkError::Closed | LinkError::Reset => format!("{} ({e})", LinkError::ClosedBeforeConnack),
        _ => e.to_string(),
    };
    OpenError::Failed { kind: e.kind(), message }
}

/// What an I/O error from the stream says about the link, in the client's terms: a TLS alert
/// the broker sent, a TLS failure here, or the I/O error's kind.
pub(crate) fn classify(e: &std::io::Error) -> LinkError {
    #[cfg(feature = "tls")]
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::AlertReceived(alert) => LinkError::TlsAlert(u8::from(*alert)),
            _ => LinkError::Tls,
        };
    }
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => LinkError::Refused,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => LinkError::Reset,
        K::TimedOut => LinkError::TimedOut,
        K::UnexpectedEof => LinkError::Closed,
        _ => LinkError::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn io_errors_say_what_happened() {
        assert_eq!(classify(&Error::from(ErrorKind::ConnectionRefused)), LinkError::Refused);
        assert_eq!(classify(&Error::from(ErrorKind::ConnectionReset)), LinkError::Reset);
        assert_eq!(classify(&Error::other("x")), LinkError::Io);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_errors_say_which_side() {
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let e = Error::new(ErrorKind::InvalidData, alert);
        assert_eq!(classify(&e), LinkError::TlsAlert(0x74));
        assert!(classify(&e).is_tls_refusal());
        assert_eq!(classify(&e).to_string(), "TLS alert from the broker: certificate required (0x74)");
        let local = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(classify(&Error::new(ErrorKind::InvalidData, local)), LinkError::Tls);
    }
}
