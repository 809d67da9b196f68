//! Request bodies of the plugins routes.

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Install {
    #[schemars(required, with = "String", length(min = 1))]
    pub path: Option<String>,
    /// Refused: this server installs folders, not registry packages.
    pub package_name: Option<String>,
}

/// Query of a plugin's own routes: whatever the plugin's route reads.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PluginRouteQuery(pub std::collections::BTreeMap<String, String>);

/// A plugin as the registry routes show it: the stored plugin (`P`) and its worker in this
/// process.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginView<P> {
    #[serde(flatten)]
    pub plugin: P,
    /// A worker of this plugin runs in the answering server process.
    pub worker_running: bool,
    /// Times this process restarted the worker after a crash.
    pub restarts: u32,
}
