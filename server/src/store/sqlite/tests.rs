//! What only SQLite has: a database file. The scenarios every store passes are in
//! `tests/support/store_suite.rs`, run on SQLite and PostgreSQL by `tests/store.rs`.

use telemetra_core::{ChannelId, DeviceId, Reading, Timestamp};

use super::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_database_survives_a_reopen_and_one_from_a_newer_build_is_refused() {
    let dir = std::env::temp_dir().join(format!("telemetra-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("telemetry.sqlite");
    let frame = |seq| {
        let r = Reading::new(ChannelId(1), Timestamp(1000 * u64::from(seq)), 2.0);
        Frame::new(DeviceId(7), seq, Message::Readings([r].into_iter().collect()))
    };
    rt().block_on(async {
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.put(vec![frame(1), frame(2)].into(), Timestamp(9000)).await.unwrap().frames, 2);
    });
    rt().block_on(async {
        let s = SqliteStore::open(&path).unwrap();
        let p = s.series(DeviceId(7), ChannelId(1), Timestamp(0), Timestamp(10_000), 10).await.unwrap();
        assert_eq!(p.iter().map(|p| p.count).sum::<u64>(), 2);
        assert_eq!(s.put(vec![frame(2)].into(), Timestamp(9500)).await.unwrap().duplicates, 1);
    });
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute("INSERT INTO schema_version (version) VALUES (99)", []).unwrap();
    }
    assert!(matches!(SqliteStore::open(&path), Err(StoreError::SchemaTooNew { found: 99, .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_database_from_before_the_model_column_gets_its_models_filled() {
    let dir = std::env::temp_dir().join(format!("telemetra-store-models-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("telemetry.sqlite");
    let info = telemetra_core::Device {
        id: DeviceId(0x2a),
        model: telemetra_core::Name::try_from("Power-Meter").unwrap(),
        firmware: telemetra_core::FirmwareVersion::new(1, 0, 0),
        channels: Default::default(),
        tags: Default::default(),
    };
    rt().block_on(async {
        let s = SqliteStore::open(&path).unwrap();
        s.put(vec![Frame::new(DeviceId(0x2a), 1, Message::DeviceInfo(info))].into(), Timestamp(1))
            .await
            .unwrap();
    });
    {
        // The database as schema 4 left it: no model column.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE devices DROP COLUMN model; DELETE FROM schema_version WHERE version = 5;",
        )
        .unwrap();
    }
    rt().block_on(async {
        let s = SqliteStore::open(&path).unwrap();
        let mut filter = DeviceFilter::new(Timestamp(0));
        filter.text = "meter".into();
        let page = s.device_page(filter, 0, 10).await.unwrap();
        assert_eq!(page.rows.iter().map(|r| r.device).collect::<Vec<_>>(), [DeviceId(0x2a)]);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
