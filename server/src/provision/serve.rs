//! The service on MQTT: claim requests in, answers out, a sweep now and then.

use telemetra_codec::provision::{ClaimRequest, ClaimResponse, MAX_RESPONSE_LEN};
use telemetra_core::route::{CLAIM_REQUESTS_FILTER, ClaimRoute, claim_topic, parse_claim_topic};
use telemetra_transports::mqtt::client::Message;
use telemetra_transports::mqtt::driver::MqttClient;
use telemetra_transports::mqtt::packet::publish::QoS;

use super::{ProvisionError, Provisioner};

impl Provisioner {
    /// Answers one message from a claim's request route: the response route's topic and the
    /// encoded answer. `None` (counted as malformed, logged) for a message that does not decode
    /// or names another claim than its route: there is nobody trustworthy to answer.
    pub async fn handle(&self, topic: &str, payload: &[u8]) -> Option<(String, Vec<u8>)> {
        let req = match (parse_claim_topic(topic), ClaimRequest::decode(payload)) {
            (Some((claim, ClaimRoute::Request)), Ok(req)) if req.claim == claim => req,
            (_, Err(e)) => {
                self.count(|s| s.malformed += 1);
                tracing::warn!(topic, "claim request dropped: {e}");
                return None;
            }
            _ => {
                self.count(|s| s.malformed += 1);
                tracing::warn!(topic, "claim request dropped: not its claim's route");
                return None;
            }
        };
        self.count(|s| s.requests += 1);
        let answer = self.answer(&req).await;
        let response = match &answer {
            Ok(certificate) => ClaimResponse::Issued { device: req.device, certificate },
            Err(why) => ClaimResponse::Refused(*why),
        };
        let mut buf = vec![0u8; MAX_RESPONSE_LEN];
        let n = response.encode(&mut buf).ok()?.len();
        buf.truncate(n);
        let topic = claim_topic(req.claim, ClaimRoute::Response)?;
        Some((topic.as_str().to_owned(), buf))
    }

    /// Serves claims on `client` (connected as [`ProvisionConfig::service_username`]) until
    /// the client closes: subscribes to every claim's requests, answers each at QoS 1, and
    /// sweeps every [`ProvisionConfig::sweep_every`].
    ///
    /// [`ProvisionConfig::service_username`]: super::ProvisionConfig::service_username
    /// [`ProvisionConfig::sweep_every`]: super::ProvisionConfig::sweep_every
    pub async fn serve(&self, client: &MqttClient) -> Result<(), ProvisionError> {
        client
            .subscribe(CLAIM_REQUESTS_FILTER, QoS::AtLeastOnce)
            .await
            .map_err(|e| ProvisionError::Broker(e.to_string()))?;
        let mut sweep = tokio::time::interval(self.config.sweep_every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                m = client.recv() => {
                    let Some(m) = m else { return Ok(()) };
                    if let Some((topic, answer)) = self.handle(&m.topic, &m.payload).await
                        && let Err(r) = client.publish(Message::new(topic, answer).with_qos(QoS::AtLeastOnce)).await
                    {
                        tracing::warn!("claim answer not sent: {}", r.reason);
                    }
                }
                _ = sweep.tick() => {
                    if let Err(e) = self.sweep().await {
                        tracing::warn!("provisioning sweep failed: {e}");
                    }
                }
            }
        }
    }
}
