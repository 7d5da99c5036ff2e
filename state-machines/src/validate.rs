//! Checks a state machine the way Step Functions would reject it, naming the state at fault.

use std::collections::{BTreeMap, BTreeSet};

use crate::asl::{Catcher, Condition, Graph, Retrier, State, Task, Transition};
use crate::callback::{literal_token_paths, token_paths};

/// One problem in a definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state `{state}`: {message}")]
pub struct AslError {
    pub state: String,
    pub message: String,
}

const STATES_ERRORS: &[&str] = &[
    "States.ALL",
    "States.BranchFailed",
    "States.DataLimitExceeded",
    "States.ExceedToleratedFailureThreshold",
    "States.HeartbeatTimeout",
    "States.IntrinsicFailure",
    "States.ItemReaderFailed",
    "States.NoChoiceMatched",
    "States.ParameterPathFailure",
    "States.Permissions",
    "States.QueryEvaluationError",
    "States.ResultPathMatchFailure",
    "States.ResultWriterFailed",
    "States.Runtime",
    "States.TaskFailed",
    "States.Timeout",
];

pub fn validate(graph: &Graph) -> Vec<AslError> {
    let mut errors = Vec::new();
    let mut all_names = BTreeSet::new();
    validate_graph(graph, "(machine)", &mut all_names, &mut errors);
    errors
}

fn err(errors: &mut Vec<AslError>, state: &str, message: impl Into<String>) {
    errors.push(AslError {
        state: state.into(),
        message: message.into(),
    });
}

fn validate_graph(
    graph: &Graph,
    scope: &str,
    all_names: &mut BTreeSet<String>,
    errors: &mut Vec<AslError>,
) {
    if graph.states.is_empty() {
        err(errors, scope, "has no states");
        return;
    }
    let names: BTreeMap<&str, &State> = graph.states.iter().map(|(n, s)| (n.as_str(), s)).collect();
    for (name, _) in &graph.states {
        if !all_names.insert(name.clone()) {
            err(
                errors,
                name,
                "the name is used twice; state names are unique across the machine",
            );
        }
        if name.is_empty() || name.chars().count() > 80 {
            err(errors, name, "a state name takes 1 to 80 characters");
        }
    }
    if !names.contains_key(graph.start_at.as_str()) {
        err(
            errors,
            scope,
            format!("StartAt `{}` is not a state here", graph.start_at),
        );
    }
    let mut terminal = false;
    for (name, state) in &graph.states {
        let targets = targets(state);
        for t in &targets {
            if !names.contains_key(t.as_str()) {
                err(
                    errors,
                    name,
                    format!("goes to `{t}`, which is not a state in this scope"),
                );
            }
        }
        terminal |= is_terminal(state);
        validate_state(name, state, all_names, errors);
    }
    if !terminal {
        err(
            errors,
            scope,
            "no state ends the execution (End, Succeed or Fail)",
        );
    }
    // Reachability from StartAt.
    let mut seen = BTreeSet::new();
    let mut todo = vec![graph.start_at.clone()];
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(s) = names.get(n.as_str()) {
            todo.extend(targets(s));
        }
    }
    for (name, _) in &graph.states {
        if !seen.contains(name) {
            err(
                errors,
                name,
                format!("is unreachable from StartAt `{}`", graph.start_at),
            );
        }
    }
}

fn transition_target(t: &Transition) -> Option<String> {
    match t {
        Transition::Next(n) => Some(n.clone()),
        Transition::End => None,
    }
}

fn catch_targets(c: &[Catcher]) -> impl Iterator<Item = String> + '_ {
    c.iter().map(|c| c.next.clone())
}

fn targets(state: &State) -> Vec<String> {
    match state {
        State::Task(t) => transition_target(&t.transition)
            .into_iter()
            .chain(catch_targets(&t.catch))
            .collect(),
        State::Map(m) => transition_target(&m.transition)
            .into_iter()
            .chain(catch_targets(&m.catch))
            .collect(),
        State::Parallel(p) => transition_target(&p.transition)
            .into_iter()
            .chain(catch_targets(&p.catch))
            .collect(),
        State::Pass(p) => transition_target(&p.transition).into_iter().collect(),
        State::Wait(w) => transition_target(&w.transition).into_iter().collect(),
        State::Choice(c) => c
            .choices
            .iter()
            .map(|r| r.next.clone())
            .chain(c.default.clone())
            .collect(),
        State::Succeed {} | State::Fail(_) => Vec::new(),
    }
}

fn is_terminal(state: &State) -> bool {
    match state {
        State::Task(t) => t.transition == Transition::End,
        State::Map(m) => m.transition == Transition::End,
        State::Parallel(p) => p.transition == Transition::End,
        State::Pass(p) => p.transition == Transition::End,
        State::Wait(w) => w.transition == Transition::End,
        State::Succeed {} | State::Fail(_) => true,
        State::Choice(_) => false,
    }
}

fn validate_state(
    name: &str,
    state: &State,
    all: &mut BTreeSet<String>,
    errors: &mut Vec<AslError>,
) {
    match state {
        State::Task(t) => {
            if t.resource.is_empty() {
                err(errors, name, "Task without Resource");
            }
            if t.resource.ends_with(".waitForTaskToken") {
                validate_callback(name, t, errors);
            }
            if t.timeout_seconds == Some(0) || t.heartbeat_seconds == Some(0) {
                err(
                    errors,
                    name,
                    "TimeoutSeconds and HeartbeatSeconds must be at least 1",
                );
            }
            if let (Some(h), Some(t)) = (t.heartbeat_seconds, t.timeout_seconds) {
                if h >= t {
                    err(
                        errors,
                        name,
                        format!("HeartbeatSeconds ({h}) must be below TimeoutSeconds ({t})"),
                    );
                }
            }
            validate_retry_catch(name, &t.retry, &t.catch, errors);
        }
        State::Map(m) => {
            validate_retry_catch(name, &m.retry, &m.catch, errors);
            validate_graph(&m.item_processor.0, name, all, errors);
        }
        State::Parallel(p) => {
            if p.branches.is_empty() {
                err(errors, name, "Parallel needs at least one branch");
            }
            validate_retry_catch(name, &p.retry, &p.catch, errors);
            for b in &p.branches {
                validate_graph(b, name, all, errors);
            }
        }
        State::Choice(c) => {
            if c.choices.is_empty() {
                err(errors, name, "Choice needs at least one rule");
            }
            for rule in &c.choices {
                validate_condition(name, &rule.condition, errors);
            }
        }
        State::Pass(_) | State::Wait(_) | State::Succeed {} | State::Fail(_) => {}
    }
}

/// A `.waitForTaskToken` task must hand the token to whoever completes it, and stop waiting.
fn validate_callback(name: &str, t: &Task, errors: &mut Vec<AslError>) {
    let parameters = t.io.parameters.clone().unwrap_or_default();
    let passed = token_paths(&parameters);
    for path in literal_token_paths(&parameters) {
        err(
            errors,
            name,
            format!("`{path}` passes the text `$$.Task.Token`, not the token: name the field `{path}.$`"),
        );
    }
    // A Lambda function sees only its Payload; elsewhere (an SQS message body, an SNS message,
    // an ECS override) any evaluated field reaches the worker.
    let lambda = t.resource.starts_with("arn:aws:states:::lambda:invoke");
    let reaches_worker = if lambda {
        passed
            .iter()
            .any(|p| p == "Payload.$" || p.starts_with("Payload."))
    } else {
        !passed.is_empty()
    };
    if !reaches_worker {
        let where_ = if lambda {
            " in Payload"
        } else {
            " in Parameters"
        };
        err(
            errors,
            name,
            format!(".waitForTaskToken needs `$$.Task.Token`{where_} (a field ending in `.$`), or the task can never be completed"),
        );
    }
    if t.timeout_seconds.is_none() {
        err(
            errors,
            name,
            ".waitForTaskToken needs TimeoutSeconds: a token that is never returned would hold the execution for a year",
        );
    }
}

fn validate_condition(name: &str, c: &Condition, errors: &mut Vec<AslError>) {
    match c {
        Condition::Compare {
            variable, operator, ..
        } => {
            if !variable.starts_with('$') {
                err(
                    errors,
                    name,
                    format!("Choice Variable `{variable}` must be a path starting with `$`"),
                );
            }
            const OPS: &[&str] = &[
                "BooleanEquals",
                "BooleanEqualsPath",
                "IsBoolean",
                "IsNull",
                "IsNumeric",
                "IsPresent",
                "IsString",
                "IsTimestamp",
                "NumericEquals",
                "NumericEqualsPath",
                "NumericGreaterThan",
                "NumericGreaterThanEquals",
                "NumericGreaterThanPath",
                "NumericLessThan",
                "NumericLessThanEquals",
                "NumericLessThanPath",
                "StringEquals",
                "StringEqualsPath",
                "StringGreaterThan",
                "StringLessThan",
                "StringMatches",
                "TimestampEquals",
                "TimestampGreaterThan",
                "TimestampLessThan",
            ];
            if !OPS.contains(&operator.as_str()) {
                err(
                    errors,
                    name,
                    format!("unknown Choice operator `{operator}`"),
                );
            }
        }
        Condition::And(cs) | Condition::Or(cs) => {
            if cs.is_empty() {
                err(errors, name, "And/Or needs at least one condition");
            }
            for c in cs {
                validate_condition(name, c, errors);
            }
        }
        Condition::Not(c) => validate_condition(name, c, errors),
    }
}

fn validate_retry_catch(
    name: &str,
    retry: &[Retrier],
    catch: &[Catcher],
    errors: &mut Vec<AslError>,
) {
    let lists = retry
        .iter()
        .map(|r| &r.error_equals)
        .chain(catch.iter().map(|c| &c.error_equals));
    for list in lists {
        if list.is_empty() {
            err(errors, name, "ErrorEquals must name at least one error");
        }
        for e in list {
            if e.starts_with("States.") && !STATES_ERRORS.contains(&e.as_str()) {
                err(
                    errors,
                    name,
                    format!("`{e}` is not a Step Functions error name"),
                );
            }
            if e == "States.ALL" && list.len() > 1 {
                err(
                    errors,
                    name,
                    "States.ALL must stand alone in its ErrorEquals",
                );
            }
        }
    }
    for (group, lists) in [
        (
            "Retry",
            retry.iter().map(|r| &r.error_equals).collect::<Vec<_>>(),
        ),
        ("Catch", catch.iter().map(|c| &c.error_equals).collect()),
    ] {
        if let Some(pos) = lists
            .iter()
            .position(|l| l.iter().any(|e| e == "States.ALL"))
        {
            if pos + 1 != lists.len() {
                err(
                    errors,
                    name,
                    format!("the {group} entry with States.ALL must come last"),
                );
            }
        }
    }
    for r in retry {
        if r.backoff_rate < 1.0 {
            err(errors, name, "BackoffRate must be at least 1.0");
        }
        if r.interval_seconds == 0 {
            err(errors, name, "IntervalSeconds must be at least 1");
        }
    }
}
