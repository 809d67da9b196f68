//! The route table: every route is registered here once, which builds both the axum router and
//! the OpenAPI document, so the two cannot drift. Each operation's request body, query
//! parameters and answers come from its handler's types (see [`crate::doc`]).

use axum::handler::Handler;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::doc::{HandlerDoc, OpDoc};
use crate::AppState;

/// Builds one operation's description from a schema generator.
type Describe = fn(&mut SchemaGenerator) -> OpDoc;

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    describe: Describe,
}

impl Op {
    /// An operation served outside the table (the document itself), described by `describe`.
    pub fn external(
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        tag: &'static str,
        describe: Describe,
    ) -> Self {
        Self {
            method,
            path,
            summary,
            tag,
            describe,
        }
    }
}

/// Router plus its description.
pub struct Api {
    router: Router<AppState>,
    ops: Vec<Op>,
    tag: &'static str,
}

macro_rules! verb {
    ($name:ident, $method:literal, $routing:ident) => {
        /// Registers a route.
        pub fn $name<H, T>(mut self, path: &'static str, summary: &'static str, handler: H) -> Self
        where
            H: Handler<T, AppState> + HandlerDoc<T>,
            T: 'static,
        {
            self.router = self.router.route(path, $routing(handler));
            self.ops.push(Op {
                method: $method,
                path,
                summary,
                tag: self.tag,
                describe: <H as HandlerDoc<T>>::describe,
            });
            self
        }
    };
}

impl Api {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            ops: Vec::new(),
            tag: "default",
        }
    }

    /// Tag for the routes registered next (OpenAPI grouping).
    pub fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    verb!(get, "get", get);
    verb!(post, "post", post);
    verb!(patch, "patch", patch);
    verb!(put, "put", put);
    verb!(delete, "delete", delete);

    /// Registers a handler for every method of `path` (documented as GET, POST, PATCH, DELETE).
    pub fn any<H, T>(mut self, path: &'static str, summary: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState> + HandlerDoc<T>,
        T: 'static,
    {
        self.router = self.router.route(path, axum::routing::any(handler));
        for method in ["get", "post", "patch", "delete"] {
            self.ops.push(Op {
                method,
                path,
                summary,
                tag: self.tag,
                describe: <H as HandlerDoc<T>>::describe,
            });
        }
        self
    }

    /// The router and the operations.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Op>) {
        (self.router, self.ops)
    }
}

/// The error statuses an operation can answer. The request guard answers any operation with 400
/// (malformed URI), 403 (foreign Host or Origin) and 413 (declared body too large); a handler that
/// can fail adds a missing or wrong credential, an unknown id, a crash and an unreachable
/// database; a body adds media type and rule violations; a write adds conflicts.
pub fn error_statuses(method: &str, has_body: bool, fails: bool) -> Vec<u16> {
    let mut s = vec![400, 403, 413];
    if fails {
        s.extend([401, 404, 500, 503]);
        if has_body {
            s.extend([415, 422]);
        }
        if method != "get" {
            // 409 conflicts; 429 when sign-in throttling (or another rate) says wait.
            s.extend([409, 429]);
        }
    }
    s.sort_unstable();
    s
}

/// The schema of a path parameter, by its name.
fn path_param_schema(name: &str) -> Value {
    match name {
        "issueId" => {
            json!({"type": "string", "description": "The issue's UUID or its identifier (e.g. PAP-12)"})
        }
        "key" => json!({"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}),
        "path" => json!({"type": "string", "description": "The rest of the plugin route"}),
        "pluginId" => json!({"type": "string", "description": "The plugin's UUID or its key"}),
        _ => json!({"type": "string", "format": "uuid"}),
    }
}

fn to_value(s: Schema) -> Value {
    s.to_value()
}

fn describe_status(status: u16) -> &'static str {
    match status {
        200 => "Success",
        201 => "Created",
        202 => "Accepted (queued)",
        400 => "Malformed request (details name each field)",
        401 => "Missing or invalid credentials",
        403 => "Not allowed for this actor, or a foreign Host/Origin",
        404 => "Not found (or not visible to this actor)",
        409 => "Conflicts with the current state",
        413 => "Request body too large",
        415 => "Content-Type must be application/json",
        422 => "Breaks a rule (details name the field)",
        429 => "Too many attempts; Retry-After says when to try again",
        500 => "Internal error (the cause is in the server log)",
        503 => "Database unavailable",
        _ => "Answer",
    }
}

/// OpenAPI 3.1 for the operations (paths are relative to `/api`).
pub fn openapi(ops: &[Op]) -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut gen = SchemaGenerator::new(settings);
    let mut paths = Map::new();
    for op in ops {
        let doc = (op.describe)(&mut gen);
        let mut params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let name = name.trim_start_matches('*');
                json!({"name": name, "in": "path", "required": true, "schema": path_param_schema(name)})
            })
            .collect();
        if let Some(q) = doc.query.map(to_value) {
            let required: Vec<&str> = q["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = q["properties"].as_object() {
                for (name, schema) in props {
                    let mut p = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": schema});
                    if let Some(d) = schema.get("description") {
                        p["description"] = d.clone();
                    }
                    params.push(p);
                }
            }
            if let Some(extra) = q.get("additionalProperties").filter(|a| a.is_object()) {
                params.push(json!({"name": "params", "in": "query", "required": false, "style": "form", "explode": true,
                    "schema": {"type": "object", "additionalProperties": extra}}));
            }
        }
        if doc.upload {
            // For a raw-bytes upload (a multipart one carries them as parts).
            params.push(json!({"name": "filename", "in": "query", "required": false,
                "schema": {"type": "string", "maxLength": 255}, "description": "The file's name (raw uploads)"}));
            params.push(json!({"name": "issueCommentId", "in": "query", "required": false,
                "schema": {"type": "string", "format": "uuid"}, "description": "Attach to this comment of the issue (raw uploads)"}));
        }
        let mut responses = Map::new();
        for (status, schema) in doc.responses {
            responses.insert(
                status.to_string(),
                json!({"description": describe_status(status), "content": {"application/json": {"schema": to_value(schema)}}}),
            );
        }
        if op.method == "get" && !doc.binary {
            responses.insert(
                "304".into(),
                json!({"description": "Not modified: If-None-Match names the answer's ETag"}),
            );
        }
        if doc.binary {
            responses.insert(
                "200".into(),
                json!({"description": "The file's bytes", "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}),
            );
        }
        {
            for status in error_statuses(op.method, doc.body.is_some() || doc.upload, doc.fails) {
                // A documented answer of the handler's own (health's 503) keeps its schema.
                responses.entry(status.to_string()).or_insert_with(|| {
                    json!({"description": describe_status(status), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
                });
            }
        }
        let mut operation = json!({
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": format!("{}{}", op.method, op.path.replace(['/', '{', '}', '-', '*'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if let Some(body) = doc.body {
            operation["requestBody"] =
                json!({"content": {"application/json": {"schema": to_value(body)}}});
        }
        if doc.upload {
            operation["requestBody"] = json!({"required": true, "content": {
                "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "contentMediaType": "application/octet-stream", "description": "The file; its part's Content-Type is the file's type"},
                        "issueCommentId": {"type": "string", "format": "uuid", "description": "Attach to this comment of the issue (issue attachments only)"}},
                    "additionalProperties": false}},
                "application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream",
                    "description": "The raw bytes, sent with the file's own Content-Type; name it with ?filename="}}}});
        }
        let entry = paths
            .entry(format!("/api{}", op.path.replace("{*", "{")))
            .or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    gen.subschema_for::<paperclip_api_types::common::ErrorBody>();
    let schemas: Map<String, Value> = gen.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Paperclip API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "security": [{}, {"agentKey": []}],
        "components": {
            "securitySchemes": {"agentKey": {"type": "http", "scheme": "bearer", "description": "An agent API key (pcp_…); the board needs none in local_trusted mode"}},
            "schemas": schemas,
        },
    })
}
