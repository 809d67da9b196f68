//! What the OpenAPI document says about an operation, read from its handler's types.
//!
//! A handler's arguments say what it reads (a [`JsonBody<T>`](crate::extract::JsonBody) is its
//! request body, a [`QueryMap<Q>`](crate::extract::QueryMap) its query parameters) and its return
//! type says what it answers ([`Json<T>`] 200, [`Created<T>`] 201, [`WithStatus<T>`] a status chosen at run time, errors
//! through [`ApiError`]). The route table asks each handler for this description when it
//! registers it, so the document cannot drift from the code, and a handler whose answer has no
//! schema (a bare `Response` or `Json<Value>`) does not compile into the table.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::ApiError;

/// One operation's request and responses.
#[derive(Debug, Default)]
pub struct OpDoc {
    /// The JSON request body.
    pub body: Option<Schema>,
    /// An object schema whose properties are the query parameters.
    pub query: Option<Schema>,
    /// Success answers: status and body schema.
    pub responses: Vec<(u16, Schema)>,
    /// The handler can fail with [`ApiError`].
    pub fails: bool,
    /// The body is a file upload (multipart/form-data or the raw bytes), not JSON.
    pub upload: bool,
    /// The 200 answer is a file's bytes, not JSON.
    pub binary: bool,
}

/// Something a handler takes: contributes to the request side of its [`OpDoc`].
pub trait DescribeArg {
    /// Adds what this argument reads.
    fn describe(_doc: &mut OpDoc, _gen: &mut SchemaGenerator) {}
}

/// Something a handler returns: contributes its answers.
pub trait DescribeResponse {
    /// Adds what this answer looks like.
    fn describe(doc: &mut OpDoc, gen: &mut SchemaGenerator);
}

/// A handler whose arguments and answer describe themselves (implemented for every handler
/// function whose argument and return types do).
pub trait HandlerDoc<T> {
    /// The operation's description.
    fn describe(gen: &mut SchemaGenerator) -> OpDoc;
}

impl<F, Fut, Res> HandlerDoc<((),)> for F
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Res>,
    Res: DescribeResponse,
{
    fn describe(gen: &mut SchemaGenerator) -> OpDoc {
        let mut doc = OpDoc::default();
        Res::describe(&mut doc, gen);
        doc
    }
}

macro_rules! handler_doc {
    ($($arg:ident),+) => {
        impl<F, Fut, Res, M, $($arg,)+> HandlerDoc<(M, $($arg,)+)> for F
        where
            F: FnOnce($($arg,)+) -> Fut,
            Fut: Future<Output = Res>,
            Res: DescribeResponse,
            $($arg: DescribeArg,)+
        {
            fn describe(gen: &mut SchemaGenerator) -> OpDoc {
                let mut doc = OpDoc::default();
                $(<$arg as DescribeArg>::describe(&mut doc, gen);)+
                Res::describe(&mut doc, gen);
                doc
            }
        }
    };
}

handler_doc!(A1);
handler_doc!(A1, A2);
handler_doc!(A1, A2, A3);
handler_doc!(A1, A2, A3, A4);
handler_doc!(A1, A2, A3, A4, A5);
handler_doc!(A1, A2, A3, A4, A5, A6);
handler_doc!(A1, A2, A3, A4, A5, A6, A7);
handler_doc!(A1, A2, A3, A4, A5, A6, A7, A8);

// Arguments that read nothing the document describes beyond the path template (path
// parameters are named there) and the security scheme.
impl<S> DescribeArg for State<S> {}
impl<T> DescribeArg for Path<T> {}
impl DescribeArg for HeaderMap {}
impl DescribeArg for Method {}
impl DescribeArg for crate::auth::Auth {}

/// A raw body is forwarded as it came (plugin routes): any JSON.
impl DescribeArg for Bytes {
    fn describe(doc: &mut OpDoc, _gen: &mut SchemaGenerator) {
        doc.body = Some(Schema::default());
    }
}

impl<T: JsonSchema> DescribeArg for crate::extract::JsonBody<T> {
    fn describe(doc: &mut OpDoc, gen: &mut SchemaGenerator) {
        doc.body = Some(gen.subschema_for::<T>());
    }
}

impl<Q: JsonSchema> DescribeArg for crate::extract::QueryMap<Q> {
    fn describe(doc: &mut OpDoc, gen: &mut SchemaGenerator) {
        // Inline, not a reference: the builder lists the properties as parameters.
        let mut inline = SchemaGenerator::new(gen.settings().clone().with(|s| {
            s.inline_subschemas = true;
        }));
        doc.query = Some(inline.root_schema_for::<Q>());
    }
}

/// A streamed body (a company bundle, NDJSON): any content.
impl DescribeArg for crate::extract::RawBody {
    fn describe(doc: &mut OpDoc, _gen: &mut SchemaGenerator) {
        doc.body = Some(Schema::default());
    }
}

/// A file upload: `multipart/form-data` with a `file` part, or the raw bytes.
impl DescribeArg for crate::extract::Upload {
    fn describe(doc: &mut OpDoc, _gen: &mut SchemaGenerator) {
        doc.upload = true;
    }
}

/// A file's bytes, streamed (`Content-Type`, `Content-Disposition` and `Content-Length` set).
pub struct FileBody(pub Response);

impl IntoResponse for FileBody {
    fn into_response(self) -> Response {
        self.0
    }
}

impl DescribeResponse for FileBody {
    fn describe(doc: &mut OpDoc, _gen: &mut SchemaGenerator) {
        doc.binary = true;
    }
}

impl<T: JsonSchema> DescribeResponse for Json<T> {
    fn describe(doc: &mut OpDoc, gen: &mut SchemaGenerator) {
        doc.responses.push((200, gen.subschema_for::<T>()));
    }
}

impl<R: DescribeResponse, E: DescribeResponse> DescribeResponse for Result<R, E> {
    fn describe(doc: &mut OpDoc, gen: &mut SchemaGenerator) {
        R::describe(doc, gen);
        E::describe(doc, gen);
    }
}

/// The error answers every operation shares (see the route table for which ones apply).
impl DescribeResponse for ApiError {
    fn describe(doc: &mut OpDoc, _gen: &mut SchemaGenerator) {
        doc.fails = true;
    }
}

/// 201 Created with `T`.
pub struct Created<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (StatusCode::CREATED, Json(self.0)).into_response()
    }
}

impl<T: JsonSchema> DescribeResponse for Created<T> {
    fn describe(doc: &mut OpDoc, gen: &mut SchemaGenerator) {
        doc.responses.push((201, gen.subschema_for::<T>()));
    }
}

/// An answer with a status chosen at run time among those `T` documents (health: 200 or 503
/// with the same shape; an idempotent create: 201 or 200).
pub struct WithStatus<T> {
    pub status: StatusCode,
    pub body: T,
}

impl<T: serde::Serialize> IntoResponse for WithStatus<T> {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// The statuses a [`WithStatus`] answer can carry, declared by the body type.
pub trait Statuses {
    /// Every status an answer of this type may carry.
    const STATUSES: &'static [u16];
}

impl<T: JsonSchema + Statuses> DescribeResponse for WithStatus<T> {
    fn describe(doc: &mut OpDoc, gen: &mut SchemaGenerator) {
        for status in T::STATUSES {
            doc.responses.push((*status, gen.subschema_for::<T>()));
        }
    }
}

/// What a plugin's worker answered, forwarded: any status, any JSON.
pub struct Forwarded(pub Response);

impl IntoResponse for Forwarded {
    fn into_response(self) -> Response {
        self.0
    }
}

impl DescribeResponse for Forwarded {
    fn describe(doc: &mut OpDoc, _gen: &mut SchemaGenerator) {
        doc.responses.push((200, Schema::default()));
    }
}

/// 200 with `T` and a `Set-Cookie` header (signing in and out).
pub struct WithCookie<T> {
    pub cookie: axum::http::HeaderValue,
    pub body: T,
}

impl<T: serde::Serialize> IntoResponse for WithCookie<T> {
    fn into_response(self) -> Response {
        (
            [(axum::http::header::SET_COOKIE, self.cookie)],
            Json(self.body),
        )
            .into_response()
    }
}

impl<T: JsonSchema> DescribeResponse for WithCookie<T> {
    fn describe(doc: &mut OpDoc, gen: &mut SchemaGenerator) {
        doc.responses.push((200, gen.subschema_for::<T>()));
    }
}

impl DescribeArg for crate::auth::Caller {}
impl DescribeArg for crate::session::Client {}
