//! The heartbeat prompt: a template with a few `{{placeholders}}` filled from the run.

use super::RunContext;

/// The placeholders a template may use.
const KNOWN: &[&str] = &[
    "agent.id",
    "agent.name",
    "company.id",
    "run.id",
    "wake.reason",
    "wake.source",
    "task.id",
    "task.identifier",
    "task.title",
];

/// Ours, when the agent has none: who it is, why it woke, what to do first.
const DEFAULT: &str = "You are {{agent.name}}, an agent of your company in Paperclip. This is heartbeat \
run {{run.id}}; you were woken because: {{wake.reason}}.\n\
Follow \"Working inside Paperclip\" in your instructions: check your inbox, check out one issue, do \
the work, and report through the API before you exit.";

/// Checks a template: every `{{…}}` must be a known placeholder.
pub fn check(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            return Err("promptTemplate has an unclosed {{".into());
        };
        let name = after[..j].trim();
        if !KNOWN.contains(&name) {
            return Err(format!(
                "promptTemplate uses an unknown placeholder {{{{{name}}}}} (known: {})",
                KNOWN.join(", ")
            ));
        }
        rest = &after[j + 2..];
    }
    Ok(())
}

/// The prompt for this run (the task, when there is one, is named after the template).
pub fn render(template: Option<&str>, ctx: &RunContext) -> String {
    let text = |k: &str| {
        ctx.context
            .get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (task_id, identifier, title) = ctx.task.clone().unwrap_or_default();
    let values = [
        ("agent.id", ctx.agent_id.to_string()),
        ("agent.name", ctx.agent_name.clone()),
        ("company.id", ctx.company_id.to_string()),
        ("run.id", ctx.run_id.to_string()),
        ("wake.reason", text("wakeReason")),
        ("wake.source", text("wakeSource")),
        ("task.id", task_id.clone()),
        ("task.identifier", identifier.clone()),
        ("task.title", title.clone()),
    ];
    let mut out = template.unwrap_or(DEFAULT).to_string();
    for (k, v) in &values {
        for form in [format!("{{{{{k}}}}}"), format!("{{{{ {k} }}}}")] {
            out = out.replace(&form, v);
        }
    }
    if !task_id.is_empty() && template.is_none() {
        out.push_str(&format!(
            "\n\nYour task: {identifier} \"{title}\" (issue id {task_id}). Start with it."
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_name_only_known_placeholders() {
        assert!(super::check("Hi {{agent.name}}, do {{ task.title }}").is_ok());
        assert!(super::check("{{secrets.all}}")
            .unwrap_err()
            .contains("unknown placeholder"));
        assert!(super::check("{{agent.name").is_err());
    }
}
