//! `canvas-data-refresh`: list tables, sync or initialise each (in parallel, bounded), publish a
//! summary. One failing table becomes `failed` in the summary and never stops the others.
//!
//! Each function's answer is the next function's event, so what a table's refresh has gathered
//! (rounds, time spent, rows changed, why it needed a snapshot, notes) rides along to the
//! summary; the functions stop a table past the stage's round cap.

use serde_json::json;

use crate::asl::*;
use crate::build::{catch_all, invoke, next, pass};
use crate::{Definition, InvalidDefinition};

pub const LIST_TABLES: &str = "ListTablesFunctionArn";
pub const SYNC_TABLE: &str = "SyncTableFunctionArn";
pub const INIT_TABLE: &str = "InitTableFunctionArn";
pub const SUMMARY_TOPIC: &str = "SummaryTopicArn";

fn state_is(value: &str, target: &str) -> ChoiceRule {
    ChoiceRule {
        condition: Condition::string_equals("$.state", value),
        next: target.into(),
    }
}

/// The fields every answer carries, as the summary shows them.
fn summary_fields(state: serde_json::Value) -> serde_json::Value {
    json!({
        "table_name.$": "$.table_name",
        "state": state,
        "rows_changed.$": "$.rows_changed",
        "reason.$": "$.reason",
        "note.$": "$.note",
        "rounds.$": "$.round",
        "duration_ms.$": "$.duration_ms"
    })
}

/// `timeout_seconds` ends an execution well before the next one starts (the stage checks it
/// against the schedule), so two executions never work on the same table.
pub fn refresh(
    max_concurrency: u32,
    timeout_seconds: u32,
) -> Result<Definition, InvalidDefinition> {
    let mut sync = invoke(SYNC_TABLE, next("RouteOnState"));
    sync.catch = vec![catch_all("TableFailed", "$.error")];
    let mut init = invoke(INIT_TABLE, next("InitProgress"));
    init.catch = vec![catch_all("TableFailed", "$.error")];
    // Each init run stops before the Lambda deadline; the loop lets a first load take hours.
    let per_table = Graph {
        start_at: "SyncTable".into(),
        states: vec![
            ("SyncTable".into(), State::Task(sync)),
            (
                "RouteOnState".into(),
                State::Choice(Choice {
                    choices: vec![
                        state_is("needs_init", "InitTable"),
                        state_is("needs_sync_continue", "SyncTable"),
                    ],
                    default: Some("TableDone".into()),
                    input_path: None,
                    output_path: None,
                }),
            ),
            ("InitTable".into(), State::Task(init)),
            (
                "InitProgress".into(),
                State::Choice(Choice {
                    choices: vec![state_is("needs_init_continue", "InitTable")],
                    default: Some("TableDone".into()),
                    input_path: None,
                    output_path: None,
                }),
            ),
            (
                "TableFailed".into(),
                pass(
                    {
                        let mut failed = summary_fields(json!("failed"));
                        failed["error.$"] = json!("$.error.Cause");
                        failed
                    },
                    Transition::End,
                ),
            ),
            (
                "TableDone".into(),
                pass(
                    {
                        let mut done = summary_fields(json!(null));
                        let map = done.as_object_mut().expect("an object");
                        map.remove("state");
                        map.insert("state.$".into(), json!("$.state"));
                        done
                    },
                    Transition::End,
                ),
            ),
        ],
    };
    let mut list = invoke(LIST_TABLES, next("RefreshTables"));
    list.io.result_path = Some("$.list".into());
    list.io.output_path = None;
    list.io.result_selector = Some(json!({ "tables.$": "$.Payload.tables" }));
    let graph = Graph {
        start_at: "ListTables".into(),
        states: vec![
            ("ListTables".into(), State::Task(list)),
            (
                "RefreshTables".into(),
                State::Map(Map {
                    item_processor: ItemProcessor(per_table),
                    items_path: Some("$.list.tables".into()),
                    // every field an answer carries, so a table failing on its first run still
                    // has them for the summary
                    item_selector: Some(json!({
                        "table_name.$": "$$.Map.Item.Value",
                        "execution_started.$": "$$.Execution.StartTime",
                        "round": 0,
                        "duration_ms": 0,
                        "rows_changed": 0,
                        "reason": null,
                        "note": null
                    })),
                    max_concurrency,
                    io: Io {
                        result_path: Some("$.results".into()),
                        ..Io::default()
                    },
                    transition: next("Summarize"),
                    retry: Vec::new(),
                    catch: Vec::new(),
                }),
            ),
            (
                "Summarize".into(),
                pass(
                    json!({
                        "complete.$": "$.results[?(@.state == 'complete')].table_name",
                        "complete_with_update.$": "$.results[?(@.state == 'complete_with_update')].table_name",
                        "failed.$": "$.results[?(@.state == 'failed')]",
                        "tables.$": "$.results"
                    }),
                    next("Count"),
                ),
            ),
            (
                "Count".into(),
                pass(
                    json!({
                        "counts": {
                            "complete.$": "States.ArrayLength($.complete)",
                            "complete_with_update.$": "States.ArrayLength($.complete_with_update)",
                            "failed.$": "States.ArrayLength($.failed)"
                        },
                        "failed.$": "$.failed",
                        "tables.$": "$.tables"
                    }),
                    next("Notify"),
                ),
            ),
            (
                "Notify".into(),
                State::Task(Task {
                    resource: "arn:aws:states:::sns:publish".into(),
                    io: Io {
                        parameters: Some(json!({
                            "TopicArn": format!("${{{SUMMARY_TOPIC}}}"),
                            "Subject": "Canvas Data refresh summary",
                            "Message.$": "States.JsonToString($)"
                        })),
                        ..Io::default()
                    },
                    transition: Transition::End,
                    retry: vec![Retrier::backoff(&["States.TaskFailed"], 5, 3)],
                    catch: Vec::new(),
                    timeout_seconds: None,
                    heartbeat_seconds: None,
                }),
            ),
        ],
    };
    Definition::new(
        "canvas-data-refresh",
        "Keeps the Canvas Data 2 replica fresh: sync or initialise every table, then report",
        graph,
        Some(timeout_seconds),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_continues_itself_and_every_table_reports_what_it_carried() {
        let j = refresh(3, 5400).unwrap().to_json();
        assert_eq!(j["TimeoutSeconds"], 5400);
        let per_table = &j["States"]["RefreshTables"]["ItemProcessor"]["States"];
        let route = &per_table["RouteOnState"]["Choices"];
        assert_eq!(route[1]["StringEquals"], "needs_sync_continue");
        assert_eq!(route[1]["Next"], "SyncTable");
        // the Map starts each table with every carried field, so a first-run failure has them
        let item = &j["States"]["RefreshTables"]["ItemSelector"];
        assert_eq!(item["execution_started.$"], "$$.Execution.StartTime");
        for field in ["round", "duration_ms", "rows_changed", "reason", "note"] {
            assert!(item.get(field).is_some(), "{field} missing from {item}");
        }
        let failed = &per_table["TableFailed"]["Parameters"];
        for (key, path) in [
            ("rows_changed.$", "$.rows_changed"),
            ("reason.$", "$.reason"),
            ("note.$", "$.note"),
            ("duration_ms.$", "$.duration_ms"),
            ("rounds.$", "$.round"),
            ("error.$", "$.error.Cause"),
        ] {
            assert_eq!(failed[key], path, "{key}");
        }
        assert_eq!(failed["state"], "failed");
        assert_eq!(per_table["TableDone"]["Parameters"]["state.$"], "$.state");
        assert_eq!(per_table["TableDone"]["Parameters"]["reason.$"], "$.reason");
        assert_eq!(j["States"]["Count"]["Parameters"]["tables.$"], "$.tables");
    }
}
