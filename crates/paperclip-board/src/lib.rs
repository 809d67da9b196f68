//! The board: Paperclip's web UI as server-rendered HTML.
//!
//! Every page is rendered here from data the server has already read (this crate runs no
//! query and knows no HTTP), with [`maud`] so every interpolated value is escaped by
//! construction. Markdown goes through [`markdown::render`], which sanitizes it. The little
//! JavaScript there is ([`assets::BOARD_JS`], our own) does three things: sends forms to the JSON
//! API, follows the company's live events to refresh the parts of a page marked live, and tails
//! a run's log. Nothing here needs a Node toolchain: the assets are embedded in the binary.

pub mod access;
pub mod agents;
pub mod assets;
pub mod dashboard;
pub mod issues;
pub mod layout;
pub mod markdown;
pub mod onboarding;
pub mod settings;
pub mod work;

pub use layout::{Ctx, Nav};
pub use maud::{html, Markup, PreEscaped};
