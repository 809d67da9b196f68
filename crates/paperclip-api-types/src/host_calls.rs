//! The calls a plugin worker makes to its host: one table of method name, the manifest
//! capability it needs, and whether it only reads. The host dispatches on [`HostCall`]; the SDK
//! names its methods from it.

macro_rules! host_calls {
    ($($variant:ident = $method:literal, $capability:expr, $access:ident;)+) => {
        /// A host method.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HostCall {
            $($variant),+
        }

        impl HostCall {
            /// Every host method.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The JSON-RPC method name.
            pub fn method(self) -> &'static str {
                match self {
                    $(Self::$variant => $method),+
                }
            }

            /// The capability the plugin's manifest must declare (`None`: every plugin may).
            pub fn capability(self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => $capability),+
                }
            }

            /// Whether the call only reads.
            pub fn access(self) -> Access {
                match self {
                    $(Self::$variant => Access::$access),+
                }
            }

            /// The call named `method`, if there is one.
            pub fn from_method(method: &str) -> Option<Self> {
                match method {
                    $($method => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

/// What a host call does to Paperclip's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only.
    Read,
    /// Writes (attributed to the plugin and the actor that invoked it).
    Write,
}

host_calls! {
    ConfigGet = "config.get", None, Read;
    Log = "log", None, Read;
    DbNamespace = "db.namespace", Some("database.namespace.read"), Read;
    DbQuery = "db.query", Some("database.namespace.read"), Read;
    // Writes only inside the plugin's own namespace, under its own role.
    DbExecute = "db.execute", Some("database.namespace.write"), Write;
    IssuesGet = "issues.get", Some("issues.read"), Read;
    IssuesList = "issues.list", Some("issues.read"), Read;
    IssuesGetSubtree = "issues.getSubtree", Some("issue.subtree.read"), Read;
    IssuesOrchestration = "issues.summaries.getOrchestration", Some("issues.orchestration.read"), Read;
    DocumentsList = "issues.documents.list", Some("issue.documents.read"), Read;
    DocumentsGet = "issues.documents.get", Some("issue.documents.read"), Read;
    IssuesCreate = "issues.create", Some("issues.create"), Write;
    IssuesUpdate = "issues.update", Some("issues.update"), Write;
    SetBlockedBy = "issues.relations.setBlockedBy", Some("issue.relations.write"), Write;
    DocumentsUpsert = "issues.documents.upsert", Some("issue.documents.write"), Write;
    DocumentsDelete = "issues.documents.delete", Some("issue.documents.write"), Write;
    CreateComment = "issues.createComment", Some("issue.comments.create"), Write;
    RequestWakeup = "issues.requestWakeup", Some("issues.wakeup"), Write;
    StateGet = "state.get", Some("plugin.state.read"), Read;
    StateSet = "state.set", Some("plugin.state.write"), Write;
    StateDelete = "state.delete", Some("plugin.state.write"), Write;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_name_maps_back_to_its_call() {
        for call in HostCall::ALL {
            assert_eq!(HostCall::from_method(call.method()), Some(*call));
        }
        assert_eq!(HostCall::from_method("db.drop"), None);
    }
}
