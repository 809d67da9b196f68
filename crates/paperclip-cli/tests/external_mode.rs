//! External PostgreSQL: `DATABASE_URL`, `DATABASE_MIGRATION_URL`, and a real transaction pooler.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn database_url_selects_external_mode_and_no_cluster_is_created() {
    let db = cluster().create_database().await;
    let inst = Instance::new().with("DATABASE_URL", &db.url);
    let server = inst.start();
    let (status, body) = server.health().await;
    assert_eq!(status, 200);
    assert_eq!(body["database"]["mode"], "postgres");
    assert!(!inst.root().join("db").exists());
    server.stop();
    let status = paperclip_store::migrate::status(&db.url).await.unwrap();
    assert!(status.pending.is_empty());
}

/// An application role that may read and write rows but not change the schema (PostgreSQL 15 no
/// longer lets every role create in `public`), as a least-privilege deployment would set it up.
async fn app_role(db: &paperclip_testkit::TestDb) -> String {
    let role = format!("app_{}", &db.name[5..17]);
    db.execute(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'app-pass';
         GRANT CONNECT ON DATABASE {} TO {role};
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;
         GRANT USAGE ON SCHEMA public TO {role};
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};",
        db.name
    ))
    .await;
    db.url_as(&role, "app-pass")
}

#[tokio::test]
async fn the_migration_url_carries_ddl_while_the_app_role_cannot() {
    let db = cluster().create_database().await;
    let app_url = app_role(&db).await;

    // Without a migration URL the app role's lack of DDL rights stops startup, clearly.
    let out = Instance::new()
        .with("DATABASE_URL", &app_url)
        .output(&["run"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );

    let inst = Instance::new()
        .with("DATABASE_URL", &app_url)
        .with("DATABASE_MIGRATION_URL", &db.url);
    let server = inst.start();
    assert_eq!(server.health().await.0, 200);
    server.stop();
    assert!(paperclip_store::migrate::status(&db.url)
        .await
        .unwrap()
        .pending
        .is_empty());
}

/// A real pgbouncer in transaction mode in front of the test cluster.
struct Pgbouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pgbouncer_binary() -> String {
    for p in ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"] {
        if Path::new(p).exists() {
            return p.to_string();
        }
    }
    panic!("pgbouncer is not installed (apt-get install pgbouncer; .ci/run does it)");
}

fn start_pgbouncer(user: &str, password: &str) -> Pgbouncer {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("pgbouncer.ini");
    std::fs::write(
        &conf,
        format!(
            "[databases]\n* = host=127.0.0.1 port={pg}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = plain\nauth_file = {dir}/users.txt\npool_mode = transaction\n\
             default_pool_size = 4\nmax_client_conn = 100\nlogfile = {dir}/pgbouncer.log\nignore_startup_parameters = extra_float_digits,options\n",
            pg = cluster().port(),
            dir = dir.path().display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("users.txt"),
        format!("\"{user}\" \"{password}\"\n"),
    )
    .unwrap();
    let mut cmd = Command::new(pgbouncer_binary());
    cmd.arg(&conf).stdout(Stdio::null()).stderr(Stdio::null());
    if nix::unistd::Uid::effective().is_root() {
        // pgbouncer refuses to run as root, like PostgreSQL.
        let pg = nix::unistd::User::from_name("postgres")
            .unwrap()
            .expect("postgres user");
        for entry in walk(dir.path()) {
            nix::unistd::chown(&entry, Some(pg.uid), Some(pg.gid)).unwrap();
        }
        cmd.uid(pg.uid.as_raw()).gid(pg.gid.as_raw());
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pgbouncer did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Pgbouncer {
        child,
        port,
        _dir: dir,
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        v.push(e.path());
    }
    v
}

fn superuser_password(url: &str) -> (String, String) {
    let u = url::Url::parse(url).unwrap();
    (u.username().to_string(), u.password().unwrap().to_string())
}

#[tokio::test]
async fn the_app_pool_works_through_pgbouncer_in_transaction_mode() {
    let db = cluster().create_database().await;
    let (user, password) = superuser_password(&db.url);
    let bouncer = start_pgbouncer(&user, &password);
    let pooled = format!(
        "postgres://{user}:{password}@127.0.0.1:{}/{}",
        bouncer.port, db.name
    );

    // The library level: many different statements over few server connections.
    let settings = paperclip_config::PoolSettings {
        max_connections: 8,
        connect_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        prepared_statements: Some(false),
    };
    let pool = paperclip_postgres::Db::connect(&pooled, &settings)
        .await
        .unwrap();
    assert!(!pool.prepared_statements());
    let tasks = (0..64).map(|i| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let sql = format!("SELECT $1::int + {}", i % 7);
            let mut session = pool.session().await.unwrap();
            let v = pool
                .query_scalar::<i32>(&sql)
                .bind(i)
                .fetch_one(&mut *session)
                .await;
            session.close().await.unwrap();
            v
        })
    });
    for (i, t) in tasks.enumerate() {
        assert_eq!(t.await.unwrap().unwrap(), i as i32 + (i as i32 % 7));
    }
    pool.close().await;

    // The binary: pooled runtime URL, direct migration URL, prepared statements detected from
    // the `pgbouncer=true` hint.
    let inst = Instance::new()
        .with("DATABASE_URL", &format!("{pooled}?pgbouncer=true"))
        .with("DATABASE_MIGRATION_URL", &db.url);
    let server = inst.start();
    for _ in 0..20 {
        let (status, body) = server.health().await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["database"]["preparedStatements"], false);
    }
    server.stop();
}
