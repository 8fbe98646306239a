//! What the client does with each packet the broker sends.

use alloc::string::String;

use super::event::{ClientError, Event};
use super::message::Received;
use super::outbox::{MessageId, Queued};
use super::session::{Client, Stage, State};
use crate::mqtt::packet::connect::{Connack, Disconnect};
use crate::mqtt::packet::publish::{Ack, AckKind, Publish, QoS, Version};
use crate::mqtt::packet::subscribe::SubAck;
use crate::mqtt::packet::wire::{FixedHeader, PacketType};
use crate::mqtt::reason::ReasonCode;

fn protocol(reason: ReasonCode, what: &'static str) -> ClientError {
    ClientError::Protocol { reason, what }
}

impl Client {
    /// Handles the packet at the front of `buf`: `Ok(None)` when it is not complete yet,
    /// otherwise the bytes it took.
    pub(super) fn next_packet(&mut self, buf: &[u8]) -> Result<Option<usize>, ClientError> {
        let Some((header, len)) = FixedHeader::parse(buf, self.opts.maximum_packet_size)
            .map_err(crate::mqtt::packet::PacketError::from)?
        else {
            return Ok(None);
        };
        let end = len + header.remaining as usize;
        if buf.len() < end {
            return Ok(None);
        }
        self.last_received = self.now;
        self.dispatch(header, &buf[len..end])?;
        Ok(Some(end))
    }

    fn dispatch(&mut self, header: FixedHeader, body: &[u8]) -> Result<(), ClientError> {
        let v = self.opts.version;
        if header.kind != PacketType::Connack && self.state != State::Connected {
            return Err(protocol(ReasonCode::PROTOCOL_ERROR, "a packet before CONNACK"));
        }
        match header.kind {
            PacketType::Connack => self.on_connack(body),
            PacketType::Publish => self.on_publish(header, body),
            PacketType::Puback | PacketType::Pubrec | PacketType::Pubrel | PacketType::Pubcomp => {
                self.on_ack(Ack::decode(header, body, v)?)
            }
            PacketType::Suback => self.on_suback(SubAck::decode(header.kind, body, v)?),
            PacketType::Unsuback => {
                let ack = SubAck::decode(header.kind, body, v)?;
                match self.pending_unsubs.iter().position(|p| p.0 == ack.packet_id) {
                    Some(i) => {
                        let (_, filters) = self.pending_unsubs.remove(i);
                        self.push_event(Event::Unsubscribed { filters });
                    }
                    None => self.stats.unknown_acks += 1,
                }
                Ok(())
            }
            PacketType::Pingresp => {
                if !body.is_empty() {
                    return Err(crate::mqtt::packet::PacketError::TrailingBytes { extra: body.len() }.into());
                }
                self.ping_sent = None;
                Ok(())
            }
            PacketType::Disconnect => {
                let d = Disconnect::decode(body, v)?;
                Err(ClientError::ServerDisconnect(ReasonCode(d.reason)))
            }
            PacketType::Auth => {
                Err(protocol(ReasonCode::PROTOCOL_ERROR, "AUTH without an authentication method"))
            }
            PacketType::Connect | PacketType::Subscribe | PacketType::Unsubscribe | PacketType::Pingreq => {
                Err(protocol(ReasonCode::PROTOCOL_ERROR, "a packet only a client sends"))
            }
        }
    }

    fn on_connack(&mut self, body: &[u8]) -> Result<(), ClientError> {
        if self.state != State::Connecting {
            return Err(protocol(ReasonCode::PROTOCOL_ERROR, "a second CONNACK"));
        }
        let v = self.opts.version;
        let c = Connack::decode(body, v)?;
        ClientError::check_connack(v, c.reason)?;
        if c.session_present && self.sent_clean_start {
            return Err(protocol(ReasonCode::PROTOCOL_ERROR, "session present after a clean start"));
        }
        if let Some(id) = c.assigned_client_id {
            self.assigned_id = Some(String::from(id));
        }
        self.limits.receive_maximum = c.receive_maximum.unwrap_or(match v {
            Version::V5 => u16::MAX,
            Version::V3_1_1 => self.opts.v3_in_flight.max(1),
        });
        self.limits.maximum_qos = c.maximum_qos.unwrap_or(QoS::ExactlyOnce);
        self.limits.retain_available = c.retain_available.unwrap_or(true);
        if let Some(max) = c.maximum_packet_size {
            self.limits.maximum_packet_size = max;
        }
        if let Some(ka) = c.server_keep_alive {
            self.limits.keep_alive = ka;
        }
        let resumed = self.ever_connected;
        self.state = State::Connected;
        self.last_error = None;
        self.ever_connected = true;
        self.push_event(Event::Connected { session_present: c.session_present });
        if c.session_present {
            self.redeliver();
        } else {
            self.restart_session(resumed);
        }
        if let Some(birth) = self.opts.birth.clone() {
            let id = MessageId(self.next_message);
            self.next_message += 1;
            let queued = Queued { id, message: birth, since: self.now, deadline: None };
            self.outbox.requeue_front(core::iter::once(queued));
        }
        Ok(())
    }

    /// The broker kept the session: resend unacknowledged messages with DUP (and PUBREL for
    /// those past PUBREC), in their original order, then what was queued meanwhile.
    fn redeliver(&mut self) {
        let later = core::mem::take(&mut self.unsubscribe_later);
        if !later.is_empty() {
            self.send_unsubscribe(later);
        }
        self.send_subscriptions(false);
        let inflight = core::mem::take(&mut self.inflight);
        for f in &inflight {
            match f.stage {
                Stage::Comp => self.send_ack(AckKind::Pubrel, f.pid, 0),
                Stage::Ack | Stage::Rec => {
                    // It was encoded before, with the same topic and a size the broker took.
                    if self.write_publish(&f.queued, Some(f.pid), true).is_ok() {
                        self.stats.redelivered += 1;
                    }
                }
            }
        }
        self.inflight = inflight;
    }

    /// The broker has no session for us: what it never acknowledged goes out again as new
    /// messages (nothing is lost), what it had received (PUBREC) counts as delivered, and
    /// every subscription is made again.
    fn restart_session(&mut self, resumed: bool) {
        self.incoming_qos2.clear();
        self.unsubscribe_later.clear();
        let inflight = core::mem::take(&mut self.inflight);
        let mut again = alloc::vec::Vec::new();
        for f in inflight {
            match f.stage {
                Stage::Comp => self.push_event(Event::Delivered(f.queued.id)),
                Stage::Ack | Stage::Rec => again.push(f.queued),
            }
        }
        self.outbox.requeue_front(again.into_iter());
        for s in &mut self.subs {
            s.confirmed = false;
        }
        self.send_subscriptions(resumed);
    }

    fn on_publish(&mut self, header: FixedHeader, body: &[u8]) -> Result<(), ClientError> {
        let p = Publish::decode(header, body, self.opts.version, self.opts.topic_alias_maximum)?;
        let topic = match p.properties.topic_alias {
            Some(alias) => {
                let slot = &mut self.aliases[usize::from(alias) - 1];
                if p.topic.is_empty() {
                    match slot {
                        Some(t) => t.clone(),
                        None => {
                            return Err(protocol(ReasonCode::TOPIC_ALIAS_INVALID, "an unknown topic alias"));
                        }
                    }
                } else {
                    *slot = Some(String::from(p.topic));
                    String::from(p.topic)
                }
            }
            None => String::from(p.topic),
        };
        match (p.qos, p.packet_id) {
            (QoS::AtMostOnce, _) | (_, None) => self.deliver(Received::from_publish(&p, topic)),
            (QoS::AtLeastOnce, Some(pid)) => {
                self.deliver(Received::from_publish(&p, topic));
                self.send_ack(AckKind::Puback, pid, 0);
            }
            (QoS::ExactlyOnce, Some(pid)) => {
                if self.incoming_qos2.contains(pid) {
                    self.stats.duplicates += 1;
                } else {
                    // More than the Receive Maximum we announced (MQTT 5; 3.1.1 has none) is the
                    // broker's error, but refusing it only makes the broker send the same
                    // messages again on the next connection: taken and counted instead.
                    if self.opts.version == Version::V5
                        && self.incoming_qos2.len() >= usize::from(self.opts.receive_maximum)
                    {
                        self.stats.receive_maximum_exceeded += 1;
                    }
                    self.incoming_qos2.insert(pid);
                    self.deliver(Received::from_publish(&p, topic));
                }
                self.send_ack(AckKind::Pubrec, pid, 0);
            }
        }
        Ok(())
    }

    fn deliver(&mut self, r: Received) {
        self.stats.received += 1;
        self.received.push_back(r);
    }

    fn on_ack(&mut self, ack: Ack<'_>) -> Result<(), ClientError> {
        let pid = ack.packet_id;
        if ack.kind == AckKind::Pubrel {
            let known = self.incoming_qos2.remove(pid);
            let reason = if known { 0 } else { ReasonCode::PACKET_IDENTIFIER_NOT_FOUND.0 };
            self.send_ack(AckKind::Pubcomp, pid, reason);
            return Ok(());
        }
        let expected = match ack.kind {
            AckKind::Puback => Stage::Ack,
            AckKind::Pubrec => Stage::Rec,
            _ => Stage::Comp,
        };
        let Some(i) = self.inflight.iter().position(|f| f.pid == pid) else {
            self.stats.unknown_acks += 1;
            if ack.kind == AckKind::Pubrec {
                self.send_ack(AckKind::Pubrel, pid, ReasonCode::PACKET_IDENTIFIER_NOT_FOUND.0);
            }
            return Ok(());
        };
        let stage = self.inflight[i].stage;
        match (ack.kind, stage) {
            // A PUBREC repeated: answer it again.
            (AckKind::Pubrec, Stage::Comp) => {
                self.send_ack(AckKind::Pubrel, pid, 0);
                return Ok(());
            }
            _ if stage != expected => {
                return Err(protocol(ReasonCode::PROTOCOL_ERROR, "an acknowledgement of the wrong kind"));
            }
            _ => {}
        }
        let reason = ReasonCode(ack.reason);
        if ack.kind == AckKind::Pubrec && !reason.is_error() {
            self.inflight[i].stage = Stage::Comp;
            self.send_ack(AckKind::Pubrel, pid, 0);
            return Ok(());
        }
        let Some(done) = self.inflight.remove(i) else { return Ok(()) };
        let id = done.queued.id;
        self.push_event(if reason.is_error() { Event::Failed { id, reason } } else { Event::Delivered(id) });
        Ok(())
    }

    fn on_suback(&mut self, ack: SubAck<'_>) -> Result<(), ClientError> {
        let Some(i) = self.pending_subs.iter().position(|p| p.pid == ack.packet_id) else {
            self.stats.unknown_acks += 1;
            return Ok(());
        };
        let pending = self.pending_subs.remove(i);
        if ack.codes.len() != pending.filters.len() {
            return Err(protocol(ReasonCode::PROTOCOL_ERROR, "a SUBACK with the wrong number of codes"));
        }
        let mut results = alloc::vec::Vec::with_capacity(ack.codes.len());
        for (filter, &code) in pending.filters.iter().zip(ack.codes) {
            let result = match code {
                0 => Ok(QoS::AtMostOnce),
                1 => Ok(QoS::AtLeastOnce),
                2 => Ok(QoS::ExactlyOnce),
                other => Err(ReasonCode(other)),
            };
            match result {
                // A refused filter is forgotten: it is not made again after a reconnect.
                Err(_) => self.subs.retain(|s| &s.filter != filter),
                Ok(_) => {
                    if let Some(s) = self.subs.iter_mut().find(|s| &s.filter == filter) {
                        s.confirmed = true;
                    }
                }
            }
            self.answers.retain(|(f, _)| f != filter);
            self.answers.push((filter.clone(), result));
            results.push(result);
        }
        if pending.resubscribe {
            self.resubscribing = self.resubscribing.saturating_sub(pending.filters.len());
        }
        let count = pending.filters.len();
        self.push_event(Event::Subscribed { filters: pending.filters, results });
        if pending.resubscribe && self.resubscribing == 0 {
            self.push_event(Event::Resubscribed { filters: count });
        }
        Ok(())
    }
}
