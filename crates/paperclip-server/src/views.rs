//! Shaping stored entities into upstream's answers: the one place the server adds the fields
//! reads show beside an entity, so routes and plugin host calls answer alike.

use paperclip_api_types::issues::{list_attention, Change, IssueListItem, IssueRef, IssueView};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use paperclip_api_types::companies::OrgNode;
use paperclip_store::agents::OrgMember;
use paperclip_store::issues::{Ancestor, Issue};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use uuid::Uuid;

/// Longest description a list returns; the full text is one `GET /issues/:id` away.
pub const LIST_DESCRIPTION_CHARS: usize = 500;

/// An issue as single-issue answers show it.
pub fn issue(issue: Issue) -> IssueView<Issue> {
    IssueView::of(issue)
}

/// Issues as lists show them: descriptions cut to a preview, each serialized straight to the
/// response as an [`IssueListItem`] (no intermediate JSON tree).
pub struct IssueList(Vec<(Issue, bool)>);

impl IssueList {
    /// The list of `rows`, in their order.
    pub fn new(rows: Vec<Issue>) -> Self {
        Self(
            rows.into_iter()
                .map(|mut issue| {
                    let mut truncated = false;
                    if let Some(d) = issue.description.as_mut() {
                        if let Some((cut, _)) = d.char_indices().nth(LIST_DESCRIPTION_CHARS) {
                            d.truncate(cut);
                            truncated = true;
                        }
                    }
                    (issue, truncated)
                })
                .collect(),
        )
    }
}

impl Serialize for IssueList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (review, blocker) = list_attention();
        serializer.collect_seq(self.0.iter().map(|(issue, truncated)| IssueListItem {
            last_activity_at: issue.updated_at,
            issue,
            description_truncated: *truncated,
            active_run: None,
            review_attention: review,
            blocker_attention: blocker,
            successful_run_handoff: None,
            active_recovery_action: None,
        }))
    }
}

impl JsonSchema for IssueList {
    fn schema_name() -> Cow<'static, str> {
        "IssueList".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <Vec<IssueListItem<'static, Issue>>>::json_schema(generator)
    }
}

/// An ancestor as a reference.
pub fn ancestor(a: Ancestor) -> IssueRef {
    IssueRef {
        id: a.id,
        identifier: a.identifier,
        title: a.title,
        status: a.status,
    }
}

/// What an update changed, as upstream reports it: `{field: {from, to}}` for every field of the
/// answer whose value differs (`updatedAt` always does, so it is left out).
pub fn changes(before: &Issue, after: &Issue) -> BTreeMap<String, Change> {
    let (Ok(serde_json::Value::Object(before)), Ok(serde_json::Value::Object(after))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return BTreeMap::new();
    };
    after
        .into_iter()
        .filter(|(k, to)| k != "updatedAt" && before.get(k) != Some(to))
        .map(|(k, to)| {
            let from = before.get(&k).cloned();
            (k, Change { from, to })
        })
        .collect()
}

/// The org forest: each agent under its manager, oldest first. A manager that is terminated
/// (absent from `members`) leaves its reports at the root; depth is capped at 64 levels.
pub fn org_forest(members: Vec<OrgMember>) -> Vec<OrgNode> {
    let ids: HashSet<Uuid> = members.iter().map(|m| m.id).collect();
    let mut children: HashMap<Option<Uuid>, Vec<usize>> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        children
            .entry(m.reports_to.filter(|p| ids.contains(p)))
            .or_default()
            .push(i);
    }
    fn build(
        i: usize,
        members: &[OrgMember],
        children: &HashMap<Option<Uuid>, Vec<usize>>,
        depth: usize,
    ) -> OrgNode {
        let m = &members[i];
        let reports = if depth > 64 {
            Vec::new()
        } else {
            children
                .get(&Some(m.id))
                .into_iter()
                .flatten()
                .map(|&c| build(c, members, children, depth + 1))
                .collect()
        };
        OrgNode {
            id: m.id,
            name: m.name.clone(),
            role: m.role.clone(),
            title: m.title.clone(),
            status: m.status.clone(),
            reports,
        }
    }
    children
        .get(&None)
        .into_iter()
        .flatten()
        .map(|&i| build(i, &members, &children, 0))
        .collect()
}
