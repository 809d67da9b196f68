//! Shaping stored entities into upstream's answers: the one place the server adds the fields
//! reads show beside an entity, so routes and plugin host calls answer alike.

use paperclip_api_types::issues::{Change, IssueRef, IssueView};
use std::collections::{BTreeMap, HashMap, HashSet};

use paperclip_api_types::companies::OrgNode;
use paperclip_store::agents::OrgMember;
use paperclip_store::issues::{Ancestor, Issue};
use uuid::Uuid;

/// An issue as single-issue answers show it.
pub fn issue(issue: Issue) -> IssueView<Issue> {
    IssueView::of(issue)
}

/// Issues as lists show them (descriptions cut to a preview).
pub type IssueList = paperclip_api_types::issues::IssueList<Issue>;

/// The list answer of `rows`, in their order (the plugin host's `issues.list` answers alike).
pub fn issue_list(rows: Vec<Issue>) -> IssueList {
    IssueList::from_rows(rows, |i| i.description.as_mut(), |i| i.updated_at)
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

/// A related issue (blocker or blocked) as a reference.
pub fn related(r: paperclip_store::orchestration::Related) -> IssueRef {
    IssueRef {
        id: r.id,
        identifier: r.identifier,
        title: r.title,
        status: r.status,
    }
}
