//! What every store does, the same whatever the database: each scenario takes a fresh,
//! empty store. `tests/store.rs` runs them on SQLite and on PostgreSQL.
#![allow(dead_code)]

use std::time::Duration;

use telemetra_codec::{Frame, Message, batch};
use telemetra_core::{
    Alert, AlertState, ChannelId, Command, CommandAck, CommandAction, CommandId, CommandResult, Device,
    DeviceId, DeviceStatus, FirmwareVersion, Name, Reading, Severity, Text, Timestamp, Value,
};
use telemetra_server::store::{AlarmFilter, DeviceFilter, Presence, Store, Stored};

pub fn readings(device: u64, seq: u32, values: &[(u16, u64, f64)]) -> Frame {
    let rs = values.iter().map(|&(c, at, v)| Reading::new(ChannelId(c), Timestamp(at), v));
    Frame::new(DeviceId(device), seq, Message::Readings(rs.collect()))
}

pub fn alert(device: u64, seq: u32, state: AlertState, at: u64) -> Frame {
    let a = Alert {
        rule: Name::try_from("too_hot").unwrap(),
        device: DeviceId(device),
        state,
        severity: Severity::Major,
        channel: Some(ChannelId(1)),
        value: Some(Value::from(31.5)),
        at: Timestamp(at),
        message: Text::try_from("temperature over 30").unwrap(),
    };
    Frame::new(DeviceId(device), seq, Message::Alert(a))
}

pub async fn a_frame_is_stored_once_however_often_it_comes(s: &impl Store) {
    let f = readings(7, 1, &[(1, 1000, 20.0), (2, 1000, 55.0)]);
    assert_eq!(
        s.put(vec![f.clone()].into(), Timestamp(1)).await.unwrap(),
        Stored { fresh: vec![true], frames: 1, duplicates: 0, readings: 2 }
    );
    // Redelivered, alone and in a batch with a new one.
    let g = readings(7, 2, &[(1, 2000, 21.0)]);
    let stored = s.put(vec![f.clone(), g, f].into(), Timestamp(2)).await.unwrap();
    assert_eq!(stored, Stored { fresh: vec![false, true, false], frames: 1, duplicates: 2, readings: 1 });
    let series = s.series(DeviceId(7), ChannelId(1), Timestamp(0), Timestamp(10_000), 100).await.unwrap();
    assert_eq!(series.iter().map(|p| p.count).sum::<u64>(), 2, "{series:?}");
    // The same sequence from another device is another frame.
    assert_eq!(s.put(vec![readings(8, 1, &[(1, 1000, 5.0)])].into(), Timestamp(3)).await.unwrap().frames, 1);
}

/// A device that restarted numbers its frames from 0 again: its new frames are stored (only a
/// redelivery, the same bytes, is a duplicate); and each status it sends, every one numbered 0
/// by its transport, is applied.
pub async fn a_restarted_device_is_heard_and_every_status_applied(s: &impl Store) {
    let status = |st| Frame::new(DeviceId(7), 0, Message::Status(st));
    s.put(vec![status(DeviceStatus::Online), readings(7, 1, &[(1, 1000, 20.0)])].into(), Timestamp(1))
        .await
        .unwrap();
    s.put(vec![status(DeviceStatus::Offline)].into(), Timestamp(2)).await.unwrap();
    let stored = s
        .put(
            vec![
                status(DeviceStatus::Online),
                readings(7, 1, &[(1, 9000, 23.0)]),
                readings(7, 1, &[(1, 1000, 20.0)]),
            ]
            .into(),
            Timestamp(3),
        )
        .await
        .unwrap();
    assert_eq!(stored, Stored { fresh: vec![true, true, false], frames: 2, duplicates: 1, readings: 1 });
    let row = s.devices().await.unwrap().remove(0);
    assert_eq!(row.status, Some((DeviceStatus::Online, Timestamp(3))));
    assert_eq!(s.latest(DeviceId(7)).await.unwrap()[0].value.as_f64(), Some(23.0));
}

pub async fn latest_keeps_the_newest_reading_even_when_an_older_arrives_later(s: &impl Store) {
    s.put(vec![readings(7, 1, &[(1, 5000, 25.0)])].into(), Timestamp(1)).await.unwrap();
    s.put(vec![readings(7, 2, &[(1, 4000, 24.0), (2, 4000, 60.0)])].into(), Timestamp(2)).await.unwrap();
    let latest = s.latest(DeviceId(7)).await.unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(
        (latest[0].channel, latest[0].at, latest[0].value.as_f64()),
        (ChannelId(1), Timestamp(5000), Some(25.0))
    );
    assert_eq!(latest[1].value.as_f64(), Some(60.0));
    assert!(s.latest(DeviceId(9)).await.unwrap().is_empty());
}

pub async fn a_series_is_downsampled_to_at_most_the_points_asked(s: &impl Store) {
    // 1000 readings, one a second, values 0..999; 16 frames per batch of 16 readings.
    let frames: Vec<Frame> = (0..1000u64)
        .collect::<Vec<_>>()
        .chunks(16)
        .enumerate()
        .map(|(n, c)| {
            readings(7, n as u32, &c.iter().map(|&k| (1u16, k * 1000, k as f64)).collect::<Vec<_>>())
        })
        .collect();
    assert_eq!(s.put(frames.into(), Timestamp(0)).await.unwrap().readings, 1000);
    let p = s.series(DeviceId(7), ChannelId(1), Timestamp(0), Timestamp(1_000_000), 10).await.unwrap();
    assert_eq!(p.len(), 10);
    assert_eq!(p.iter().map(|p| p.count).sum::<u64>(), 1000);
    assert_eq!((p[0].at, p[0].min, p[0].max, p[0].mean), (Timestamp(0), 0.0, 99.0, 49.5));
    assert_eq!((p[9].min, p[9].max), (900.0, 999.0));
    // A window inside: only its readings, `to` excluded.
    let p = s.series(DeviceId(7), ChannelId(1), Timestamp(10_000), Timestamp(20_000), 500).await.unwrap();
    assert_eq!(p.iter().map(|p| p.count).sum::<u64>(), 10);
    assert_eq!(p.len(), 10, "fewer readings than points: one point each");
}

pub async fn batches_alerts_status_descriptors_commands_and_acks_are_kept(s: &impl Store) {
    let series: Vec<Reading> =
        (0..50u64).map(|k| Reading::new(ChannelId(3), Timestamp(k * 1000), 20.0 + k as f64 / 10.0)).collect();
    let mut packed = batch::pack(&series).unwrap();
    assert_eq!(packed.len(), 1);
    let b = packed.remove(0);
    let info = Device {
        id: DeviceId(7),
        model: Name::try_from("th-1").unwrap(),
        firmware: FirmwareVersion::new(1, 2, 3),
        channels: Default::default(),
        tags: Default::default(),
    };
    let frames = vec![
        Frame::new(DeviceId(7), 1, Message::Status(DeviceStatus::Online)),
        Frame::new(DeviceId(7), 2, Message::DeviceInfo(info.clone())),
        Frame::new(DeviceId(7), 3, Message::Batch(b)),
        alert(7, 4, AlertState::Raised, 10_000),
        alert(7, 5, AlertState::Cleared, 20_000),
    ];
    assert_eq!(
        s.put(frames.into(), Timestamp(30_000)).await.unwrap(),
        Stored { fresh: vec![true; 5], frames: 5, duplicates: 0, readings: 50 }
    );
    let devices = s.devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].status, Some((DeviceStatus::Online, Timestamp(30_000))));
    assert_eq!(devices[0].last_seen, Some(Timestamp(30_000)));
    assert_eq!(devices[0].info.as_ref(), Some(&info));
    assert_eq!(s.device(DeviceId(7)).await.unwrap().as_ref(), Some(&devices[0]));
    assert_eq!(s.device(DeviceId(9)).await.unwrap(), None);
    s.set_status(DeviceId(7), DeviceStatus::Lost, Timestamp(90_000)).await.unwrap();
    assert_eq!(s.devices().await.unwrap()[0].status, Some((DeviceStatus::Lost, Timestamp(90_000))));

    let all = s.alerts(None, 10).await.unwrap();
    assert_eq!(all.iter().map(|a| a.state).collect::<Vec<_>>(), [AlertState::Cleared, AlertState::Raised]);
    assert_eq!(all[0].value.as_ref().and_then(Value::as_f64), Some(31.5));
    assert_eq!(s.alerts(Some(AlertState::Raised), 10).await.unwrap().len(), 1);
    assert_eq!(s.latest(DeviceId(7)).await.unwrap()[0].value.as_f64(), Some(24.9));

    assert_eq!(s.last_command_id(DeviceId(7)).await.unwrap(), None);
    let cmd = Command {
        id: CommandId(41),
        issued_at: Timestamp(40_000),
        expires_at: Timestamp(40_000).checked_add(Duration::from_secs(60)),
        action: CommandAction::Reboot { delay_ms: 0 },
    };
    s.put_command(DeviceId(7), cmd.clone()).await.unwrap();
    assert_eq!(s.last_command_id(DeviceId(7)).await.unwrap(), Some(41));
    let ack = CommandAck { command: CommandId(41), at: Timestamp(41_000), result: CommandResult::Completed };
    s.put(vec![Frame::new(DeviceId(7), 6, Message::Ack(ack))].into(), Timestamp(41_000)).await.unwrap();
    let rows = s.commands(DeviceId(7)).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].command.clone(), rows[0].ack), (cmd, Some(ack)));
}

/// A command for device 7 issued at `at`, valid for a minute.
pub fn command(id: u32, at: u64) -> Command {
    Command {
        id: CommandId(id),
        issued_at: Timestamp(at),
        expires_at: Timestamp(at).checked_add(Duration::from_secs(60)),
        action: CommandAction::Reboot { delay_ms: 0 },
    }
}

/// A command is recorded before it is sent: pending (oldest first) until marked sent, and no
/// longer once it expired.
pub async fn a_command_is_pending_until_sent_and_until_it_expires(s: &impl Store) {
    s.put_command(DeviceId(7), command(2, 20_000)).await.unwrap();
    s.put_command(DeviceId(7), command(1, 10_000)).await.unwrap();
    s.put_command(DeviceId(8), command(1, 15_000)).await.unwrap();
    let pending = |now| async move {
        let p = s.pending_commands(Timestamp(now), 10).await.unwrap();
        p.iter().map(|(d, c)| (d.0, c.id.0)).collect::<Vec<_>>()
    };
    assert_eq!(pending(30_000).await, [(7, 1), (8, 1), (7, 2)]);
    s.command_sent(DeviceId(8), CommandId(1), Timestamp(31_000)).await.unwrap();
    assert_eq!(pending(31_000).await, [(7, 1), (7, 2)]);
    assert_eq!(pending(75_000).await, [(7, 2)], "command 1 of device 7 expired at 70 s");
    assert_eq!(s.pending_commands(Timestamp(0), 1).await.unwrap().len(), 1, "at most the limit");
    let rows = s.commands(DeviceId(8)).await.unwrap();
    assert_eq!(rows[0].sent_at, Some(Timestamp(31_000)));
    assert_eq!(s.commands(DeviceId(7)).await.unwrap()[0].sent_at, None);
}

pub async fn retention_deletes_by_age(s: &impl Store) {
    s.put(vec![readings(7, 1, &[(1, 1000, 1.0)]), readings(7, 2, &[(1, 9000, 2.0)])].into(), Timestamp(9000))
        .await
        .unwrap();
    s.put(vec![alert(7, 3, AlertState::Raised, 500)].into(), Timestamp(9000)).await.unwrap();
    assert_eq!(s.retain(Timestamp(5000)).await.unwrap(), 1);
    assert!(s.alerts(None, 10).await.unwrap().is_empty());
    let p = s.series(DeviceId(7), ChannelId(1), Timestamp(0), Timestamp(10_000), 10).await.unwrap();
    assert_eq!(p.iter().map(|p| p.count).sum::<u64>(), 1);
    // The frame keys of the kept frames survive: a redelivery is still a duplicate.
    assert_eq!(
        s.put(vec![readings(7, 2, &[(1, 9000, 2.0)])].into(), Timestamp(9500)).await.unwrap().duplicates,
        1
    );
}

pub async fn an_alert_transition_is_stored_once_and_history_reads_back_in_order(s: &impl Store) {
    let Message::Alert(a) = alert(7, 1, AlertState::Raised, 10_000).message else { unreachable!() };
    assert!(s.put_alert(a.clone(), vec![command(1, 10_000)]).await.unwrap(), "new");
    assert!(!s.put_alert(a.clone(), vec![command(2, 10_000)]).await.unwrap(), "decided again: skipped");
    let ids: Vec<_> = s.commands(DeviceId(7)).await.unwrap().iter().map(|c| c.command.id.0).collect();
    assert_eq!(ids, [1], "the commands of a transition decided again are not recorded");
    // The same transition as a device's frame is skipped too; its clearing is not.
    s.put(
        vec![alert(7, 2, AlertState::Raised, 10_000), alert(7, 3, AlertState::Cleared, 12_000)].into(),
        Timestamp(1),
    )
    .await
    .unwrap();
    let states: Vec<_> = s.alerts(None, 10).await.unwrap().iter().map(|a| a.state).collect();
    assert_eq!(states, [AlertState::Cleared, AlertState::Raised]);
    // As alarms stand: rule 1 of device 7 cleared; raised again and acknowledged on device 8.
    for (state, at) in [(AlertState::Raised, 11_000), (AlertState::Acknowledged, 13_000)] {
        let Message::Alert(b) = alert(8, 1, state, at).message else { unreachable!() };
        s.put_alert(b, vec![]).await.unwrap();
    }
    let standing: Vec<_> =
        s.alarms(AlarmFilter::Any, 10).await.unwrap().iter().map(|a| (a.device.0, a.state, a.at.0)).collect();
    assert_eq!(standing, [(8, AlertState::Acknowledged, 13_000), (7, AlertState::Cleared, 12_000)]);
    let acked = s.alarms(AlarmFilter::In(AlertState::Acknowledged), 10).await.unwrap();
    assert_eq!(acked.len(), 1);
    assert!(
        s.alarms(AlarmFilter::In(AlertState::Raised), 10).await.unwrap().is_empty(),
        "none stands raised"
    );
    assert_eq!(s.alarms(AlarmFilter::Any, 1).await.unwrap().len(), 1);
    let active: Vec<_> =
        s.alarms(AlarmFilter::Active, 10).await.unwrap().iter().map(|a| a.device.0).collect();
    assert_eq!(active, [8], "acknowledged is active, cleared is not");
    // Record order decides, not the stamps: an acknowledgement stamped by a clock behind the
    // device's still follows the raise.
    for (state, at) in [(AlertState::Raised, 20_000), (AlertState::Acknowledged, 15_000)] {
        let Message::Alert(b) = alert(9, 1, state, at).message else { unreachable!() };
        s.put_alert(b, vec![]).await.unwrap();
    }
    let nine: Vec<_> =
        s.alarms(AlarmFilter::Any, 10).await.unwrap().into_iter().filter(|a| a.device.0 == 9).collect();
    assert_eq!(nine.iter().map(|a| a.state).collect::<Vec<_>>(), [AlertState::Acknowledged]);

    s.put(
        vec![
            readings(7, 10, &[(1, 3000, 3.0), (2, 3000, 30.0)]),
            readings(7, 11, &[(1, 1000, 1.0)]),
            readings(8, 1, &[(1, 2000, 99.0)]),
            readings(7, 12, &[(1, 2000, 2.0), (1, 9000, 9.0)]),
        ]
        .into(),
        Timestamp(2),
    )
    .await
    .unwrap();
    let history = s.readings(DeviceId(7), Timestamp(1000), Timestamp(9000), 10).await.unwrap();
    let got: Vec<_> = history.iter().map(|r| (r.channel.0, r.at.0, r.value.as_f64().unwrap())).collect();
    assert_eq!(got, [(1, 1000, 1.0), (1, 2000, 2.0), (1, 3000, 3.0), (2, 3000, 30.0)]);
    assert_eq!(s.readings(DeviceId(7), Timestamp(0), Timestamp(10_000), 2).await.unwrap().len(), 2);
}

pub async fn a_fleet_lists_a_page_at_a_time_filtered_and_counted(s: &impl Store) {
    let info = |id: u64| Device {
        id: DeviceId(id),
        model: Name::try_from(if id % 2 == 1 { "TH-a" } else { "pm-b" }).unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: Default::default(),
        tags: Default::default(),
    };
    // Devices 1-19 heard at 10 s, 20-30 at 1 s; 3 left its will, 4 said goodbye.
    let recent: Vec<Frame> =
        (1..20).map(|d| Frame::new(DeviceId(d), 1, Message::DeviceInfo(info(d)))).collect();
    s.put(recent.into(), Timestamp(10_000)).await.unwrap();
    let old: Vec<Frame> =
        (20..=30).map(|d| Frame::new(DeviceId(d), 1, Message::DeviceInfo(info(d)))).collect();
    s.put(old.into(), Timestamp(1_000)).await.unwrap();
    let statuses = vec![
        Frame::new(DeviceId(3), 0, Message::Status(DeviceStatus::Lost)),
        Frame::new(DeviceId(4), 0, Message::Status(DeviceStatus::Offline)),
    ];
    s.put(statuses.into(), Timestamp(10_000)).await.unwrap();

    let all = DeviceFilter::new(Timestamp(5_000));
    let page = s.device_page(all.clone(), 10, 5).await.unwrap();
    let ids: Vec<u64> = page.rows.iter().map(|r| r.device.0).collect();
    assert_eq!(ids, [11, 12, 13, 14, 15], "by id, from the offset");
    assert_eq!(page.rows[0].info.as_ref().map(|i| i.model.as_str()), Some("TH-a"));
    assert_eq!((page.matching, page.counts, page.total()), (30, [17, 12, 1], 30));

    let find = |text: &str, presence: Option<Presence>| {
        let mut f = all.clone();
        f.text = text.into();
        f.presence = presence;
        async move { s.device_page(f, 0, 100).await.unwrap() }
    };
    let by_id = find("1", None).await;
    assert_eq!(by_id.matching, 16, "1 and 0x10-0x1e: the id's hex");
    assert_eq!(by_id.counts, page.counts, "the counts are the fleet's, whatever the filter");
    assert_eq!(find("th-A", None).await.matching, 15, "models, ignoring case");
    let lost = find("", Some(Presence::Lost)).await;
    assert_eq!(lost.rows.iter().map(|r| r.device.0).collect::<Vec<_>>(), [3]);
    let offline_meters = find(" PM ", Some(Presence::Offline)).await;
    let ids: Vec<u64> = offline_meters.rows.iter().map(|r| r.device.0).collect();
    assert_eq!(ids, [4, 20, 22, 24, 26, 28, 30]);
    // The store's judgement is Presence::of's.
    for p in Presence::ALL {
        for row in find("", Some(p)).await.rows {
            assert_eq!(Presence::of(&row, all.heard_since), p, "{row:?}");
        }
    }
    assert!(find("zz", None).await.rows.is_empty());
}

/// Calls `$each!` with the name of every scenario.
macro_rules! scenarios {
    ($each:ident) => {
        $each!(
            a_frame_is_stored_once_however_often_it_comes,
            a_restarted_device_is_heard_and_every_status_applied,
            latest_keeps_the_newest_reading_even_when_an_older_arrives_later,
            a_series_is_downsampled_to_at_most_the_points_asked,
            batches_alerts_status_descriptors_commands_and_acks_are_kept,
            retention_deletes_by_age,
            an_alert_transition_is_stored_once_and_history_reads_back_in_order,
            a_command_is_pending_until_sent_and_until_it_expires,
            a_fleet_lists_a_page_at_a_time_filtered_and_counted
        );
    };
}
