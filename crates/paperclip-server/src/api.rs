//! The route table: every route is registered here once, which builds both the axum router and
//! the OpenAPI document, so the two cannot drift.

use axum::handler::Handler;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::AppState;

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
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
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.router = self.router.route(path, $routing(handler));
            self.ops.push(Op {
                method: $method,
                path,
                summary,
                tag: self.tag,
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
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, axum::routing::any(handler));
        for method in ["get", "post", "patch", "delete"] {
            self.ops.push(Op {
                method,
                path,
                summary,
                tag: self.tag,
            });
        }
        self
    }

    /// The router and the operations.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Op>) {
        (self.router, self.ops)
    }
}

/// OpenAPI 3.1 for the operations (paths are relative to `/api`).
pub fn openapi(ops: &[Op]) -> Value {
    let mut paths = Map::new();
    for op in ops {
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut operation = json!({
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": format!("{}{}", op.method, op.path.replace(['/', '{', '}', '-'], "_")),
            "parameters": params,
            "responses": {
                "200": {"description": "Success", "content": {"application/json": {}}},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
            },
        });
        if matches!(op.method, "post" | "patch" | "put") {
            operation["requestBody"] =
                json!({"content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths
            .entry(format!("/api{}", op.path))
            .or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Paperclip API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"agentKey": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "Error", "content": {"application/json": {"schema": {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "string"}, "details": {}}
            }}}}}
        },
    })
}
