//! Timer heartbeats: one tick across all replicas (a transaction advisory lock) finds the agents
//! whose interval has passed and queues their wakeups.

use paperclip_domain::WakeupSource;

use super::*;
use crate::Actor;

/// Queues a timer wakeup for every agent that is due, unless another replica is ticking now
/// (then `None`). Due: heartbeats enabled with an interval, and the interval has passed since the
/// last timer fire (or, the first time, since the last heartbeat or creation). Admission still
/// applies (an over-budget agent's wakeup is recorded as skipped).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn tick(conn: &mut PgConnection) -> Result<Option<Vec<Enqueued>>> {
    let mine: bool = paperclip_postgres::pool::qs("SELECT pg_try_advisory_xact_lock($1, 0)")
        .bind(LOCK_CLASS)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot take the timer lock"))?;
    if !mine {
        return Ok(None);
    }
    // CASE guards the casts: SQL does not promise to evaluate the type checks first.
    let due: Vec<(Uuid,)> = qa(
        "WITH policy AS (
             SELECT id, CASE WHEN jsonb_typeof(runtime_config->'heartbeat'->'intervalSec') = 'number'
                             THEN (runtime_config->'heartbeat'->>'intervalSec')::float8 ELSE 0 END AS secs
             FROM agents
             WHERE status IN ('idle', 'active', 'running', 'error')
               AND runtime_config->'heartbeat'->'enabled' = 'true'::jsonb
         )
         UPDATE agents a SET timer_next_at = now() + make_interval(secs => p.secs)
         FROM policy p
         WHERE a.id = p.id AND p.secs > 0
           AND COALESCE(a.timer_next_at, COALESCE(a.last_heartbeat_at, a.created_at) + make_interval(secs => p.secs)) <= now()
         RETURNING a.id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot find due timers"))?;
    let mut out = Vec::with_capacity(due.len());
    for (id,) in due {
        let Some(agent) = crate::agents::get(conn, id).await? else {
            continue;
        };
        let wake = Wake::system(
            WakeupSource::Timer,
            "heartbeat_timer",
            WakeContext::default(),
        );
        out.push(enqueue(conn, &Actor::system(), &agent, &wake).await?);
    }
    Ok(Some(out))
}
