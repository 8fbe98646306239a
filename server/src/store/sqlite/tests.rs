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
