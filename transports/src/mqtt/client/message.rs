//! Owned messages: what the application publishes (kept until the broker acknowledges it) and
//! what it receives.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::mqtt::packet::UserProperties;
use crate::mqtt::packet::publish::{Publish, PublishProperties, QoS};

/// The MQTT 5 properties a message carries end to end (ignored on MQTT 3.1.1).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Properties {
    /// Seconds the message stays valid. The client drops it from its offline queue when it
    /// runs out, and sends the time that is left (MQTT 5 Message Expiry Interval).
    pub message_expiry: Option<u32>,
    /// The payload is UTF-8 text (`Some(true)`) or bytes (`Some(false)`).
    pub payload_utf8: Option<bool>,
    /// A MIME type of the payload.
    pub content_type: Option<String>,
    /// A topic to answer to (request/response).
    pub response_topic: Option<String>,
    /// Data that ties an answer to its request.
    pub correlation_data: Option<Vec<u8>>,
    /// Name-value pairs, in order.
    pub user: Vec<(String, String)>,
    /// Received only: the identifier of the subscription that matched.
    pub subscription_id: Option<u32>,
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Properties");
        if let Some(e) = self.message_expiry {
            d.field("message_expiry", &e);
        }
        if let Some(t) = &self.content_type {
            d.field("content_type", t);
        }
        if !self.user.is_empty() {
            d.field("user", &self.user);
        }
        d.finish_non_exhaustive()
    }
}

/// No properties: what a message without any reads.
static NONE: Properties = Properties {
    message_expiry: None,
    payload_utf8: None,
    content_type: None,
    response_topic: None,
    correlation_data: None,
    user: Vec::new(),
    subscription_id: None,
};

impl Properties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        self == &NONE
    }

    /// Copies the properties of a received PUBLISH.
    pub(crate) fn from_received(p: &PublishProperties<'_>) -> Self {
        Properties {
            message_expiry: p.message_expiry,
            payload_utf8: p.payload_utf8,
            content_type: p.content_type.map(String::from),
            response_topic: p.response_topic.map(String::from),
            correlation_data: p.correlation_data.map(Vec::from),
            user: p.user.iter().map(|(k, v)| (String::from(k), String::from(v))).collect(),
            subscription_id: p.subscription_id,
        }
    }

    /// Borrows these properties for encoding; `pairs` holds the borrowed user properties and
    /// `expiry` replaces the message expiry (the time left after waiting in the queue).
    pub(crate) fn borrowed<'a>(
        &'a self,
        pairs: &'a [(&'a str, &'a str)],
        expiry: Option<u32>,
    ) -> PublishProperties<'a> {
        PublishProperties {
            payload_utf8: self.payload_utf8,
            message_expiry: expiry,
            topic_alias: None,
            response_topic: self.response_topic.as_deref(),
            correlation_data: self.correlation_data.as_deref(),
            user: UserProperties::from_pairs(pairs),
            subscription_id: None,
            content_type: self.content_type.as_deref(),
        }
    }
}

/// A message to publish. Build one with [`Message::new`] and the `with_` methods.
///
/// ```
/// use telemetra_transports::mqtt::client::Message;
/// use telemetra_transports::mqtt::packet::publish::QoS;
///
/// let m = Message::new("tm/v1/2a/status", "online").with_qos(QoS::AtLeastOnce).retained();
/// assert!(m.retain);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic name (no wildcards).
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// The quality of service.
    pub qos: QoS,
    /// Whether the broker keeps it as the topic's retained message.
    pub retain: bool,
    /// MQTT 5 properties, boxed only when there are any: a queued message without them
    /// costs 64 bytes plus its topic and payload.
    properties: Option<Box<Properties>>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic)
            .field("payload_len", &self.payload.len())
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .field("properties", self.properties())
            .finish()
    }
}

impl Message {
    /// The MQTT 5 properties.
    pub fn properties(&self) -> &Properties {
        self.properties.as_deref().unwrap_or(&NONE)
    }

    /// The MQTT 5 properties, to change them.
    pub fn properties_mut(&mut self) -> &mut Properties {
        self.properties.get_or_insert_with(Box::default)
    }

    /// A QoS 0, non-retained message.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Message {
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: None,
        }
    }

    /// Sets the quality of service.
    pub fn with_qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// Marks the message retained.
    pub fn retained(mut self) -> Self {
        self.retain = true;
        self
    }

    /// Sets the message expiry in seconds.
    pub fn with_expiry(mut self, seconds: u32) -> Self {
        self.properties_mut().message_expiry = Some(seconds);
        self
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.properties_mut().content_type = Some(content_type.into());
        self
    }

    /// Adds a user property.
    pub fn with_user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties_mut().user.push((name.into(), value.into()));
        self
    }

    /// The bytes this message takes in a queue (topic and payload).
    pub(crate) fn weight(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

/// A message the broker delivered: the same type as one to publish (`retain` set means it was
/// a retained message, sent because a subscription was made, not a live one).
pub type Received = Message;

impl Message {
    pub(crate) fn from_publish(p: &Publish<'_>, topic: String) -> Self {
        let properties = Properties::from_received(&p.properties);
        Message {
            topic,
            payload: Vec::from(p.payload),
            qos: p.qos,
            retain: p.retain,
            properties: (!properties.is_empty()).then(|| Box::new(properties)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_without_properties_is_small() {
        assert!(core::mem::size_of::<Message>() <= 64, "{}", core::mem::size_of::<Message>());
        let m = Message::new("t", "x");
        assert!(m.properties().is_empty());
        let m = m.with_expiry(5).with_user_property("k", "v");
        assert_eq!(m.properties().message_expiry, Some(5));
        assert_eq!(m.properties().user, [("k".into(), "v".into())]);
    }
}
