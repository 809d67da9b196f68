//! Request bodies of the issues routes.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateIssue {
    #[schemars(required, with = "String")]
    #[schemars(length(min = 1, max = 500))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[schemars(length(max = 200000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::IssueStatus::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::IssuePriority::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_agent_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal_id: Option<Uuid>,
    #[schemars(length(max = 200))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_code: Option<String>,
    /// Issues of the same company this one waits for (no cycles).
    #[schemars(length(max = 100))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by_issue_ids: Option<Vec<Uuid>>,
    /// Labels of the issue's company.
    #[schemars(length(max = 50))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchIssue {
    #[schemars(length(min = 1, max = 500))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::IssueStatus::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::IssuePriority::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_agent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_code: Option<Option<String>>,
    /// Replaces the issue's blockers (`[]` clears them).
    #[schemars(length(max = 100))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by_issue_ids: Option<Vec<Uuid>>,
    /// Replaces the issue's labels (`[]` clears them).
    #[schemars(length(max = 50))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_ids: Option<Vec<Uuid>>,
    #[schemars(length(min = 1, max = 100000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkout {
    pub agent_id: Uuid,
    #[schemars(extend("items" = {"type": "string", "enum": paperclip_domain::IssueStatus::NAMES}))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_statuses: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ForceRelease {
    #[serde(default)]
    pub clear_assignee: bool,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CreateComment {
    #[schemars(required, with = "String")]
    #[schemars(length(min = 1, max = 100000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PutDocument {
    #[schemars(length(max = 500))]
    pub title: Option<String>,
    #[schemars(extend("enum" = crate::one_of(&["markdown"], true)))]
    pub format: Option<String>,
    pub body: String,
    pub base_revision_id: Option<Uuid>,
}

/// Query of `GET /companies/{companyId}/issues`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueListQuery {
    /// Comma-separated statuses (`todo,in_progress`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// An agent's id, or `me` for the calling agent's own inbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    /// Issues carrying this label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_id: Option<Uuid>,
    /// Text search in identifier, title and description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// `compact`: each issue without its description and label objects (labels by id).
    #[schemars(extend("enum" = ["compact"]))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    #[schemars(range(min = 1, max = 1000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[schemars(range(min = 0, max = 2147483647))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// Query of `POST /issues/{issueId}/admin/force-release`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForceReleaseQuery {
    /// `true` also clears the assignee (as the body's `clearAssignee`).
    pub clear_assignee: Option<bool>,
}

/// Query of `GET /issues/{issueId}/comments`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentListQuery {
    /// `asc` (default) or `desc`.
    #[schemars(extend("enum" = crate::one_of(&["asc", "desc"], true)))]
    pub order: Option<String>,
    /// Only comments after this comment.
    pub after: Option<Uuid>,
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

/// Query of `GET /issues/{issueId}/activity`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueActivityQuery {
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

/// A related issue as reads show it (ancestors, blockers).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IssueRef {
    pub id: Uuid,
    pub identifier: String,
    pub title: String,
    pub status: String,
}

/// Links to other work (Paperclip fills these when relations land).
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct RelatedWork {
    pub outbound: Vec<IssueRef>,
    pub inbound: Vec<IssueRef>,
}

/// Whether the issue waits on a review.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReviewAttention {
    pub state: String,
    pub paths: Vec<String>,
    pub reason: Option<String>,
}

impl ReviewAttention {
    /// Nothing to review.
    pub fn none() -> Self {
        Self {
            state: "none".into(),
            paths: Vec::new(),
            reason: None,
        }
    }
}

/// Whether blockers need someone's attention.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockerAttention {
    pub state: String,
    pub reason: Option<String>,
    pub unresolved_blocker_count: u32,
    pub covered_blocker_count: u32,
    pub stalled_blocker_count: u32,
    pub attention_blocker_count: u32,
    pub pending_finalize_blocker_issue_ids: Vec<Uuid>,
    pub sample_blocker_identifier: Option<String>,
    pub sample_stalled_blocker_identifier: Option<String>,
    pub blocking_tree_live: bool,
    pub direct_blocker_issue_id: Option<Uuid>,
    pub terminal_blocker_issue_id: Option<Uuid>,
    pub terminal_blocker: Option<IssueRef>,
}

impl BlockerAttention {
    /// No blockers.
    pub fn none() -> Self {
        Self {
            state: "none".into(),
            reason: None,
            unresolved_blocker_count: 0,
            covered_blocker_count: 0,
            stalled_blocker_count: 0,
            attention_blocker_count: 0,
            pending_finalize_blocker_issue_ids: Vec::new(),
            sample_blocker_identifier: None,
            sample_stalled_blocker_identifier: None,
            blocking_tree_live: false,
            direct_blocker_issue_id: None,
            terminal_blocker_issue_id: None,
            terminal_blocker: None,
        }
    }
}

/// An issue (`I`, the stored entity) as every single-issue answer shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueView<I> {
    #[serde(flatten)]
    pub issue: I,
    pub blocked_by: Vec<IssueRef>,
    pub blocks: Vec<IssueRef>,
    pub related_work: RelatedWork,
    pub referenced_issue_identifiers: Vec<String>,
}

impl<I> IssueView<I> {
    /// The view of `issue` (no relations yet).
    pub fn of(issue: I) -> Self {
        Self {
            issue,
            blocked_by: Vec::new(),
            blocks: Vec::new(),
            related_work: RelatedWork::default(),
            referenced_issue_identifiers: Vec::new(),
        }
    }
}

/// A document as the issue detail lists it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentSummary {
    pub key: String,
    pub title: Option<String>,
    pub format: String,
    pub latest_revision_id: Option<Uuid>,
    pub latest_revision_number: i32,
    pub updated_at: DateTime<Utc>,
}

/// `GET /issues/{issueId}`: the issue with its context. Fields upstream fills from subsystems
/// Paperclip does not run yet are `null` or empty, so upstream's clients parse it unchanged.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueDetail<I, P, G, D, W> {
    #[serde(flatten)]
    pub view: IssueView<I>,
    pub ancestors: Vec<IssueRef>,
    pub project: Option<P>,
    pub goal: Option<G>,
    pub plan_document: Option<D>,
    pub legacy_plan_document: Option<()>,
    pub document_summaries: Vec<DocumentSummary>,
    pub review_attention: ReviewAttention,
    pub blocker_attention: BlockerAttention,
    pub execution_blocker: Option<()>,
    pub successful_run_handoff: Option<()>,
    pub current_execution_workspace: Option<()>,
    pub mentioned_projects: Vec<()>,
    pub external_channel_binding: Option<()>,
    pub linked_cases: Vec<()>,
    pub active_recovery_action: Option<()>,
    pub scheduled_retry: Option<()>,
    pub work_products: Vec<W>,
}

/// One field's change in an issue update.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Change {
    pub from: Option<serde_json::Value>,
    pub to: serde_json::Value,
}

/// `PATCH /issues/{issueId}`: the updated issue, what changed, and the comment if one was added.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IssueUpdated<I, C> {
    #[serde(flatten)]
    pub view: IssueView<I>,
    pub changes: std::collections::BTreeMap<String, Change>,
    pub comment: Option<C>,
}

/// A list item: the issue (description cut to a preview) plus upstream's list-only fields.
/// The two attention objects are constant today, so they are rendered once and copied.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueListItem<'a, I> {
    #[serde(flatten)]
    pub issue: &'a I,
    pub description_truncated: bool,
    pub active_run: Option<()>,
    pub last_activity_at: DateTime<Utc>,
    #[schemars(with = "ReviewAttention")]
    pub review_attention: &'static serde_json::value::RawValue,
    #[schemars(with = "BlockerAttention")]
    pub blocker_attention: &'static serde_json::value::RawValue,
    pub successful_run_handoff: Option<()>,
    pub active_recovery_action: Option<()>,
}

/// The constant attention objects of list items, rendered once from their types.
pub fn list_attention() -> (
    &'static serde_json::value::RawValue,
    &'static serde_json::value::RawValue,
) {
    static RAW: std::sync::OnceLock<(
        Box<serde_json::value::RawValue>,
        Box<serde_json::value::RawValue>,
    )> = std::sync::OnceLock::new();
    let (review, blocker) = RAW.get_or_init(|| {
        let render = |v: String| serde_json::value::RawValue::from_string(v).expect("valid JSON");
        (
            render(serde_json::to_string(&ReviewAttention::none()).expect("serializable")),
            render(serde_json::to_string(&BlockerAttention::none()).expect("serializable")),
        )
    });
    (review, blocker)
}

/// `GET /companies/{companyId}/issues`: list items, or compact issues with `view=compact`.
/// (`L` is the full list, `C` a compact issue.)
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum IssueListAnswer<L, C> {
    Full(L),
    Compact(Vec<C>),
}

/// Longest description a list returns; the full text is one `GET /issues/:id` away.
pub const LIST_DESCRIPTION_CHARS: usize = 500;

/// Issues (`I`, the stored entity) as lists show them: descriptions cut to a preview, each
/// serialized straight to the response as an [`IssueListItem`] (no intermediate JSON tree).
#[derive(Debug)]
pub struct IssueList<I> {
    rows: Vec<(I, bool, DateTime<Utc>)>,
}

impl<I> IssueList<I> {
    /// The list of `rows` in their order; `description` reaches a row's description (to cut it)
    /// and `last_activity` says when it last changed.
    pub fn from_rows(
        rows: Vec<I>,
        description: impl Fn(&mut I) -> Option<&mut String>,
        last_activity: impl Fn(&I) -> DateTime<Utc>,
    ) -> Self {
        let rows = rows
            .into_iter()
            .map(|mut issue| {
                let mut truncated = false;
                if let Some(d) = description(&mut issue) {
                    if let Some((cut, _)) = d.char_indices().nth(LIST_DESCRIPTION_CHARS) {
                        d.truncate(cut);
                        truncated = true;
                    }
                }
                let at = last_activity(&issue);
                (issue, truncated, at)
            })
            .collect();
        Self { rows }
    }
}

impl<I: Serialize> Serialize for IssueList<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (review, blocker) = list_attention();
        serializer.collect_seq(
            self.rows
                .iter()
                .map(|(issue, truncated, at)| IssueListItem {
                    last_activity_at: *at,
                    issue,
                    description_truncated: *truncated,
                    active_run: None,
                    review_attention: review,
                    blocker_attention: blocker,
                    successful_run_handoff: None,
                    active_recovery_action: None,
                }),
        )
    }
}

impl<I: JsonSchema + 'static> JsonSchema for IssueList<I> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("IssueList_for_{}", I::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<IssueListItem<'static, I>>>::json_schema(generator)
    }
}

/// Body of `POST /companies/{companyId}/labels`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateLabel {
    #[schemars(required, with = "String", length(min = 1, max = 48))]
    pub name: Option<String>,
    /// `#RRGGBB`.
    #[schemars(required, with = "String", regex(pattern = r"^#[0-9a-fA-F]{6}$"))]
    pub color: Option<String>,
}
