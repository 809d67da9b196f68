//! Moving sensitive inline env values of agents into secrets (`migrate-inline-env`).

use super::*;

/// One inline value `migrate-inline-env` would move into a secret.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InlineCandidate {
    pub agent_id: Uuid,
    pub company_id: Uuid,
    pub env_key: String,
    pub secret_name: String,
    /// `create` or `rotate` (a secret of that name exists).
    pub action: String,
}

/// Agents (optionally of one company) whose `adapterConfig.env` holds sensitive plain values.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn inline_candidates(
    conn: &mut PgConnection,
    company_id: Option<Uuid>,
) -> Result<Vec<InlineCandidate>> {
    let agents: Vec<(Uuid, Uuid, Value)> = qa(
        "SELECT id, company_id, adapter_config FROM agents
         WHERE ($1::uuid IS NULL OR company_id = $1) AND adapter_config ? 'env' ORDER BY created_at, id",
    )
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot list agents"))?;
    let existing: Vec<(Uuid, String)> = qa("SELECT company_id, name FROM company_secrets WHERE status = 'active' AND ($1::uuid IS NULL OR company_id = $1)")
        .bind(company_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot list secrets"))?;
    let mut out = Vec::new();
    for (agent_id, cid, config) in agents {
        let Some(envmap) = config.get("env").and_then(Value::as_object) else {
            continue;
        };
        for (k, v) in envmap {
            let plain = v.as_str().or_else(|| {
                (v.get("type").and_then(Value::as_str) == Some("plain"))
                    .then(|| v.get("value").and_then(Value::as_str))
                    .flatten()
            });
            let Some(p) = plain else { continue };
            if p.is_empty() || p == env::REDACTED || !env::is_sensitive(k) {
                continue;
            }
            let secret_name = format!(
                "agent_{}_{}",
                &agent_id.simple().to_string()[..8],
                k.to_lowercase()
            );
            let action = if existing.iter().any(|(c, n)| *c == cid && *n == secret_name) {
                "rotate"
            } else {
                "create"
            };
            out.push(InlineCandidate {
                agent_id,
                company_id: cid,
                env_key: k.clone(),
                secret_name,
                action: action.into(),
            });
        }
    }
    Ok(out)
}

/// Moves one agent's sensitive inline values into secrets and rewrites its bindings, on `conn`
/// (one transaction per agent, by the caller). Re-running finds nothing left to move.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn migrate_agent_inline_env(
    conn: &mut PgConnection,
    actor: &Actor,
    master: &MasterKey,
    agent_id: Uuid,
) -> Result<(usize, usize)> {
    let (company_id, mut config): (Uuid, Value) =
        qa("SELECT company_id, adapter_config FROM agents WHERE id = $1 FOR UPDATE")
            .bind(agent_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot read the agent"))?;
    let candidates: Vec<InlineCandidate> = inline_candidates(conn, Some(company_id))
        .await?
        .into_iter()
        .filter(|c| c.agent_id == agent_id)
        .collect();
    let (mut created, mut rotated) = (0, 0);
    for c in &candidates {
        let value = {
            let v = &config["env"][&c.env_key];
            v.as_str()
                .or_else(|| v.get("value").and_then(Value::as_str))
                .unwrap_or_default()
                .to_string()
        };
        let value = Zeroizing::new(value);
        let existing: Option<Uuid> = qs("SELECT id FROM company_secrets WHERE company_id = $1 AND name = $2 AND status = 'active'")
            .bind(company_id)
            .bind(&c.secret_name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot read secrets"))?;
        let secret_id = match existing {
            Some(id) => {
                let s = get(conn, id).await?.expect("active");
                rotate(conn, actor, master, &s, &value).await?;
                rotated += 1;
                id
            }
            None => {
                let description = format!("Migrated from agent {agent_id} env {}", c.env_key);
                let key = normalize_key(&c.secret_name);
                let new = NewSecret {
                    name: &c.secret_name,
                    key: &key,
                    description: Some(&description),
                    value: &value,
                };
                let s = create(conn, actor, master, company_id, new).await?;
                created += 1;
                s.id
            }
        };
        config["env"][&c.env_key] =
            json!({"type": "secret_ref", "secretId": secret_id, "version": "latest"});
    }
    if !candidates.is_empty() {
        q("UPDATE agents SET adapter_config = $2 WHERE id = $1")
            .bind(agent_id)
            .bind(&config)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot update the agent"))?;
        activity::record(conn, actor, Entry {
            company_id,
            action: "agent.env_migrated_to_secrets",
            entity_type: "agent",
            entity_id: agent_id.to_string(),
            details: json!({"keys": candidates.iter().map(|c| c.env_key.clone()).collect::<Vec<_>>()}),
        })
        .await?;
    }
    Ok((created, rotated))
}

#[cfg(test)]
mod tests {
    use super::normalize_key;

    #[test]
    fn keys_are_normalized_like_upstream() {
        assert_eq!(normalize_key("Bench API token"), "bench-api-token");
        assert_eq!(normalize_key("  OPENAI_API_KEY "), "openai_api_key");
        assert_eq!(normalize_key("a//b..c"), "a-b..c");
    }
}
