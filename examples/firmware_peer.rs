//! The host side of the firmware example (`examples/firmware`) while it runs under QEMU:
//! `scripts/size` starts one per binary and checks the exchange.
//!
//! ```text
//! firmware_peer codec PORT       serve QEMU's serial port on PORT: expect readings, send 3 commands, expect 3 acks
//! firmware_peer rules PORT       serve QEMU's serial port on PORT: send a rule set of 5 rules, expect alerts
//! firmware_peer retain URL       publish a retained QoS 2 command for device 2a, then leave
//! firmware_peer coap PORT       bridge QEMU's serial port on PORT (a CoAP datagram per packet) to a CoAP
//!                                server transport: expect readings, send 3 commands, expect 3 acks
//! firmware_peer coap_oscore PORT the same with OSCORE: only requests protected with device 2a's context
//! firmware_peer gateway URL      through the broker, behind the serial gateway: expect readings, send 3
//!                                commands, expect 3 acks
//! firmware_peer node URL         through the broker: expect readings, send the rule set and a command,
//!                                expect the acknowledgement, an alert, and the device's offline status
//! ```
//!
//! Exits 0 when the exchange happened, 1 (with the reason) when it did not.

use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use telemetra::codec::stream::{PacketDecoder, encode_packet, max_packet_len};
use telemetra::codec::{RulePart, limits};
use telemetra::model::text::bounded;
use telemetra::prelude::*;

/// The firmware's device id.
const DEVICE: DeviceId = DeviceId(0x2a);

/// The rule set the firmware runs: one rule per kind of state the engine keeps.
pub const RULES: &str = r#"
rule hot: when temperature > 30 clear when temperature < 28 then alert major "Hot"
rule warm: when avg(temperature, 5m) > 27 then alert minor "Warm on average"
rule sustained: when temperature > 29 for 2m then alert warning "Hot for 2 minutes"
rule quiet: when silent(motion, 10m) then alert info "No motion for 10 minutes"
rule humid: when humidity > 50 times 3 then alert minor "Humid"
"#;

fn rule_frames() -> Result<Vec<Frame>, Box<dyn Error>> {
    let rules = telemetra::rules::parse(RULES)?;
    let count = rules.len() as u8;
    Ok(rules
        .into_iter()
        .enumerate()
        .map(|(i, rule)| {
            let part = RulePart { set_version: 1, index: i as u8, count, rule };
            Frame::new(DEVICE, i as u32 + 1, Message::Rule(part))
        })
        .collect())
}

fn command(id: u32) -> Result<Frame, Box<dyn Error>> {
    let action = CommandAction::SetConfig { key: bounded("key", "period_ms")?, value: Value::Integer(5_000) };
    let cmd = Command { id: CommandId(id), issued_at: Timestamp(0), expires_at: None, action };
    Ok(Frame::new(DEVICE, id, Message::Command(cmd)))
}

fn packet(frame: &Frame) -> Result<Vec<u8>, Box<dyn Error>> {
    let body = frame.to_vec()?;
    let mut out = vec![0u8; max_packet_len(body.len())];
    let n = encode_packet(&body, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// Serves the serial port: `on_frame` sees each frame from the firmware and returns packets
/// to send back; `greeting` goes out after the firmware's first frame (a UART drops what
/// arrives before it is enabled). Returns when the firmware closes the port.
fn serve(
    port: u16,
    greeting: Vec<u8>,
    mut on_frame: impl FnMut(Frame) -> Result<Vec<u8>, Box<dyn Error>>,
) -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("listening");
    std::io::stdout().flush()?;
    let (mut serial, _) = listener.accept()?;
    serial.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut greeting = Some(greeting);
    let mut decoder = PacketDecoder::<{ max_packet_len(limits::MAX_FRAME) }>::new();
    let mut buf = [0u8; 512];
    loop {
        let n = serial.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let mut input = &buf[..n];
        while let Some(packet) = decoder.push(&mut input) {
            let frame = Frame::decode(packet?)?;
            if let Some(g) = greeting.take() {
                serial.write_all(&g)?;
            }
            let reply = on_frame(frame)?;
            serial.write_all(&reply)?;
        }
    }
}

fn codec(port: u16) -> Result<(), Box<dyn Error>> {
    let (mut readings, mut acks, mut sent) = (0, 0, false);
    serve(port, Vec::new(), |frame| {
        let mut reply = Vec::new();
        match frame.message {
            Message::Readings(rs) => {
                readings += rs.len();
                if !sent {
                    sent = true;
                    for id in 1..=3 {
                        reply.extend(packet(&command(id)?)?);
                    }
                }
            }
            Message::Ack(ack) if ack.result == CommandResult::Completed => acks += 1,
            _ => {}
        }
        Ok(reply)
    })?;
    println!("peer: {readings} readings, {acks} commands acknowledged");
    if readings == 0 || acks != 3 {
        return Err("the firmware did not report readings and acknowledge 3 commands".into());
    }
    Ok(())
}

fn rules(port: u16) -> Result<(), Box<dyn Error>> {
    let mut greeting = Vec::new();
    for f in rule_frames()? {
        greeting.extend(packet(&f)?);
    }
    let mut raised = Vec::new();
    serve(port, greeting, |frame| {
        if let Message::Alert(a) = frame.message {
            raised.push(a.rule.to_string());
        }
        Ok(Vec::new())
    })?;
    println!("peer: {} alert transitions from the device ({})", raised.len(), {
        let mut names = raised.clone();
        names.dedup();
        names.join(", ")
    });
    for rule in ["hot", "warm", "sustained", "humid"] {
        if !raised.iter().any(|r| r == rule) {
            return Err(format!("rule `{rule}` did not fire on the device").into());
        }
    }
    Ok(())
}

async fn retain(url: &str) -> Result<(), Box<dyn Error>> {
    use telemetra::mqtt::{Config, Message as MqttMessage, MqttClient, Options, QoS};
    let client = MqttClient::start(Config::new(url, Options::new("firmware-peer-retain"))?)?;
    let topic = Route::new(RouteKind::Commands, DEVICE).topic();
    let m = MqttMessage::new(topic.as_str(), command(7)?.to_vec()?).with_qos(QoS::ExactlyOnce).retained();
    client.publish(m).await?;
    client.disconnect().await;
    Ok(())
}

async fn node(url: &str) -> Result<(), Box<dyn Error>> {
    let mut link = Link::open(url, Role::Server("firmware-peer")).await?;
    for kind in [RouteKind::Readings, RouteKind::Alerts, RouteKind::Acks, RouteKind::Status] {
        link.subscribe(RouteFilter::exact(Route::new(kind, DEVICE))).await?;
    }
    let mut buf = [0u8; limits::MAX_FRAME];
    let (mut readings, mut acked, mut alerts, mut sent) = (0usize, false, Vec::new(), false);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let frame = match tokio::time::timeout(wait, receive_frame(&mut link, &mut buf)).await {
            Err(_) => return Err("timed out waiting for the firmware".into()),
            Ok(frame) => frame?,
        };
        match frame.message {
            Message::Readings(rs) => {
                readings += rs.len();
                if !sent {
                    sent = true;
                    for f in rule_frames()? {
                        send_frame_acked(&mut link, &f).await?;
                    }
                    send_frame_acked(&mut link, &command(1)?).await?;
                }
            }
            Message::Ack(ack) => {
                acked |= ack.command == CommandId(1) && ack.result == CommandResult::Completed
            }
            Message::Alert(a) => alerts.push(a.rule.to_string()),
            Message::Status(DeviceStatus::Offline) => break,
            Message::Status(DeviceStatus::Lost) if sent => {
                return Err("the firmware's connection was lost".into());
            }
            _ => {}
        }
    }
    println!("peer: {readings} readings, command acknowledged: {acked}, {} alerts", alerts.len());
    if readings == 0 || !acked || alerts.is_empty() {
        return Err("the node did not report readings, acknowledge the command and raise an alert".into());
    }
    link.close().await?;
    Ok(())
}

/// The serial port as a datagram link: each COBS+CRC packet from the firmware goes to `udp`
/// as one datagram, each datagram back as one packet. Returns when the firmware closes the port.
async fn bridge(
    mut serial: tokio::net::TcpStream,
    udp: tokio::net::UdpSocket,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut decoder = PacketDecoder::<{ max_packet_len(1400) }>::new();
    let (mut from_serial, mut from_udp) = ([0u8; 512], [0u8; 1500]);
    loop {
        tokio::select! {
            n = serial.read(&mut from_serial) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                let mut input = &from_serial[..n];
                while let Some(packet) = decoder.push(&mut input) {
                    udp.send(packet?).await?;
                }
            }
            n = udp.recv(&mut from_udp) => {
                let datagram = &from_udp[..n?];
                let mut out = vec![0u8; max_packet_len(datagram.len())];
                let len = encode_packet(datagram, &mut out)?;
                serial.write_all(&out[..len]).await?;
            }
        }
    }
}

/// The CoAP firmware's server: with `oscore`, it takes only requests protected with the
/// device's context (the secret `coap_oscore` holds), and no backlog comes first.
async fn coap(port: u16, oscore: bool) -> Result<(), Box<dyn Error>> {
    use telemetra::transports::coap::driver::transport::{CoapServer, ServerConfig};
    use telemetra::transports::coap::oscore::SecurityContext;
    let mut config = ServerConfig::default();
    if oscore {
        config.oscore = vec![SecurityContext::derive(b"device 2a secret", b"tm-1", b"S", b"\x2a", None)?];
    }
    let backlog = if oscore { None } else { Some(15) };
    let mut server = CoapServer::bind("coap://127.0.0.1:0", config).await?;
    for kind in [RouteKind::Readings, RouteKind::Acks] {
        server.subscribe(RouteFilter::exact(Route::new(kind, DEVICE))).await?;
    }
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    udp.connect(server.local_addr()).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening");
    std::io::stdout().flush()?;
    let (serial, _) = listener.accept().await?;
    let link = tokio::spawn(bridge(serial, udp));
    let (readings, acks, mut tx) = exchange(server, backlog).await?;
    link.await?.map_err(|e| e.to_string())?;
    tx.close().await?;
    let protection = if oscore { " with OSCORE" } else { "" };
    println!("peer: {readings} readings, {acks} commands acknowledged over CoAP{protection}");
    Ok(())
}

/// The far side of a gateway: the serial firmware's frames come through the gateway example
/// and the broker at `url`; the commands go back the same way.
async fn gateway(url: &str) -> Result<(), Box<dyn Error>> {
    let mut link = Link::open(url, Role::Server("firmware-peer-gateway")).await?;
    for kind in [RouteKind::Readings, RouteKind::Acks] {
        link.subscribe(RouteFilter::exact(Route::new(kind, DEVICE))).await?;
    }
    let (readings, acks, mut tx) = exchange(link, None).await?;
    tx.close().await.map_err(|e| e.to_string())?;
    println!("peer: {readings} readings, {acks} commands acknowledged through the serial gateway and MQTT");
    Ok(())
}

/// Expects readings (the first frame `backlog` readings long, if given), then sends three
/// commands, each acknowledged by the transport, and expects their three acknowledgement
/// frames; returns the readings and acknowledgements counted, and the sending half (to close
/// once the firmware is done).
async fn exchange<T>(
    transport: T,
    backlog: Option<usize>,
) -> Result<(usize, usize, <T as Transport>::Sender), Box<dyn Error>>
where
    T: Transport,
    <T as Transport>::Sender: 'static,
    <<T as Transport>::Sender as ErrorType>::Error: 'static,
{
    let (tx, mut rx) = transport.split();
    let (mut readings, mut acks, mut commands, mut sender) = (0usize, 0usize, None, Some(tx));
    let mut buf = [0u8; limits::MAX_FRAME];
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks < 3 {
        let wait = deadline.saturating_duration_since(Instant::now());
        let frame = match tokio::time::timeout(wait, receive_frame(&mut rx, &mut buf)).await {
            Err(_) => return Err(format!("timed out: {readings} readings, {acks} acks").into()),
            Ok(frame) => frame.map_err(|e| e.to_string())?,
        };
        match frame.message {
            Message::Readings(rs) => {
                if readings == 0
                    && let Some(n) = backlog
                    && rs.len() != n
                {
                    return Err(
                        format!("the backlog ({n} readings in Block1 blocks) came as {}", rs.len()).into()
                    );
                }
                readings += rs.len();
                if let Some(mut tx) = sender.take() {
                    // Each returns when the firmware acknowledged the command.
                    let frames = (1..=3).map(command).collect::<Result<Vec<_>, _>>()?;
                    commands = Some(tokio::spawn(async move {
                        for f in frames {
                            send_frame_acked(&mut tx, &f).await.map_err(|e| e.to_string())?;
                        }
                        Ok::<_, String>(tx)
                    }));
                }
            }
            Message::Ack(ack) if ack.result == CommandResult::Completed => acks += 1,
            _ => {}
        }
    }
    let tx = commands.ok_or("no readings")?.await?.map_err(|e| e.to_string())?;
    Ok((readings, acks, tx))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("codec"), Some(port)) => port.parse().map_err(Into::into).and_then(codec),
        (Some("rules"), Some(port)) => port.parse().map_err(Into::into).and_then(rules),
        (Some("retain"), Some(url)) => retain(url).await,
        (Some("node"), Some(url)) => node(url).await,
        (Some(path @ ("coap" | "coap_oscore")), Some(port)) => match port.parse() {
            Ok(port) => coap(port, path == "coap_oscore").await,
            Err(e) => Err(Box::new(e) as Box<dyn Error>),
        },
        (Some("gateway"), Some(url)) => gateway(url).await,
        _ => Err("usage: firmware_peer codec|rules|coap|coap_oscore PORT | retain|node|gateway URL".into()),
    };
    if let Err(e) = result {
        eprintln!("firmware_peer: {e}");
        std::process::exit(1);
    }
}
