//! The broker's side of identity: mosquitto's dynamic security plugin, driven over MQTT by its
//! control topic. Each device gets a role that confines it to its own routes; each claim a role
//! that lets it reach only its own claim routes.
//!
//! mosquitto 2.0's dynamic security does not substitute `%u` in publish ACLs, so every device
//! and claim has a role of its own, named after it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use telemetra_core::route::{ClaimRoute, FirmwareRoute, claim_topic, firmware_topic};
use telemetra_core::{DeviceId, Route, RouteKind};
use telemetra_transports::mqtt::client::Message;
use telemetra_transports::mqtt::driver::{Config, MqttClient};
use telemetra_transports::mqtt::packet::publish::QoS;

use super::ProvisionError;
use super::claim::{ClaimSecret, claim_username, hex, random};

const CONTROL: &str = "$CONTROL/dynamic-security/v1";
const RESPONSE: &str = "$CONTROL/dynamic-security/v1/response";
const PROVISIONER_ROLE: &str = "tm-provisioner";

/// The routes a device publishes on.
const DEVICE_SENDS: [RouteKind; 5] =
    [RouteKind::Readings, RouteKind::Info, RouteKind::Status, RouteKind::Alerts, RouteKind::Acks];

/// An administrator's connection to mosquitto's dynamic security plugin.
pub struct BrokerAdmin {
    client: MqttClient,
    next: AtomicU64,
    one_at_a_time: tokio::sync::Mutex<()>,
    timeout: Duration,
}

impl core::fmt::Debug for BrokerAdmin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BrokerAdmin").field("client", &self.client.client_id()).finish_non_exhaustive()
    }
}

fn broker_err(e: impl core::fmt::Display) -> ProvisionError {
    ProvisionError::Broker(e.to_string())
}

fn role_of_device(device: DeviceId) -> String {
    format!("tm-device-{device}")
}

fn role_of_claim(claim: &str) -> String {
    format!("tm-claim-{claim}")
}

fn acl(kind: &str, topic: &str) -> Value {
    json!({"acltype": kind, "topic": topic, "priority": 0, "allow": true})
}

/// A password nobody knows: devices authenticate by certificate, never by password.
fn unusable_password() -> Result<String, ProvisionError> {
    let mut b = [0u8; 32];
    random(&mut b)?;
    Ok(hex(&b))
}

impl BrokerAdmin {
    /// Connects with `config` (an administrator's user name and password, over TLS off
    /// loopback) and waits for the connection.
    pub async fn connect(config: Config) -> Result<BrokerAdmin, ProvisionError> {
        let client = MqttClient::start(config).map_err(broker_err)?;
        client.connected().await.map_err(broker_err)?;
        client.subscribe(RESPONSE, QoS::AtLeastOnce).await.map_err(broker_err)?;
        Ok(BrokerAdmin {
            client,
            next: AtomicU64::new(1),
            one_at_a_time: tokio::sync::Mutex::new(()),
            timeout: Duration::from_secs(10),
        })
    }

    /// Runs `commands` and returns each one's response (`Value::Null` where none came back).
    async fn run(&self, commands: Vec<Value>) -> Result<Vec<Value>, ProvisionError> {
        let _one = self.one_at_a_time.lock().await;
        let tag = self.next.fetch_add(1, Ordering::Relaxed).to_string();
        let n = commands.len();
        let commands: Vec<Value> = commands
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c["correlationData"] = Value::String(format!("{tag}.{i}"));
                c
            })
            .collect();
        let payload = serde_json::to_vec(&json!({ "commands": commands })).map_err(broker_err)?;
        self.client
            .publish(Message::new(CONTROL, payload).with_qos(QoS::AtLeastOnce))
            .await
            .map_err(|r| broker_err(r.reason))?;
        let wait = async {
            loop {
                let Some(m) = self.client.recv().await else {
                    return Err(ProvisionError::Broker("the broker connection closed".into()));
                };
                let Ok(mut v) = serde_json::from_slice::<Value>(&m.payload) else { continue };
                let Some(responses) = v["responses"].as_array_mut() else { continue };
                let index = |r: &Value| {
                    let (t, i) = r["correlationData"].as_str()?.split_once('.')?;
                    (t == tag).then(|| i.parse::<usize>().ok()).flatten()
                };
                if responses.iter().any(|r| index(r).is_some()) {
                    let mut out = vec![Value::Null; n];
                    for r in responses.iter_mut() {
                        if let Some(slot) = index(r).and_then(|i| out.get_mut(i)) {
                            *slot = r.take();
                        }
                    }
                    return Ok(out);
                }
            }
        };
        tokio::time::timeout(self.timeout, wait)
            .await
            .map_err(|_| ProvisionError::Broker("no answer from the dynamic security plugin".into()))?
    }

    /// Runs `commands`, accepting the errors `ignore` names (e.g. "not found" on a delete).
    async fn run_all(&self, commands: Vec<Value>, ignore: &[&str]) -> Result<(), ProvisionError> {
        for r in self.run(commands).await? {
            let Some(e) = r["error"].as_str() else { continue };
            if !ignore.iter().any(|i| e.contains(i)) {
                return Err(ProvisionError::Broker(e.to_owned()));
            }
        }
        Ok(())
    }

    /// Denies by default what no role allows (publishing, subscribing), and gives `service` (the
    /// provisioning service's own user name) the right to answer claims.
    ///
    /// Giving a user a role makes mosquitto disconnect that user's clients (this one too, when
    /// the service runs as the administrator): the grant is made once, and confirmed by
    /// reading the user back after the reconnect.
    pub async fn prepare(&self, service: &str) -> Result<(), ProvisionError> {
        let any = claim_topic("x", ClaimRoute::Response).expect("a valid claim id");
        let responses = any.as_str().replace("/x/", "/+/");
        let requests = responses.replace("/response", "/request");
        self.run_all(
            vec![
                json!({"command": "setDefaultACLAccess", "acls": [
                    {"acltype": "publishClientSend", "allow": false},
                    {"acltype": "publishClientReceive", "allow": true},
                    {"acltype": "subscribe", "allow": false},
                    {"acltype": "unsubscribe", "allow": true}]}),
                json!({"command": "createRole", "rolename": PROVISIONER_ROLE, "acls": [
                    acl("publishClientSend", &responses), acl("subscribePattern", &requests)]}),
            ],
            &["already exists"],
        )
        .await?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if self.has_role(service, PROVISIONER_ROLE).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ProvisionError::Broker(format!(
                    "{service} did not get the role {PROVISIONER_ROLE}"
                )));
            }
            let grant = json!({"command": "addClientRole", "username": service, "rolename": PROVISIONER_ROLE, "priority": 10});
            // The answer may be lost to the disconnection; the read-back decides.
            let _ = self.run(vec![grant]).await;
        }
    }

    async fn has_role(&self, username: &str, role: &str) -> Result<bool, ProvisionError> {
        let r = self.run(vec![json!({"command": "getClient", "username": username})]).await?;
        if let Some(e) = r[0]["error"].as_str() {
            return Err(ProvisionError::Broker(format!("{username}: {e}")));
        }
        Ok(r[0]["data"]["client"]["roles"]
            .as_array()
            .is_some_and(|roles| roles.iter().any(|r| r["rolename"] == role)))
    }

    /// Lets claim `id` log in with its secret and reach its own two routes, nothing else.
    pub async fn allow_claim(&self, id: &str, secret: &ClaimSecret) -> Result<(), ProvisionError> {
        let request = claim_topic(id, ClaimRoute::Request).ok_or_else(|| broker_err("invalid claim id"))?;
        let response = claim_topic(id, ClaimRoute::Response).ok_or_else(|| broker_err("invalid claim id"))?;
        let role = role_of_claim(id);
        self.run_all(
            vec![
                json!({"command": "createRole", "rolename": role, "acls": [
                    acl("publishClientSend", &request), acl("subscribeLiteral", &response)]}),
                json!({"command": "createClient", "username": claim_username(id),
                    "password": secret.expose(),
                    "roles": [{"rolename": role, "priority": 0}]}),
            ],
            &[],
        )
        .await
    }

    /// Removes claim `id` (its client, which the broker disconnects, and its role).
    pub async fn remove_claim(&self, id: &str) -> Result<(), ProvisionError> {
        self.run_all(
            vec![
                json!({"command": "deleteClient", "username": claim_username(id)}),
                json!({"command": "deleteRole", "rolename": role_of_claim(id)}),
            ],
            &["not found"],
        )
        .await
    }

    /// Lets `device` (known by its certificate's common name) publish on its own routes (its
    /// firmware requests and status among them) and subscribe to them, nothing else. Idempotent: an earlier grant is replaced.
    pub async fn allow_device(&self, device: DeviceId) -> Result<(), ProvisionError> {
        self.remove_device(device).await?;
        let role = role_of_device(device);
        let mut acls: Vec<Value> =
            DEVICE_SENDS.iter().map(|k| acl("publishClientSend", &Route::new(*k, device).topic())).collect();
        for route in [FirmwareRoute::Get, FirmwareRoute::Status] {
            acls.push(acl("publishClientSend", &firmware_topic(device, route)));
        }
        let mut own = Route::new(RouteKind::Readings, device).topic();
        own.truncate(own.rfind('/').unwrap_or(0));
        acls.push(acl("subscribePattern", &format!("{own}/#")));
        self.run_all(
            vec![
                json!({"command": "createRole", "rolename": role, "acls": acls}),
                json!({"command": "createClient", "username": device.to_string(),
                    "password": unusable_password()?, "roles": [{"rolename": role, "priority": 0}]}),
            ],
            &[],
        )
        .await
    }

    /// Takes `device`'s grant away: the broker disconnects it, and it may publish nothing.
    pub async fn remove_device(&self, device: DeviceId) -> Result<(), ProvisionError> {
        self.run_all(
            vec![
                json!({"command": "deleteClient", "username": device.to_string()}),
                json!({"command": "deleteRole", "rolename": role_of_device(device)}),
            ],
            &["not found"],
        )
        .await
    }

    /// Closes the connection.
    pub async fn close(&self) {
        self.client.disconnect().await;
    }
}
