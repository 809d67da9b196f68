//! What an agent may report on its output: one JSON line `{"type": "paperclip.usage", ...}`
//! with its token usage and cost, and `{"type": "paperclip.result", ...}` with a summary. Any
//! adapter whose agent prints plain lines can use it; coding-agent adapters parse their CLI's
//! own stream instead and fill the same fields.

use paperclip_store::runs::RunCost;
use serde_json::Value;

/// Usage, cost and result gathered from an agent's output.
#[derive(Debug, Clone, Default)]
pub struct Reported {
    pub usage: Option<Value>,
    pub cost: Option<RunCost>,
    pub result: Option<Value>,
}

/// Largest line considered for a report (a report is small; a huge line is just output).
const MAX_REPORT_LINE: usize = 64 * 1024;

impl Reported {
    /// Looks at one line; answers whether it was a report.
    pub fn take(&mut self, line: &str) -> bool {
        let t = line.trim();
        if t.len() > MAX_REPORT_LINE || !t.starts_with('{') || !t.contains("\"paperclip.") {
            return false;
        }
        let Ok(v) = serde_json::from_str::<Value>(t) else {
            return false;
        };
        match v.get("type").and_then(Value::as_str) {
            Some("paperclip.usage") => {
                self.add_usage(&v);
                true
            }
            Some("paperclip.result") => {
                self.result = Some(v);
                true
            }
            _ => false,
        }
    }

    /// Adds a usage report (several reports in one run add up).
    pub fn add_usage(&mut self, v: &Value) {
        let n = |k: &str| {
            v.get(k)
                .and_then(Value::as_i64)
                .filter(|n| *n >= 0)
                .unwrap_or(0)
        };
        let cents = match (
            v.get("costCents").and_then(Value::as_i64),
            v.get("costUsd").and_then(Value::as_f64),
        ) {
            (Some(c), _) if c >= 0 => c,
            (_, Some(usd)) if (0.0..1e9).contains(&usd) => (usd * 100.0).round() as i64,
            _ => 0,
        };
        let text = |k: &str, d: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or(d)
                .chars()
                .take(200)
                .collect::<String>()
        };
        let c = self.cost.get_or_insert_with(|| RunCost {
            provider: text("provider", "unknown"),
            model: text("model", "unknown"),
            input_tokens: 0,
            cached_input_tokens: 0,
            output_tokens: 0,
            cost_cents: 0,
        });
        c.input_tokens = c.input_tokens.saturating_add(n("inputTokens"));
        c.cached_input_tokens = c.cached_input_tokens.saturating_add(n("cachedInputTokens"));
        c.output_tokens = c.output_tokens.saturating_add(n("outputTokens"));
        c.cost_cents = c.cost_cents.saturating_add(cents);
        self.usage = Some(serde_json::json!({
            "inputTokens": c.input_tokens, "cachedInputTokens": c.cached_input_tokens,
            "outputTokens": c.output_tokens, "costCents": c.cost_cents,
            "provider": c.provider, "model": c.model,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reports_add_up_and_plain_lines_pass() {
        let mut r = Reported::default();
        assert!(!r.take("hello"));
        assert!(!r.take("{\"type\": \"other\"}"));
        assert!(r.take(r#"{"type":"paperclip.usage","provider":"anthropic","model":"m","inputTokens":10,"outputTokens":5,"costUsd":0.125}"#));
        assert!(r.take(r#"{"type":"paperclip.usage","inputTokens":1,"costCents":2}"#));
        let c = r.cost.clone().unwrap();
        assert_eq!(
            (
                c.input_tokens,
                c.output_tokens,
                c.cost_cents,
                c.provider.as_str()
            ),
            (11, 5, 15, "anthropic")
        );
        assert!(r.take(r#"{"type":"paperclip.result","summary":"done"}"#));
        assert_eq!(r.result.unwrap()["summary"], "done");
    }
}
