//! `canvas-data-refresh`: list tables, sync or initialise each (in parallel, bounded), publish a
//! summary. One failing table becomes `failed` in the summary and never stops the others.

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

pub fn refresh(max_concurrency: u32) -> Result<Definition, InvalidDefinition> {
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
                    choices: vec![state_is("needs_init", "InitTable")],
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
                    json!({
                        "table_name.$": "$.table_name",
                        "state": "failed",
                        "error.$": "$.error.Cause"
                    }),
                    Transition::End,
                ),
            ),
            (
                "TableDone".into(),
                pass(
                    json!({ "table_name.$": "$.table_name", "state.$": "$.state" }),
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
                    item_selector: Some(json!({ "table_name.$": "$$.Map.Item.Value" })),
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
                        "failed.$": "$.results[?(@.state == 'failed')]"
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
                        "failed.$": "$.failed"
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
        Some(24 * 3600),
    )
}
