//! Reading each CLI's stream: one JSON object per stdout line (anything else is plain output),
//! turned into run events and gathered into a [`Transcript`]: the session id, the model, token
//! usage, cost, the final result and the error, if any.

use serde_json::{json, Value};

use super::super::{NewEvent, Stream};
use super::Vendor;

/// What a run's stream said.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub session_id: Option<String>,
    pub model: Option<String>,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub result: Option<String>,
    pub error: Option<String>,
    /// Assistant messages and tool calls seen (a run that saw none did no work).
    pub steps: u32,
    /// The CLI's last line on stderr (what it says when it refuses to start).
    pub last_stderr: Option<String>,
}

impl Transcript {
    pub fn did_work(&self) -> bool {
        self.steps > 0
    }
}

/// Longest text kept in one event's message.
const MAX_TEXT: usize = 2000;

fn clip(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut cut = MAX_TEXT;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

fn event(kind: &str, message: impl Into<String>, payload: Option<Value>) -> NewEvent {
    NewEvent {
        event_type: kind.into(),
        stream: Some("stdout".into()),
        level: Some("info".into()),
        message: Some(clip(&message.into())),
        payload,
    }
}

fn n(v: &Value, path: &[&str]) -> i64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_i64().filter(|x| *x >= 0).unwrap_or(0)
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|x| !x.is_empty())
}

/// One line of output. Answers the run events it carries.
pub fn line(vendor: Vendor, t: &mut Transcript, stream: Stream, text: &str) -> Vec<NewEvent> {
    let trimmed = text.trim();
    if stream == Stream::Stderr && !trimmed.is_empty() {
        t.last_stderr = Some(clip(trimmed));
    }
    if stream != Stream::Stdout || !trimmed.starts_with('{') {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_str::<Value>(trimmed) else {
        return Vec::new();
    };
    match vendor {
        Vendor::Claude => claude(t, &v),
        Vendor::Codex => codex(t, &v),
        Vendor::Gemini => gemini(t, &v),
        Vendor::OpenCode => opencode(t, &v),
    }
}

/// Claude Code `--output-format stream-json`: `system/init`, `assistant` and `user` messages,
/// and a final `result` with the cost and usage.
fn claude(t: &mut Transcript, v: &Value) -> Vec<NewEvent> {
    if let Some(id) = s(v, "session_id") {
        t.session_id = Some(id.to_string());
    }
    let mut out = Vec::new();
    match s(v, "type") {
        Some("system") => {
            if let Some(m) = s(v, "model") {
                t.model = Some(m.to_string());
            }
            out.push(event(
                "adapter.init",
                format!("session {}", t.session_id.as_deref().unwrap_or("?")),
                None,
            ));
        }
        Some("assistant") => {
            for part in v["message"]["content"].as_array().into_iter().flatten() {
                match s(part, "type") {
                    Some("text") => {
                        t.steps += 1;
                        out.push(event(
                            "transcript.assistant",
                            s(part, "text").unwrap_or(""),
                            None,
                        ));
                    }
                    Some("tool_use") => {
                        t.steps += 1;
                        let name = s(part, "name").unwrap_or("tool");
                        out.push(event(
                            "transcript.tool_call",
                            name,
                            Some(json!({"tool": name})),
                        ));
                    }
                    _ => {}
                }
            }
            if let Some(m) = v["message"]["model"].as_str() {
                t.model = Some(m.to_string());
            }
        }
        Some("user") => {
            for part in v["message"]["content"].as_array().into_iter().flatten() {
                if s(part, "type") == Some("tool_result") {
                    out.push(event(
                        "transcript.tool_result",
                        if part["is_error"] == true {
                            "error"
                        } else {
                            "ok"
                        },
                        None,
                    ));
                }
            }
        }
        Some("result") => {
            let u = &v["usage"];
            t.input_tokens = n(u, &["input_tokens"]) + n(u, &["cache_creation_input_tokens"]);
            t.cached_input_tokens = n(u, &["cache_read_input_tokens"]);
            t.output_tokens = n(u, &["output_tokens"]);
            t.cost_usd = v["total_cost_usd"]
                .as_f64()
                .filter(|c| c.is_finite() && *c >= 0.0)
                .unwrap_or(0.0);
            t.result = s(v, "result").map(str::to_string);
            if v["is_error"] == true || s(v, "subtype").is_some_and(|st| st != "success") {
                t.error = Some(format!(
                    "{}: {}",
                    s(v, "subtype").unwrap_or("error"),
                    s(v, "result").unwrap_or("the CLI reported an error")
                ));
            }
            out.push(event(
                "transcript.result",
                s(v, "subtype").unwrap_or("result"),
                None,
            ));
        }
        _ => {}
    }
    out
}

/// Codex `exec --json`: `thread.started`, `item.*`, `turn.completed` with usage, `turn.failed`
/// and `error`.
fn codex(t: &mut Transcript, v: &Value) -> Vec<NewEvent> {
    let mut out = Vec::new();
    match s(v, "type") {
        Some("thread.started") => {
            t.session_id = s(v, "thread_id").map(str::to_string);
            out.push(event(
                "adapter.init",
                format!("thread {}", t.session_id.as_deref().unwrap_or("?")),
                None,
            ));
        }
        Some("item.completed" | "item.started") => {
            let item = &v["item"];
            let done = s(v, "type") == Some("item.completed");
            match (s(item, "type"), done) {
                (Some("agent_message"), true) => {
                    t.steps += 1;
                    t.result = s(item, "text").map(str::to_string);
                    out.push(event(
                        "transcript.assistant",
                        s(item, "text").unwrap_or(""),
                        None,
                    ));
                }
                (Some("command_execution"), false) => {
                    t.steps += 1;
                    out.push(event(
                        "transcript.tool_call",
                        s(item, "command").unwrap_or("command"),
                        Some(json!({"tool": "shell"})),
                    ));
                }
                (Some(kind @ ("file_change" | "mcp_tool_call" | "web_search")), true) => {
                    t.steps += 1;
                    out.push(event(
                        "transcript.tool_call",
                        kind,
                        Some(json!({"tool": kind})),
                    ));
                }
                _ => {}
            }
        }
        Some("turn.completed") => {
            let u = &v["usage"];
            t.input_tokens += n(u, &["input_tokens"]);
            t.cached_input_tokens += n(u, &["cached_input_tokens"]);
            t.output_tokens += n(u, &["output_tokens"]);
        }
        Some("turn.failed") => {
            t.error = Some(
                v["error"]["message"]
                    .as_str()
                    .unwrap_or("turn failed")
                    .to_string(),
            );
        }
        Some("error") => {
            t.error = Some(s(v, "message").unwrap_or("error").to_string());
            out.push(event(
                "transcript.error",
                s(v, "message").unwrap_or("error"),
                None,
            ));
        }
        _ => {}
    }
    out
}

/// Gemini CLI `--output-format stream-json`: `init`, `message`, `tool_use`, `tool_result`,
/// `error` and `result` with stats.
fn gemini(t: &mut Transcript, v: &Value) -> Vec<NewEvent> {
    let mut out = Vec::new();
    match s(v, "type") {
        Some("init") => {
            t.session_id = s(v, "session_id")
                .or_else(|| s(v, "sessionId"))
                .map(str::to_string);
            t.model = s(v, "model").map(str::to_string);
            out.push(event(
                "adapter.init",
                format!("session {}", t.session_id.as_deref().unwrap_or("?")),
                None,
            ));
        }
        Some("message") if s(v, "role") == Some("assistant") => {
            t.steps += 1;
            let text = s(v, "content").unwrap_or("");
            t.result = Some(format!(
                "{}{text}",
                if v["delta"] == true {
                    t.result.clone().unwrap_or_default()
                } else {
                    String::new()
                }
            ));
            out.push(event("transcript.assistant", text, None));
        }
        Some("tool_use") => {
            t.steps += 1;
            let name = s(v, "tool_name").unwrap_or("tool");
            out.push(event(
                "transcript.tool_call",
                name,
                Some(json!({"tool": name})),
            ));
        }
        Some("tool_result") => out.push(event(
            "transcript.tool_result",
            s(v, "status").unwrap_or("done"),
            None,
        )),
        Some("error") => {
            let m = s(v, "message").unwrap_or("error");
            if s(v, "severity") == Some("error") {
                t.error = Some(m.to_string());
            }
            out.push(event("transcript.error", m, None));
        }
        Some("result") => {
            let st = &v["stats"];
            t.input_tokens = n(st, &["input_tokens"]);
            t.cached_input_tokens = n(st, &["cached"]);
            t.output_tokens = n(st, &["output_tokens"]);
            if s(v, "status").is_some_and(|x| x != "success") {
                t.error = Some(
                    v["error"]["message"]
                        .as_str()
                        .unwrap_or("the CLI reported an error")
                        .to_string(),
                );
            }
            out.push(event(
                "transcript.result",
                s(v, "status").unwrap_or("result"),
                None,
            ));
        }
        _ => {}
    }
    out
}

/// OpenCode `run --format json`: `step_start`, `text`, `tool_use`, `step_finish` with tokens and
/// cost, `error`; every event names its `sessionID`.
fn opencode(t: &mut Transcript, v: &Value) -> Vec<NewEvent> {
    if let Some(id) = s(v, "sessionID") {
        t.session_id = Some(id.to_string());
    }
    let part = &v["part"];
    let mut out = Vec::new();
    match s(v, "type") {
        Some("text") => {
            t.steps += 1;
            t.result = s(part, "text").map(str::to_string);
            out.push(event(
                "transcript.assistant",
                s(part, "text").unwrap_or(""),
                None,
            ));
        }
        Some("tool_use") => {
            t.steps += 1;
            let name = s(part, "tool").unwrap_or("tool");
            out.push(event(
                "transcript.tool_call",
                name,
                Some(json!({"tool": name, "status": part["state"]["status"]})),
            ));
        }
        Some("step_finish") => {
            let tk = &part["tokens"];
            t.input_tokens += n(tk, &["input"]);
            t.output_tokens += n(tk, &["output"]) + n(tk, &["reasoning"]);
            t.cached_input_tokens += n(tk, &["cache", "read"]);
            t.cost_usd += part["cost"]
                .as_f64()
                .filter(|c| c.is_finite() && *c >= 0.0)
                .unwrap_or(0.0);
        }
        Some("error") => {
            let m = s(v, "message")
                .or_else(|| v["error"]["data"]["message"].as_str())
                .or_else(|| v["error"]["message"].as_str())
                .unwrap_or("error");
            t.error = Some(m.to_string());
            out.push(event("transcript.error", m, None));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(vendor: Vendor, lines: &[&str]) -> (Transcript, usize) {
        let mut t = Transcript::default();
        let events: usize = lines
            .iter()
            .map(|l| line(vendor, &mut t, Stream::Stdout, l).len())
            .sum();
        (t, events)
    }

    #[test]
    fn claude_stream_json_yields_session_usage_cost_and_result() {
        let (t, events) = feed(
            Vendor::Claude,
            &[
                r#"{"type":"system","subtype":"init","session_id":"s-1","model":"claude-sonnet-4"}"#,
                "garbage that is not json",
                r#"{"type":"assistant","session_id":"s-1","message":{"content":[{"type":"text","text":"Looking"},{"type":"tool_use","name":"Bash","input":{}}]}}"#,
                r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"ok"}]}}"#,
                r#"{"type":"result","subtype":"success","is_error":false,"result":"Done","session_id":"s-1","total_cost_usd":0.0421,"usage":{"input_tokens":10,"cache_read_input_tokens":100,"output_tokens":20}}"#,
            ],
        );
        assert_eq!(
            (
                t.session_id.as_deref(),
                t.model.as_deref(),
                t.result.as_deref()
            ),
            (Some("s-1"), Some("claude-sonnet-4"), Some("Done"))
        );
        assert_eq!(
            (t.input_tokens, t.cached_input_tokens, t.output_tokens),
            (10, 100, 20)
        );
        assert!((t.cost_usd - 0.0421).abs() < 1e-9 && t.error.is_none() && t.did_work());
        assert_eq!(events, 5);
        let (t, _) = feed(
            Vendor::Claude,
            &[r#"{"type":"result","subtype":"error_max_turns","is_error":true,"session_id":"s"}"#],
        );
        assert!(t.error.unwrap().contains("error_max_turns"));
    }

    #[test]
    fn codex_gemini_and_opencode_streams_are_read() {
        let (t, _) = feed(
            Vendor::Codex,
            &[
                r#"{"type":"thread.started","thread_id":"th-9"}"#,
                r#"{"type":"item.started","item":{"type":"command_execution","command":"ls"}}"#,
                r#"{"type":"item.completed","item":{"type":"agent_message","text":"All done"}}"#,
                r#"{"type":"turn.completed","usage":{"input_tokens":5,"cached_input_tokens":2,"output_tokens":3}}"#,
            ],
        );
        assert_eq!(
            (
                t.session_id.as_deref(),
                t.input_tokens,
                t.cached_input_tokens,
                t.output_tokens,
                t.result.as_deref()
            ),
            (Some("th-9"), 5, 2, 3, Some("All done"))
        );
        let (t, _) = feed(
            Vendor::Gemini,
            &[
                r#"{"type":"init","session_id":"g-1","model":"gemini-2.5-pro"}"#,
                r#"{"type":"message","role":"assistant","content":"Hel","delta":true}"#,
                r#"{"type":"message","role":"assistant","content":"lo","delta":true}"#,
                r#"{"type":"result","status":"success","stats":{"input_tokens":7,"output_tokens":4}}"#,
            ],
        );
        assert_eq!(
            (
                t.session_id.as_deref(),
                t.result.as_deref(),
                t.input_tokens,
                t.output_tokens
            ),
            (Some("g-1"), Some("Hello"), 7, 4)
        );
        let (t, _) = feed(
            Vendor::OpenCode,
            &[
                r#"{"type":"step_start","sessionID":"ses_1","part":{}}"#,
                r#"{"type":"text","sessionID":"ses_1","part":{"text":"ok"}}"#,
                r#"{"type":"step_finish","sessionID":"ses_1","part":{"tokens":{"input":3,"output":2,"reasoning":1,"cache":{"read":4}},"cost":0.01}}"#,
                r#"{"type":"step_finish","sessionID":"ses_1","part":{"tokens":{"input":1,"output":1},"cost":0.02}}"#,
            ],
        );
        assert_eq!(
            (
                t.session_id.as_deref(),
                t.input_tokens,
                t.output_tokens,
                t.cached_input_tokens
            ),
            (Some("ses_1"), 4, 4, 4)
        );
        assert!((t.cost_usd - 0.03).abs() < 1e-9);
    }
}
