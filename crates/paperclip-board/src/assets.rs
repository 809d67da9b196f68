//! The board's stylesheet and script, embedded in the binary and written by us (no library).

pub const CSS_PATH: &str = "/static/board.css";
pub const JS_PATH: &str = "/static/board.js";

pub const BOARD_CSS: &str = include_str!("assets/board.css");
pub const BOARD_JS: &str = include_str!("assets/board.js");

/// A weak validator for an asset: its length and a hash of its bytes (FNV-1a).
pub fn etag(body: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("W/\"{:x}-{h:016x}\"", body.len())
}
