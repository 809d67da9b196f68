//! Wire types shared by every side of a Paperclip connection, so each is declared once.
//!
//! Today this holds the plugin worker protocol ([`rpc`]), used by the host in the server and by
//! the Rust plugin SDK. The layout issue moves the REST request/response types here next.

pub mod rpc;
