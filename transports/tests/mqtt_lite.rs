//! The lite client (`mqtt::lite`, the firmware's) against a real mosquitto over TCP, driven
//! the way a firmware loop drives it: bytes in, bytes out, the clock passed in.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Mosquitto, tool};
use telemetra_transports::mqtt::ClientError;
use telemetra_transports::mqtt::lite::{LiteClient, LiteEvent, LiteOptions};
use telemetra_transports::mqtt::packet::publish::{QoS, Version};
use telemetra_transports::mqtt::packet::subscribe::Subscription;

/// What the client reported, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Connected(bool),
    Message(String, Vec<u8>, QoS),
    Delivered(u16),
    Subscribed(Vec<u8>),
}

/// A node: the lite client on a TCP connection.
struct Node {
    client: LiteClient<4, 512>,
    stream: TcpStream,
    start: Instant,
    seen: Vec<Seen>,
}

impl Node {
    fn connect(port: u16, options: &LiteOptions<'_>, client: LiteClient<4, 512>) -> Node {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut node = Node { client, stream, start: Instant::now(), seen: Vec::new() };
        let now = node.now();
        node.client.connect(options, now).unwrap();
        node.until(5, |s| s.iter().any(|e| matches!(e, Seen::Connected(_)))).unwrap();
        node
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// One turn of the firmware loop: write the output, read what arrived, run the timers.
    fn turn(&mut self) -> Result<(), ClientError> {
        self.stream.write_all(self.client.output()).unwrap();
        self.client.clear_output();
        let mut buf = [0u8; 256];
        match self.stream.read(&mut buf) {
            Ok(0) => return Err(ClientError::ConnectionLost),
            Ok(n) => {
                let seen = &mut self.seen;
                self.client.handle_input(&buf[..n], &mut |e| {
                    seen.push(match e {
                        LiteEvent::Connected { session_present } => Seen::Connected(session_present),
                        LiteEvent::Message { topic, payload, qos, .. } => {
                            Seen::Message(topic.into(), payload.into(), qos)
                        }
                        LiteEvent::Delivered { packet_id } => Seen::Delivered(packet_id),
                        LiteEvent::Subscribed { codes, .. } => Seen::Subscribed(codes.into()),
                        other => panic!("unexpected {other:?}"),
                    })
                })?;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
        let now = self.now();
        if self.client.next_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now)?;
        }
        self.stream.write_all(self.client.output()).unwrap();
        self.client.clear_output();
        Ok(())
    }

    /// Turns until `done` holds for what was seen, at most `secs` seconds.
    fn until(&mut self, secs: u64, done: impl Fn(&[Seen]) -> bool) -> Result<(), ClientError> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done(&self.seen) {
            assert!(Instant::now() < deadline, "timed out; seen {:?}", self.seen);
            self.turn()?;
        }
        Ok(())
    }
}

fn messages(seen: &[Seen]) -> Vec<(String, Vec<u8>, QoS)> {
    seen.iter()
        .filter_map(|e| match e {
            Seen::Message(t, p, q) => Some((t.clone(), p.clone(), *q)),
            _ => None,
        })
        .collect()
}

fn qos_0_1_2_round_trip(version: Version) {
    let broker = Mosquitto::start("");
    let mut o = LiteOptions::new("lite-round-trip");
    o.version = version;
    let mut node = Node::connect(broker.port, &o, LiteClient::new());
    let now = node.now();
    node.client.subscribe(&[Subscription::new("lite/#", QoS::ExactlyOnce)], now).unwrap();
    node.until(5, |s| s.contains(&Seen::Subscribed(vec![2]))).unwrap();
    let mut pids = Vec::new();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let now = node.now();
        pids.extend(node.client.publish("lite/x", &[qos as u8; 40], qos, false, now).unwrap());
    }
    node.until(5, |s| messages(s).len() == 3 && pids.iter().all(|p| s.contains(&Seen::Delivered(*p))))
        .unwrap();
    let got = messages(&node.seen);
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce].into_iter().enumerate() {
        assert_eq!(got[i], ("lite/x".to_string(), vec![qos as u8; 40], qos));
    }
    // Nothing more arrives: each once.
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        node.turn().unwrap();
    }
    assert_eq!(messages(&node.seen).len(), 3);
    assert!(node.client.is_idle());
}

#[test]
fn qos_0_1_2_both_ways_over_mqtt_5() {
    qos_0_1_2_round_trip(Version::V5);
}

#[test]
fn qos_0_1_2_both_ways_over_mqtt_3_1_1() {
    qos_0_1_2_round_trip(Version::V3_1_1);
}

#[test]
fn keep_alive_holds_an_idle_connection() {
    let broker = Mosquitto::start("");
    let mut o = LiteOptions::new("lite-idle");
    o.keep_alive = 2;
    let mut node = Node::connect(broker.port, &o, LiteClient::new());
    // Two and a half keep alives of silence: the client pings, mosquitto answers and keeps it
    // open (it closes a client silent for one and a half; the margin absorbs a slow machine).
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        node.turn().unwrap();
    }
    let now = node.now();
    node.client.publish("lite/alive", b"yes", QoS::AtLeastOnce, false, now).unwrap();
    node.until(5, |s| s.iter().any(|e| matches!(e, Seen::Delivered(_)))).unwrap();
}

#[test]
fn a_resumed_session_gets_what_was_sent_while_away() {
    let broker = Mosquitto::start("");
    let o = LiteOptions::new("lite-away");
    let mut node = Node::connect(broker.port, &o, LiteClient::new());
    let now = node.now();
    node.client.subscribe(&[Subscription::new("lite/cmd", QoS::AtLeastOnce)], now).unwrap();
    node.until(5, |s| s.contains(&Seen::Subscribed(vec![1]))).unwrap();
    // The node drops off the network; a command is sent meanwhile.
    let Node { mut client, stream, .. } = node;
    drop(stream);
    client.connection_lost();
    let status = tool("mosquitto_pub")
        .args(["-p", &broker.port.to_string(), "-t", "lite/cmd", "-q", "1", "-m", "reboot"])
        .status()
        .unwrap();
    assert!(status.success());
    let mut node = Node::connect(broker.port, &o, client);
    assert_eq!(node.seen[0], Seen::Connected(true), "the broker kept the session");
    node.until(5, |s| !messages(s).is_empty()).unwrap();
    assert_eq!(messages(&node.seen), [("lite/cmd".to_string(), b"reboot".to_vec(), QoS::AtLeastOnce)]);
}
