//! Every store scenario (`support/store_suite.rs`) on SQLite, one test each, and on a real
//! PostgreSQL server the test starts (feature `postgres`); then what only a database server
//! shared by many instances asks: migrating at once, writing the same frames at once, a
//! connection dropped under the store.

#[macro_use]
#[path = "support/store_suite.rs"]
mod store_suite;

#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod server;

mod sqlite {
    use telemetra_server::store::SqliteStore;

    macro_rules! each_on_sqlite {
        ($($name:ident),*) => {$(
            #[tokio::test]
            async fn $name() {
                crate::store_suite::$name(&SqliteStore::in_memory().unwrap()).await;
            }
        )*};
    }
    scenarios!(each_on_sqlite);
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::server::Postgres;
    use futures_util::future::join_all;
    use telemetra_core::Timestamp;
    use telemetra_server::store::{PostgresStore, Store, StoreError};
    use tokio_postgres::NoTls;

    use crate::store_suite::readings;

    async fn client(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }

    macro_rules! all_on_postgres {
        ($($name:ident),*) => {
            /// One server for every scenario, a fresh database for each.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn every_scenario_on_postgresql() {
                let pg = Postgres::start(false);
                $(
                    let store = PostgresStore::connect(&pg.database()).await.unwrap();
                    crate::store_suite::$name(&store).await;
                )*
            }
        };
    }
    scenarios!(all_on_postgres);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_share_a_database_migrated_once_and_store_a_frame_once() {
        let pg = Postgres::start(false);
        let url = pg.database();
        // Four instances start at once on an empty database.
        let opened = join_all((0..4).map(|_| PostgresStore::connect(&url))).await;
        let stores: Vec<Arc<PostgresStore>> = opened.into_iter().map(|s| Arc::new(s.unwrap())).collect();
        let c = client(&url).await;
        let versions: i64 = c.query_one("SELECT COUNT(*) FROM schema_version", &[]).await.unwrap().get(0);
        assert_eq!(versions, 5, "each migration ran once");

        // Each writes the same 200 frames (a redelivery after a failover) at once.
        let frames: Arc<[_]> = (0..200u32).map(|k| readings(9, k, &[(1, u64::from(k) * 10, 1.0)])).collect();
        let mut tasks = Vec::new();
        for s in &stores {
            let (s, frames) = (s.clone(), frames.clone());
            tasks.push(tokio::spawn(async move { s.put(frames, Timestamp(1)).await.unwrap() }));
        }
        let mut fresh = 0;
        for t in tasks {
            fresh += t.await.unwrap().frames;
        }
        assert_eq!(fresh, 200, "each frame is fresh for exactly one instance");
        let rows: i64 = c.query_one("SELECT COUNT(*) FROM readings", &[]).await.unwrap().get(0);
        assert_eq!(rows, 200);

        // A database a newer build migrated is refused, not damaged.
        c.execute("INSERT INTO schema_version (version) VALUES (99)", &[]).await.unwrap();
        assert!(matches!(
            PostgresStore::connect(&url).await,
            Err(StoreError::SchemaTooNew { found: 99, known: 5 })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_the_server_drops_is_opened_again() {
        let pg = Postgres::start(false);
        let url = pg.database();
        let store = PostgresStore::connect(&url).await.unwrap();
        assert_eq!(
            store.put(vec![readings(1, 1, &[(1, 10, 1.0)])].into(), Timestamp(1)).await.unwrap().frames,
            1
        );
        assert_eq!(store.latest(telemetra_core::DeviceId(1)).await.unwrap().len(), 1);
        let c = client(&url).await;
        let killed: i64 = c
            .query_one(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(killed, 2, "the store's writer and reader");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stored = store.put(vec![readings(1, 2, &[(1, 20, 2.0)])].into(), Timestamp(2)).await.unwrap();
        assert_eq!(stored.frames, 1);
        assert_eq!(store.latest(telemetra_core::DeviceId(1)).await.unwrap()[0].value.as_f64(), Some(2.0));
    }
}
