//! The vocabulary of an issue's deliverables (work products).

/// `type`: what the deliverable is.
pub const WORK_PRODUCT_TYPES: &[&str] = &[
    "preview_url",
    "runtime_service",
    "pull_request",
    "branch",
    "commit",
    "artifact",
    "document",
];

/// `status`: where it stands.
pub const WORK_PRODUCT_STATUSES: &[&str] = &[
    "active",
    "ready_for_review",
    "approved",
    "changes_requested",
    "merged",
    "closed",
    "failed",
    "archived",
    "draft",
];

/// `reviewState`: what the board said.
pub const WORK_PRODUCT_REVIEW_STATES: &[&str] = &[
    "none",
    "needs_board_review",
    "approved",
    "changes_requested",
];

/// `healthStatus`: for previews and services.
pub const WORK_PRODUCT_HEALTH: &[&str] = &["unknown", "healthy", "unhealthy"];
