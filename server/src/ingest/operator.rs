//! What an operator asks of a running pipeline: acknowledge or clear an alarm, send a command.
//! The requests go into the pipeline's own loop, so that the rule engine that decides the
//! alarms hears of them (an acknowledged alarm is not acknowledged again; a cleared one is
//! raised again if its condition still holds), and a hand-sent command is numbered, recorded
//! and sent like those the rules decide.

use telemetra_core::{CommandAction, CommandId, DeviceId};
use tokio::sync::{mpsc, oneshot};

/// A request that did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// The pipeline is not running (stopped, or failed).
    #[error("the ingest pipeline is not running")]
    Stopped,
    /// The store failed to record it (the pipeline stops too).
    #[error("store: {0}")]
    Store(String),
}

/// One request and where its answer goes.
#[derive(Debug)]
pub(crate) enum Request {
    Acknowledge {
        device: DeviceId,
        rule: String,
        reply: oneshot::Sender<Result<bool, OperatorError>>,
    },
    Clear {
        device: DeviceId,
        rule: String,
        reply: oneshot::Sender<Result<bool, OperatorError>>,
    },
    Command {
        device: DeviceId,
        action: CommandAction,
        reply: oneshot::Sender<Result<CommandId, OperatorError>>,
    },
}

/// A handle on a pipeline for an operator (the dashboard, or an app of yours): cheap to clone,
/// answered while the pipeline [runs](super::Ingest::run). Get it from
/// [`Ingest::operator`](super::Ingest::operator).
#[derive(Debug, Clone)]
pub struct Operator {
    tx: mpsc::Sender<Request>,
}

/// Requests queued at most before an operator waits for the pipeline.
const QUEUE: usize = 64;

impl Operator {
    pub(crate) fn channel() -> (Operator, mpsc::Receiver<Request>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Operator { tx }, rx)
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, OperatorError>>) -> Request,
    ) -> Result<T, OperatorError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(request(reply)).await.map_err(|_| OperatorError::Stopped)?;
        answer.await.map_err(|_| OperatorError::Stopped)?
    }

    /// Acknowledges `device`'s active alarm of `rule`: the engine records it (it is not
    /// acknowledged twice) and the store keeps the transition. `false`: the server's rules
    /// hold no such unacknowledged alarm (cleared meanwhile, acknowledged already, or decided
    /// by the device's own rules), and nothing was recorded.
    pub async fn acknowledge(&self, device: DeviceId, rule: &str) -> Result<bool, OperatorError> {
        self.ask(|reply| Request::Acknowledge { device, rule: rule.into(), reply }).await
    }

    /// Clears `device`'s active alarm of `rule` by hand: the engine ends it (its cooldown
    /// starts; a condition that still holds raises it again) and the store keeps the
    /// transition. `false`: the server's rules hold no such active alarm.
    pub async fn clear(&self, device: DeviceId, rule: &str) -> Result<bool, OperatorError> {
        self.ask(|reply| Request::Clear { device, rule: rule.into(), reply }).await
    }

    /// Sends `action` to `device`: numbered after the device's last command, recorded pending,
    /// sent, and sent again at each tick until the transport takes it or it expires (the
    /// pipeline's command lifetime). Returns its id once recorded; its acknowledgement arrives
    /// as a frame and is stored with it.
    pub async fn command(&self, device: DeviceId, action: CommandAction) -> Result<CommandId, OperatorError> {
        self.ask(|reply| Request::Command { device, action, reply }).await
    }
}

/// The next request, or never once every handle is gone (or none was made).
pub(crate) async fn next(requests: &mut Option<mpsc::Receiver<Request>>) -> Request {
    match requests {
        Some(rx) => match rx.recv().await {
            Some(r) => r,
            None => {
                *requests = None;
                core::future::pending().await
            }
        },
        None => core::future::pending().await,
    }
}
