//! Plugin namespaces: migrations, replay, and isolation enforced by PostgreSQL against a hostile
//! plugin.

use std::path::Path;

use paperclip_secrets::{KeySource, MasterKey};
use paperclip_store::migrate::{self, Approval};
use paperclip_store::plugins::{self, Access, Namespace};
use paperclip_testkit::{cluster, TestDb};
use serde_json::json;
use sqlx::Connection;

fn key() -> MasterKey {
    MasterKey::from_bytes([5; 32], KeySource::Env)
}

fn write_plugin(dir: &Path, id: &str, migrations: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("paperclip-plugin.json"),
        json!({
            "id": id, "version": "1.0.0", "displayName": "Test plugin",
            "capabilities": ["database.namespace.migrate", "database.namespace.read", "database.namespace.write"],
            "database": {"namespaceSlug": "smoke", "migrationsDir": "migrations", "coreReadTables": ["issues"]}
        })
        .to_string(),
    )
    .unwrap();
    for (name, sql) in migrations {
        std::fs::write(dir.join("migrations").join(name), sql).unwrap();
    }
}

async fn setup() -> (TestDb, tempfile::TempDir) {
    let db = cluster().create_database().await;
    migrate::run(&db.url, "test", Approval::Apply)
        .await
        .unwrap();
    db.execute(
        "INSERT INTO companies (name, issue_prefix) VALUES ('Acme', 'ACM');
         INSERT INTO issues (company_id, title, issue_number, identifier) SELECT id, 'root', 1, 'ACM-1' FROM companies;
         INSERT INTO company_secrets (company_id, key, name) SELECT id, 'top', 'top' FROM companies;",
    )
    .await;
    (db, tempfile::tempdir().unwrap())
}

async fn install(db: &TestDb, dir: &Path) -> (plugins::Plugin, Namespace) {
    let mut admin = db.connect().await;
    let k = key();
    let access = Access {
        url: &db.url,
        key: &k,
    };
    let p = plugins::install(&mut admin, &access, dir).await.unwrap();
    let ns = plugins::namespace(&mut admin, p.id).await.unwrap().unwrap();
    (p, ns)
}

const TABLE: &str = "CREATE TABLE smoke_runs (id serial PRIMARY KEY, root_issue_id uuid REFERENCES public.issues (id) ON DELETE CASCADE, note text);";

#[tokio::test]
async fn migrations_apply_once_replay_idempotently_and_refuse_changes() {
    let (db, dir) = setup().await;
    write_plugin(dir.path(), "acme.smoke", &[("001_init.sql", TABLE)]);
    let (p, ns) = install(&db, dir.path()).await;
    assert_eq!(p.status, "installed");
    assert!(ns.namespace_name.starts_with("plugin_smoke_"));
    assert_eq!(
        ns.isolation, "role",
        "the embedded superuser can create roles"
    );
    let mut admin = db.connect().await;
    let k = key();
    let access = Access {
        url: &db.url,
        key: &k,
    };
    // Enable replays: nothing to do.
    let p = plugins::enable(&mut admin, &access, &p).await.unwrap();
    assert_eq!(p.status, "ready");
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM plugin_migrations WHERE status = 'applied'")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(n, 1);
    // A new file is applied; an edited one is refused.
    std::fs::write(
        dir.path().join("migrations/002_more.sql"),
        "ALTER TABLE smoke_runs ADD COLUMN extra int;",
    )
    .unwrap();
    plugins::enable(&mut admin, &access, &p).await.unwrap();
    std::fs::write(
        dir.path().join("migrations/001_init.sql"),
        format!("{TABLE} -- edited"),
    )
    .unwrap();
    let err = plugins::enable(&mut admin, &access, &p)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
    let p = plugins::get(&mut admin, "acme.smoke")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, "error");
}

#[tokio::test]
async fn a_failed_migration_is_recorded_and_marks_the_namespace() {
    let (db, dir) = setup().await;
    write_plugin(
        dir.path(),
        "acme.broken",
        &[(
            "001_bad.sql",
            "CREATE TABLE t (id int); ALTER TABLE nope ADD COLUMN x int;",
        )],
    );
    let mut admin = db.connect().await;
    let k = key();
    let access = Access {
        url: &db.url,
        key: &k,
    };
    let err = plugins::install(&mut admin, &access, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("001_bad.sql"), "{err}");
    let (status, msg): (String, Option<String>) =
        sqlx::query_as("SELECT status, error_message FROM plugin_migrations")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(msg.unwrap().contains("nope"));
    let ns_status: String = sqlx::query_scalar("SELECT status FROM plugin_database_namespaces")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(ns_status, "migration_failed");
    let table_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 't')")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(!table_exists, "the failed file was rolled back whole");
}

#[tokio::test]
async fn hostile_plugin_sql_is_stopped_by_postgresql_itself() {
    let (db, dir) = setup().await;
    write_plugin(dir.path(), "evil.plugin", &[("001_init.sql", TABLE)]);
    let (_, ns) = install(&db, dir.path()).await;
    let k = key();
    let access = Access {
        url: &db.url,
        key: &k,
    };

    // The happy path: its own table, and whitelisted core reads.
    assert_eq!(
        plugins::execute(
            &access,
            &ns,
            "INSERT INTO smoke_runs (note) VALUES ($1)",
            &[json!("hello")]
        )
        .await
        .unwrap(),
        1
    );
    let rows = plugins::query(&access, &ns, "SELECT note FROM smoke_runs", &[])
        .await
        .unwrap();
    assert_eq!(rows, vec![json!({"note": "hello"})]);
    let rows = plugins::query(
        &access,
        &ns,
        "SELECT title FROM public.issues WHERE identifier = $1",
        &[json!("ACM-1")],
    )
    .await
    .unwrap();
    assert_eq!(rows, vec![json!({"title": "root"})]);

    // Through the API: each hostile statement fails.
    for sql in [
        "SELECT * FROM companies", // unqualified core table: not on the search path
        "SELECT * FROM public.company_secrets", // not whitelisted
        "SELECT * FROM public.agents", // not whitelisted
        "SELECT * FROM public.issues; DELETE FROM smoke_runs", // two statements
        "WITH gone AS (DELETE FROM smoke_runs RETURNING *) SELECT * FROM gone", // write inside a read
        "SELECT set_config('search_path', 'public', true)",
    ] {
        let r = plugins::query(&access, &ns, sql, &[]).await;
        assert!(r.is_err(), "{sql} was allowed: {r:?}");
    }
    assert!(plugins::execute(
        &access,
        &ns,
        "UPDATE public.issues SET title = 'pwned'",
        &[]
    )
    .await
    .is_err());
    assert!(
        plugins::execute(&access, &ns, "DELETE FROM public.company_secrets", &[])
            .await
            .is_err()
    );

    // Beneath the statement checks: a raw connection as the plugin's role cannot escape either.
    let mut raw = access.connect(&ns).await.unwrap();
    for sql in [
        "RESET ROLE; SELECT * FROM public.company_secrets",
        "SET ROLE paperclip",
        "SELECT set_config('role', 'paperclip', false)",
        "SELECT * FROM public.company_secrets",
        "UPDATE public.issues SET title = 'pwned'",
        "CREATE TABLE public.evil (id int)",
        "ALTER TABLE public.issues ADD COLUMN evil int",
        "COPY (SELECT 1) TO '/tmp/paperclip-evil'",
        // Creating a view is allowed, but it reads with its owner's (the plugin's) privileges.
        "CREATE VIEW leak AS SELECT * FROM public.company_secrets; SELECT * FROM leak",
        "CREATE FUNCTION leak() RETURNS SETOF public.company_secrets LANGUAGE sql SECURITY DEFINER AS 'SELECT * FROM public.company_secrets'; SELECT * FROM leak()",
    ] {
        let r = sqlx::raw_sql(sql).execute(&mut raw).await;
        assert!(r.is_err(), "PostgreSQL allowed: {sql}");
    }
    raw.close().await.unwrap();
    let title: String = sqlx::query_scalar("SELECT title FROM issues")
        .fetch_one(&mut db.connect().await)
        .await
        .unwrap();
    assert_eq!(title, "root");
}

#[tokio::test]
async fn hostile_migrations_are_refused_by_checks_and_by_privileges() {
    let (db, dir) = setup().await;
    let mut admin = db.connect().await;
    let k = key();
    let access = Access {
        url: &db.url,
        key: &k,
    };
    for (i, sql) in [
        "CREATE TABLE public.evil (id int);", // privileges: no CREATE on public
        "CREATE TABLE copy AS SELECT * FROM public.company_secrets;", // privileges: no SELECT
        "ALTER TABLE public.issues ADD COLUMN evil int;", // privileges: not the owner
        "GRANT SELECT ON public.company_secrets TO PUBLIC;", // checks
        "DROP TABLE public.issues;",          // checks
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';", // checks
    ]
    .iter()
    .enumerate()
    {
        let pdir = dir.path().join(format!("p{i}"));
        write_plugin(&pdir, &format!("evil.m{i}"), &[("001.sql", sql)]);
        let r = plugins::install(&mut admin, &access, &pdir).await;
        assert!(r.is_err(), "migration allowed: {sql}");
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = 'issues' AND column_name = 'evil'").fetch_one(&mut admin).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn uninstall_locks_the_role_out_and_keeps_the_data() {
    let (db, dir) = setup().await;
    write_plugin(dir.path(), "acme.gone", &[("001_init.sql", TABLE)]);
    let (p, ns) = install(&db, dir.path()).await;
    let k = key();
    let access = Access {
        url: &db.url,
        key: &k,
    };
    plugins::execute(
        &access,
        &ns,
        "INSERT INTO smoke_runs (note) VALUES ('kept')",
        &[],
    )
    .await
    .unwrap();
    let mut admin = db.connect().await;
    let p = plugins::uninstall(&mut admin, &p).await.unwrap();
    assert_eq!(p.status, "uninstalled");
    assert!(
        access.connect(&ns).await.is_err(),
        "the role can no longer log in"
    );
    let kept: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {}.smoke_runs",
        ns.namespace_name
    ))
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(kept, 1);
}
