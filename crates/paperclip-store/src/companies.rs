//! Companies: the tenancy boundary of every other row.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::{Actor, COMPANY_SPEND};
use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa, qs};

/// A company as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub status: String,
    pub issue_prefix: String,
    pub issue_counter: i32,
    pub budget_monthly_cents: i64,
    pub spent_monthly_cents: i64,
    pub default_responsible_user_id: String,
    pub require_board_approval_for_new_agents: bool,
    #[sqlx(skip)]
    pub interaction_resolver_governance: Map<String, Value>,
    #[sqlx(skip)]
    pub feedback_data_sharing_enabled: bool,
    #[sqlx(skip)]
    pub feedback_data_sharing_consent_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    pub feedback_data_sharing_consent_by_user_id: Option<String>,
    #[sqlx(skip)]
    pub feedback_data_sharing_terms_version: Option<String>,
    #[sqlx(skip)]
    pub logo_asset_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub logo_url: Option<String>,
}

fn select() -> String {
    format!(
        "SELECT c.id, c.name, c.description, c.status, c.issue_prefix, c.issue_counter, c.budget_monthly_cents,
                {COMPANY_SPEND} AS spent_monthly_cents,
                'local-board'::text AS default_responsible_user_id,
                c.require_board_approval_for_new_agents, c.created_at, c.updated_at
         FROM companies c"
    )
}

/// New company fields.
#[derive(Debug, Clone)]
pub struct NewCompany {
    pub name: String,
    pub description: Option<String>,
    pub budget_monthly_cents: i64,
    pub require_board_approval_for_new_agents: bool,
}

/// Upstream derives the issue prefix from the name's first three letters (`Acme` → `ACM`).
pub fn prefix_base(name: &str) -> String {
    let letters: String = name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(3)
        .collect::<String>()
        .to_ascii_uppercase();
    match letters.len() {
        0 => "CMP".into(),
        n if n < 3 => format!("{letters}{}", "X".repeat(3 - n)),
        _ => letters,
    }
}

/// Creates a company with a unique issue prefix (`ACM`, then `ACM2`, `ACM3`, … when taken).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(conn: &mut PgConnection, actor: &Actor, new: &NewCompany) -> Result<Company> {
    let base = prefix_base(&new.name);
    for _ in 0..20 {
        let taken: Vec<String> =
            qs("SELECT issue_prefix FROM companies WHERE issue_prefix ~ ('^' || $1 || '[0-9]*$')")
                .bind(&base)
                .fetch_all(&mut *conn)
                .await
                .map_err(StoreError::sql("cannot read issue prefixes"))?;
        let prefix = (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    format!("{base}{n}")
                }
            })
            .find(|p| !taken.contains(p))
            .expect("an unbounded range has a free prefix");
        // A savepoint, so a concurrent creator taking the same prefix costs one retry, not the
        // caller's transaction.
        let mut sp = conn
            .begin()
            .await
            .map_err(StoreError::sql("cannot begin"))?;
        let inserted: std::result::Result<Uuid, sqlx::Error> = qs(
            "INSERT INTO companies (name, description, issue_prefix, budget_monthly_cents, require_board_approval_for_new_agents)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.description)
        .bind(&prefix)
        .bind(new.budget_monthly_cents)
        .bind(new.require_board_approval_for_new_agents)
        .fetch_one(&mut *sp)
        .await;
        match inserted {
            Ok(id) => {
                activity::record(
                    &mut sp,
                    actor,
                    Entry {
                        company_id: id,
                        action: "company.created",
                        entity_type: "company",
                        entity_id: id.to_string(),
                        details: json!({ "name": new.name, "issuePrefix": prefix }),
                    },
                )
                .await?;
                let company = get(&mut sp, id).await?.expect("just inserted");
                sp.commit()
                    .await
                    .map_err(StoreError::sql("cannot commit"))?;
                return Ok(company);
            }
            Err(e) if is_unique_violation(&e) => {
                sp.rollback()
                    .await
                    .map_err(StoreError::sql("cannot roll back"))?;
            }
            Err(e) => return Err(StoreError::sql("cannot create the company")(e)),
        }
    }
    Err(StoreError::Sql {
        context: "cannot allocate a unique issue prefix".into(),
        source: sqlx::Error::RowNotFound,
    })
}

/// True for a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

/// All companies, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(conn: &mut PgConnection) -> Result<Vec<Company>> {
    qa(&format!("{} ORDER BY c.created_at, c.id", select()))
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot list companies"))
}

/// One company.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Company>> {
    qa(&format!("{} WHERE c.id = $1", select()))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::sql("cannot read the company"))
}

/// Patchable fields; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct CompanyPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<String>,
    pub budget_monthly_cents: Option<i64>,
    pub require_board_approval_for_new_agents: Option<bool>,
}

/// Applies a patch and records `company.updated`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    p: &CompanyPatch,
    action: &str,
) -> Result<Option<Company>> {
    let updated = q("UPDATE companies SET
            name = COALESCE($2, name),
            description = CASE WHEN $3 THEN $4 ELSE description END,
            status = COALESCE($5, status),
            budget_monthly_cents = COALESCE($6, budget_monthly_cents),
            require_board_approval_for_new_agents = COALESCE($7, require_board_approval_for_new_agents)
        WHERE id = $1")
    .bind(id)
    .bind(&p.name)
    .bind(p.description.is_some())
    .bind(p.description.clone().flatten())
    .bind(&p.status)
    .bind(p.budget_monthly_cents)
    .bind(p.require_board_approval_for_new_agents)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the company"))?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    let mut changed = Map::new();
    if let Some(v) = &p.name {
        changed.insert("name".into(), json!(v));
    }
    if let Some(v) = &p.status {
        changed.insert("status".into(), json!(v));
    }
    if let Some(v) = p.budget_monthly_cents {
        changed.insert("budgetMonthlyCents".into(), json!(v));
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: id,
            action,
            entity_type: "company",
            entity_id: id.to_string(),
            details: Value::Object(changed),
        },
    )
    .await?;
    get(conn, id).await
}

/// What the dashboard counts: agents and issues by status, pending approvals, recent activity.
#[derive(Debug, Clone)]
pub struct DashboardCounts {
    pub agents_by_status: Vec<(String, i64)>,
    pub issues_by_status: Vec<(String, i64)>,
    pub pending_approvals: i64,
    pub recent_activity: Vec<activity::Activity>,
}

/// `GET /companies/:id/dashboard`'s data, in four indexed queries. Issues are counted from the
/// status tally their writes append to (see [`fold_issue_tally`]), not by reading every issue.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn dashboard(conn: &mut PgConnection, company: &Company) -> Result<DashboardCounts> {
    let agents_by_status: Vec<(String, i64)> =
        qa("SELECT status, count(*) FROM agents WHERE company_id = $1 AND deleted_at IS NULL GROUP BY status")
            .bind(company.id)
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot count agents"))?;
    let issues_by_status: Vec<(String, i64)> = qa(
        "SELECT status, sum(n)::bigint FROM issue_status_tally WHERE company_id = $1
            GROUP BY status HAVING sum(n) <> 0",
    )
    .bind(company.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot count issues"))?;
    let pending_approvals: i64 =
        qs("SELECT count(*) FROM approvals WHERE company_id = $1 AND status = 'pending'")
            .bind(company.id)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot count approvals"))?;
    let recent_activity = activity::list(
        conn,
        company.id,
        &activity::Filter {
            limit: 10,
            ..Default::default()
        },
    )
    .await?;
    Ok(DashboardCounts {
        agents_by_status,
        issues_by_status,
        pending_approvals,
        recent_activity,
    })
}

/// Folds the status deltas that issue writes append to `issue_status_tally` into one row per
/// company and status, for companies that gathered more than a few; answers how many rows it
/// removed. Safe beside writers and other replicas' folds: a fold deletes only rows it saw
/// committed and writes back their sum in the same transaction, and a row another fold deleted
/// first is skipped.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn fold_issue_tally(conn: &mut PgConnection) -> Result<u64> {
    let removed: i64 = qs(
        "WITH busy AS (SELECT company_id FROM issue_status_tally GROUP BY company_id HAVING count(*) > 16),
              gone AS (DELETE FROM issue_status_tally t USING busy b WHERE t.company_id = b.company_id
                       RETURNING t.company_id, t.status, t.n),
              kept AS (INSERT INTO issue_status_tally (company_id, status, n)
                       SELECT company_id, status, sum(n) FROM gone GROUP BY 1, 2 HAVING sum(n) <> 0)
         SELECT count(*) FROM gone",
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("cannot fold the issue tally"))?;
    Ok(u64::try_from(removed).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::prefix_base;

    #[test]
    fn prefixes_come_from_the_first_three_letters() {
        assert_eq!(prefix_base("Acme"), "ACM");
        assert_eq!(prefix_base("Beta Corp"), "BET");
        assert_eq!(prefix_base("x1"), "XXX");
        assert_eq!(prefix_base("42"), "CMP");
    }
}
