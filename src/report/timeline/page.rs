//! The timeline's page: a [`Run`] laid out as plain values (positions in
//! percent of the run, texts as read) and rendered by `timeline.html`,
//! which minijinja HTML-escapes as a whole.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use super::{Bar, Ending, Row, Run, TimelineError};

const TEMPLATE: &str = include_str!("timeline.html");

/// Hosts listed as the slowest.
const SLOWEST: usize = 5;

#[derive(Debug, Serialize)]
pub struct Page {
    title: String,
    summary: Vec<(String, String)>,
    counts: Vec<(String, u64)>,
    hosts: usize,
    ticks: Vec<Place>,
    marks: Vec<Place>,
    groups: Vec<Group>,
    slowest: Vec<Slow>,
    failures: Vec<Failed>,
    unreadable: usize,
}

/// A label at a position (percent of the run, as CSS text).
#[derive(Debug, Serialize)]
struct Place {
    left: String,
    label: String,
}

#[derive(Debug, Serialize)]
struct Group {
    label: String,
    rows: Vec<RowView>,
}

#[derive(Debug, Serialize)]
struct RowView {
    host: String,
    /// A CSS class from a fixed set, never a journal's text.
    class: &'static str,
    outcome: String,
    span: String,
    title: String,
    bars: Vec<BarView>,
}

#[derive(Debug, Serialize)]
struct BarView {
    left: String,
    width: String,
    class: &'static str,
    /// The step as a CSS class, from a fixed set: its shade.
    step: &'static str,
    label: String,
    title: String,
}

#[derive(Debug, Serialize)]
struct Slow {
    host: String,
    span: String,
    step: String,
}

#[derive(Debug, Serialize)]
struct Failed {
    host: String,
    outcome: String,
    current: String,
    reason: String,
    step: String,
    output: String,
}

impl Page {
    pub fn of(run: &Run) -> Page {
        let total = run.end.saturating_sub(run.start).max(1);
        let at = |ms: u64| percent(ms.saturating_sub(run.start), total);
        let field = |key: &str| run.started.get(key).map(text).unwrap_or_default();
        let mut groups: Vec<Group> = Vec::new();
        for row in &run.rows {
            let label = match row.batch {
                Some(b) if run.canary.contains(&b) => format!("batch {b} (canary)"),
                Some(b) => format!("batch {b}"),
                None => "in no batch (skipped or not planned)".to_string(),
            };
            if groups.last().is_none_or(|g| g.label != label) {
                groups.push(Group {
                    label,
                    rows: Vec::new(),
                });
            }
            let bars = row
                .bars
                .iter()
                .map(|bar| BarView {
                    left: at(bar.start),
                    width: percent(bar.end - bar.start, total),
                    class: bar_class(bar),
                    step: step_class(&bar.step),
                    label: bar.step.clone(),
                    title: bar_title(&row.host, bar),
                })
                .collect();
            let view = RowView {
                host: row.host.clone(),
                class: outcome_class(row.outcome.as_deref()),
                outcome: row.outcome.clone().unwrap_or_else(|| "unknown".into()),
                span: seconds(row.span()),
                title: row_title(row),
                bars,
            };
            groups.last_mut().expect("pushed above").rows.push(view);
        }
        let mut by_span: Vec<&Row> = run.rows.iter().filter(|r| !r.bars.is_empty()).collect();
        by_span.sort_by_key(|r| std::cmp::Reverse(r.span()));
        let slowest = by_span
            .iter()
            .take(SLOWEST)
            .map(|r| Slow {
                host: r.host.clone(),
                span: seconds(r.span()),
                step: r
                    .bars
                    .iter()
                    .max_by_key(|b| b.end - b.start)
                    .map(|b| format!("{} {}", b.step, seconds(b.end - b.start)))
                    .unwrap_or_default(),
            })
            .collect();
        let finished = run.finished.as_ref();
        let counts = finished
            .and_then(|f| f.get("counts"))
            .and_then(Value::as_object)
            .map(|c| {
                c.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        Page {
            title: format!("ferry run {}", field("run_id")),
            summary: summary(run, &field),
            counts,
            hosts: run.rows.len(),
            ticks: ticks(total)
                .into_iter()
                .map(|ms| Place {
                    left: percent(ms, total),
                    label: seconds(ms),
                })
                .collect(),
            marks: run
                .marks
                .iter()
                .map(|m| Place {
                    left: at(m.at),
                    label: m.label.clone(),
                })
                .collect(),
            groups,
            slowest,
            failures: failures(run),
            unreadable: run.unreadable,
        }
    }

    pub fn render(&self) -> Result<String, TimelineError> {
        let mut env = minijinja::Environment::new();
        // The name's `.html` turns HTML auto-escaping on for every value.
        env.add_template("timeline.html", TEMPLATE)?;
        Ok(env
            .get_template("timeline.html")?
            .render(minijinja::Value::from(minijinja::value::Serde(self)))?)
    }
}

fn summary(run: &Run, field: &dyn Fn(&str) -> String) -> Vec<(String, String)> {
    let finished = run.finished.as_ref();
    let duration = finished
        .and_then(|f| f.get("duration_ms"))
        .and_then(Value::as_u64)
        .unwrap_or(run.end.saturating_sub(run.start));
    let started = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(run.start));
    let sha = field("sha256");
    let mut rows = vec![("run", field("run_id")), ("environment", field("env"))];
    if field("event") == "rollback_started" {
        let to = field("to");
        let to = if to.is_empty() {
            "each host's previous good release".to_string()
        } else {
            to
        };
        rows.push(("rollback to", to));
    } else if field("event") == "tasks_started" {
        let tasks = super::list(&run.started, "tasks").join(", ");
        let playbook = field("playbook");
        let from = if playbook.is_empty() {
            "--cmd".to_string()
        } else {
            playbook
        };
        rows.push(("tasks", format!("{tasks} ({from})")));
    } else {
        rows.push(("release", field("release")));
        let sha = sha.get(..12).unwrap_or(&sha);
        rows.push(("artifact", format!("{} (sha256 {sha})", field("artifact"))));
    }
    rows.extend([
        ("by", format!("{}@{}", field("user"), field("controller"))),
        ("started", started.to_string()),
        ("duration", seconds(duration)),
        ("hosts", run.rows.len().to_string()),
    ]);
    if let Some(from) = run.started.get("source_env").and_then(Value::as_str) {
        rows.push(("promoted from", from.to_string()));
    }
    match finished {
        None => rows.push(("ended", "no run_finished: the run was cut short".into())),
        Some(f) => {
            if let Some(stopped) = f.get("stopped").and_then(Value::as_str) {
                rows.push(("stopped", stopped.to_string()));
            }
            if f.get("interrupted").and_then(Value::as_bool) == Some(true) {
                rows.push(("interrupted", "yes".into()));
            }
        }
    }
    rows.push(("command", field("command")));
    rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Failed hosts, each with its failed step's output.
fn failures(run: &Run) -> Vec<Failed> {
    run.rows
        .iter()
        .filter(|r| {
            matches!(
                r.outcome.as_deref(),
                Some("failed" | "rolled_back" | "unreachable")
            )
        })
        .map(|r| {
            let bar = r.bars.iter().find(|b| b.ending == Ending::Failed);
            Failed {
                host: r.host.clone(),
                outcome: r.outcome.clone().unwrap_or_default(),
                current: r.current.clone().unwrap_or_default(),
                reason: r.reason.clone().unwrap_or_default(),
                step: bar.map(|b| b.step.clone()).unwrap_or_default(),
                output: bar.map(|b| b.output.join("\n")).unwrap_or_default(),
            }
        })
        .collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn bar_class(bar: &Bar) -> &'static str {
    match (bar.ending, bar.step == "rollback") {
        (Ending::Failed, _) => "failed",
        (Ending::Open, _) => "open",
        (Ending::Ok, true) => "back",
        (Ending::Ok, false) => "ok",
    }
}

fn step_class(step: &str) -> &'static str {
    match step {
        "receive" => "s-receive",
        "before_switch" => "s-before",
        "drain" => "s-drain",
        "switch" => "s-switch",
        "after_switch" => "s-after",
        "health" => "s-health",
        "undrain" => "s-undrain",
        "rollback" => "s-rollback",
        _ => "s-other",
    }
}

fn outcome_class(outcome: Option<&str>) -> &'static str {
    match outcome {
        Some("deployed") => "o-deployed",
        Some("skipped") => "o-skipped",
        Some("rolled_back") => "o-rolled_back",
        Some("failed") => "o-failed",
        Some("unreachable") => "o-unreachable",
        Some("not_started") => "o-not_started",
        _ => "o-unknown",
    }
}

/// The hover of a bar: what ran, how it ended, the output's tail.
fn bar_title(host: &str, bar: &Bar) -> String {
    let ending = match bar.ending {
        Ending::Ok => "ok",
        Ending::Failed => "FAILED",
        Ending::Open => "never finished",
    };
    let mut title = format!(
        "{host}: {} {ending} in {}",
        bar.step,
        seconds(bar.end - bar.start)
    );
    if let Some(release) = &bar.release {
        let _ = write!(title, " (release {release})");
    }
    for command in &bar.commands {
        let _ = write!(title, "\n$ {command}");
    }
    if !bar.output.is_empty() {
        title.push_str("\n-- output (last lines) --");
        for line in &bar.output {
            let _ = write!(title, "\n{line}");
        }
    }
    title
}

fn row_title(row: &Row) -> String {
    let mut title = format!(
        "{}: {}",
        row.host,
        row.outcome.as_deref().unwrap_or("unknown")
    );
    if let Some(current) = &row.current {
        let _ = write!(title, ", current {current}");
    }
    if let Some(reason) = &row.reason {
        let _ = write!(title, "\n{reason}");
    }
    title
}

/// `part` of `total` in percent, as CSS text.
fn percent(part: u64, total: u64) -> String {
    // Millisecond counts of one run: far below f64's exact integers.
    #[allow(clippy::cast_precision_loss)]
    let p = part as f64 * 100.0 / total as f64;
    format!("{:.3}", p.clamp(0.0, 100.0))
}

/// `1.234 s`, `12.3 s`, `2 m 05 s`.
pub(super) fn seconds(ms: u64) -> String {
    match ms {
        0..10_000 => format!("{}.{:03} s", ms / 1000, ms % 1000),
        10_000..120_000 => format!("{}.{} s", ms / 1000, ms % 1000 / 100),
        _ => format!("{} m {:02} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// Axis ticks: a round step giving at most 10 of them over `total` ms.
pub(super) fn ticks(total: u64) -> Vec<u64> {
    const STEPS: [u64; 14] = [
        100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
        600_000, 1_800_000,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|s| total / s <= 10)
        .unwrap_or(total.div_ceil(10).max(1));
    (0..=total / step).map(|i| i * step).collect()
}
