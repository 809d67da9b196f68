//! Comment marks (the per-issue summary the unread counts read) against a real PostgreSQL:
//! whatever the batches, their order, their authors and their concurrency, each issue's mark
//! equals a recount from its comments.

use paperclip_store::migrate::{self, Approval};
use paperclip_testkit::cluster;
use sqlx::{Connection, PgConnection};

const COMPANY: &str = "00000000-0000-0000-0000-00000000000c";
const ISSUES: usize = 6;
/// Users, and `None` for a comment by the system.
const AUTHORS: [Option<&str>; 4] = [Some("u1"), Some("u2"), Some("u3"), None];

/// Marks that disagree with a recount from the comments, both ways.
const DRIFT: &str = "WITH recount AS (
    SELECT l.issue_id, l.created_at AS last_at, l.author AS last_author,
           (SELECT max(c.created_at) FROM issue_comments c
             WHERE c.issue_id = l.issue_id
               AND paperclip_comment_author(c.author_agent_id, c.author_user_id) <> l.author) AS other_at
      FROM (SELECT DISTINCT ON (issue_id) issue_id, created_at,
                   paperclip_comment_author(author_agent_id, author_user_id) AS author
              FROM issue_comments ORDER BY issue_id, created_at DESC) l),
  marks AS (SELECT issue_id, last_at, last_author, other_at FROM issue_comment_marks)
SELECT count(*) FROM ((SELECT * FROM marks EXCEPT SELECT * FROM recount)
                      UNION ALL (SELECT * FROM recount EXCEPT SELECT * FROM marks)) d";

fn issue_id(n: usize) -> String {
    format!("00000000-0000-0000-0000-{:012}", n + 1)
}

/// A small deterministic generator: the same batches on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// One statement of comments: (issue, author, seconds after the epoch of the test).
type Batch = Vec<(usize, Option<&'static str>, i64)>;

/// Batches of 1 to 12 comments on random issues by random authors, at distinct times in
/// random order (distinct, so "the newest" is never a tie a recount could break otherwise).
fn batches(seed: u64, count: usize, times: &mut Vec<i64>) -> Vec<Batch> {
    let mut rng = Lcg(seed);
    (0..count)
        .map(|_| {
            (0..1 + rng.below(12))
                .map(|_| {
                    let t = times.swap_remove(rng.below(times.len()));
                    (rng.below(ISSUES), AUTHORS[rng.below(AUTHORS.len())], t)
                })
                .collect()
        })
        .collect()
}

async fn drift(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(DRIFT).fetch_one(conn).await.unwrap()
}

async fn insert(conn: &mut PgConnection, batch: &Batch) {
    let issues: Vec<uuid::Uuid> = batch
        .iter()
        .map(|(i, _, _)| issue_id(*i).parse().unwrap())
        .collect();
    let users: Vec<Option<String>> = batch
        .iter()
        .map(|(_, a, _)| a.map(str::to_string))
        .collect();
    let secs: Vec<i64> = batch.iter().map(|(_, _, t)| *t).collect();
    sqlx::query(
        "INSERT INTO issue_comments (company_id, issue_id, author_user_id, body, created_at)
         SELECT $1::uuid, i, u, 'c', timestamptz '2026-01-01' + s * interval '1 second'
           FROM unnest($2::uuid[], $3::text[], $4::bigint[]) AS b(i, u, s)",
    )
    .bind(COMPANY)
    .bind(&issues)
    .bind(&users)
    .bind(&secs)
    .execute(conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn marks_equal_a_recount_whatever_the_batches() {
    let db = cluster().create_database().await;
    migrate::run(&db.url, "test", Approval::Apply)
        .await
        .unwrap();
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO companies (id, name, issue_prefix) VALUES ($1::uuid, 'Marks Co', 'MRK')",
    )
    .bind(COMPANY)
    .execute(&mut conn)
    .await
    .unwrap();
    for n in 0..ISSUES {
        sqlx::query(
            "INSERT INTO issues (id, company_id, title, issue_number, identifier, status)
             VALUES ($1::uuid, $2::uuid, 'i', $3, 'MRK-' || $3, 'todo')",
        )
        .bind(issue_id(n))
        .bind(COMPANY)
        .bind(n as i32 + 1)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let mut times: Vec<i64> = (0..2_000).collect();

    // One writer: each statement checked as it lands.
    for batch in batches(7, 60, &mut times) {
        insert(&mut conn, &batch).await;
        assert_eq!(drift(&mut conn).await, 0, "after {batch:?}");
    }

    // Four writers at once on the same issues, each statement its own transaction (several
    // statements on several issues in one transaction could deadlock with another such: no
    // writer of ours does that, and the mark is taken in issue order within a statement).
    let writers = (0..4u64).map(|w| {
        let url = db.url.clone();
        let work = batches(100 + w, 30, &mut times);
        tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            for batch in &work {
                insert(&mut conn, batch).await;
            }
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.unwrap();
    }
    assert_eq!(drift(&mut conn).await, 0);
    let (marks, comments): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM issue_comment_marks), (SELECT count(*) FROM issue_comments)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(marks, ISSUES as i64);
    assert!(comments > 500, "{comments} comments");
}
