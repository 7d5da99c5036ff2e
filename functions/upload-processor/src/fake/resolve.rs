//! The root fields the service uses, answered from the fake's records with mentor-graphql's
//! semantics as the spec notes them: `uploadTaskUpdate` upserts with a `$set` of the status
//! object; `uploadTaskStatusUpdate` merges one task field by field, refuses two, and answers
//! `false` when there is no upload task; `uploadAnswer` keeps what it is not sent; the `api`
//! root refuses anonymous callers. Mutations also require the right to edit the mentor (an
//! assumption of the fake: it makes a call with the wrong credentials fail loudly).

use serde_json::{json, Map, Value};

use super::document::{project, Document, Field, Kind};
use super::principal::Principal;
use super::State;

/// The tasks of an upload task record.
pub(crate) const TASK_FIELDS: [&str; 4] = [
    "transcodeWebTask",
    "transcodeMobileTask",
    "transcribeTask",
    "trimUploadTask",
];

pub(crate) const NO_PERMISSION: &str = "you do not have permission to edit this mentor";

/// The response body for a parsed document.
pub(crate) fn execute(
    state: &mut State,
    principal: &Principal,
    doc: &Document,
    variables: &Value,
) -> Value {
    let mut data = Map::new();
    let mut errors = Vec::new();
    for field in &doc.selection {
        let answer = match (doc.kind, field.name.as_str()) {
            (_, "__typename") => Ok(json!(doc.kind.type_name())),
            (Kind::Query, _) => query(state, principal, field, variables),
            (Kind::Mutation, "api") => {
                if *principal == Principal::Anonymous {
                    Err("Only authenticated users".to_string())
                } else {
                    let mut api = Map::new();
                    for child in &field.selection {
                        let value = mutation(state, principal, child, variables).unwrap_or_else(
                            |message| {
                                errors.push(error(message, &[field.key(), child.key()]));
                                Value::Null
                            },
                        );
                        api.insert(child.key().to_string(), value);
                    }
                    Ok(Value::Object(api))
                }
            }
            (kind, name) => Err(unknown(name, kind.type_name())),
        };
        let value = answer.unwrap_or_else(|message| {
            errors.push(error(message, &[field.key()]));
            Value::Null
        });
        data.insert(field.key().to_string(), value);
    }
    let mut body = json!({ "data": data });
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors);
    }
    body
}

fn error(message: String, path: &[&str]) -> Value {
    json!({ "message": message, "path": path })
}

pub(crate) fn unknown(name: &str, on: &str) -> String {
    format!("Cannot query field \"{name}\" on type \"{on}\".")
}

pub(crate) fn required(field: &Field, name: &str, variables: &Value) -> Result<String, String> {
    match field.arg(name, variables) {
        Value::String(s) => Ok(s),
        Value::Null => Err(format!(
            "Argument \"{name}\" of required type \"ID!\" was not provided."
        )),
        other => Err(format!("Argument \"{name}\" has an invalid value {other}.")),
    }
}

pub(crate) fn required_object(
    field: &Field,
    name: &str,
    variables: &Value,
) -> Result<Map<String, Value>, String> {
    match field.arg(name, variables) {
        Value::Object(map) => Ok(map),
        Value::Null => Err(format!(
            "Argument \"{name}\" of non-null type was not provided."
        )),
        other => Err(format!("Argument \"{name}\" has an invalid value {other}.")),
    }
}

pub(crate) fn can_edit(state: &State, principal: &Principal, mentor: &str) -> bool {
    match principal {
        Principal::Service => true,
        Principal::User(id) => state.grants.contains(&(id.clone(), mentor.to_string())),
        Principal::Anonymous => false,
    }
}

fn query(
    state: &mut State,
    principal: &Principal,
    field: &Field,
    variables: &Value,
) -> Result<Value, String> {
    let value = match field.name.as_str() {
        "mentorCanEdit" => {
            let mentor = required(field, "mentor", variables)?;
            super::media::check_mentor(state, &mentor)?;
            json!(can_edit(state, principal, &mentor))
        }
        "uploadTask" => {
            if *principal == Principal::Anonymous {
                return Err("Only authenticated users".into());
            }
            let key = (
                required(field, "mentorId", variables)?,
                required(field, "questionId", variables)?,
            );
            state
                .upload_tasks
                .get(&key)
                .map_or(Value::Null, |r| Value::Object(r.clone()))
        }
        "question" => {
            let id = required(field, "id", variables)?;
            state
                .questions
                .get(&id)
                .map_or(Value::Null, |name| json!({ "_id": id, "name": name }))
        }
        "answer" => {
            let key = (
                required(field, "mentor", variables)?,
                required(field, "question", variables)?,
            );
            state.answers.get(&key).map_or(Value::Null, |a| {
                let mut a = a.clone();
                a.entry("transcript").or_insert(json!(""));
                Value::Object(a)
            })
        }
        other => {
            return super::media::query(state, principal, field, variables)
                .or_else(|| super::transfer::query(state, principal, field, variables))
                .unwrap_or_else(|| Err(unknown(other, "Query")))
        }
    };
    Ok(project(&value, &field.selection))
}

fn mutation(
    state: &mut State,
    principal: &Principal,
    field: &Field,
    variables: &Value,
) -> Result<Value, String> {
    let mentor = required(field, "mentorId", variables);
    let editable = |mentor: Result<String, String>| -> Result<String, String> {
        let mentor = mentor?;
        if can_edit(state, principal, &mentor) {
            Ok(mentor)
        } else {
            Err(NO_PERMISSION.into())
        }
    };
    let value = match field.name.as_str() {
        "uploadAnswer" => {
            let key = (editable(mentor)?, required(field, "questionId", variables)?);
            let answer = required_object(field, "answer", variables)?;
            let record = state.answers.entry(key).or_default();
            for (k, v) in answer {
                record.insert(k, v);
            }
            json!(true)
        }
        "uploadTaskUpdate" => {
            let key = (editable(mentor)?, required(field, "questionId", variables)?);
            let status = required_object(field, "status", variables)?;
            let record = state.upload_tasks.entry(key.clone()).or_default();
            for (k, v) in status {
                record.insert(k, v);
            }
            let record = record.clone();
            for task in TASK_FIELDS {
                if let Some(s) = record.get(task).and_then(|t| t.get("status")) {
                    state.note(&key, task, s);
                }
            }
            json!(true)
        }
        "uploadTaskStatusUpdate" => {
            let key = (editable(mentor)?, required(field, "questionId", variables)?);
            let input = required_object(field, "uploadTaskStatusInput", variables)?;
            let tasks: Vec<&str> = TASK_FIELDS
                .into_iter()
                .filter(|t| input.get(*t).is_some_and(|v| !v.is_null()))
                .collect();
            if tasks.len() > 1 {
                return Err("Please only input one task to update at a time.".into());
            }
            let Some(record) = state.upload_tasks.get_mut(&key) else {
                return Ok(json!(false));
            };
            let mut noted = None;
            for (k, v) in input {
                match (TASK_FIELDS.contains(&k.as_str()), v) {
                    (true, Value::Object(patch)) => {
                        let task = record.entry(k.clone()).or_insert_with(|| json!({}));
                        if !task.is_object() {
                            *task = json!({});
                        }
                        let task = task.as_object_mut().expect("an object");
                        for (pk, pv) in patch {
                            task.insert(pk, pv);
                        }
                        noted = task.get("status").cloned().map(|s| (k, s));
                    }
                    (true, _) => {}
                    (false, v) => {
                        record.insert(k, v);
                    }
                }
            }
            if let Some((task, status)) = noted {
                state.note(&key, &task, &status);
            }
            json!(true)
        }
        "mentorThumbnailUpdate" => {
            let mentor = editable(mentor)?;
            let thumbnail = required(field, "thumbnail", variables)?;
            state
                .mentors
                .entry(mentor)
                .or_default()
                .insert("thumbnail".into(), json!(thumbnail));
            json!(true)
        }
        "mentorVbgUpdate" => {
            let mentor = editable(mentor)?;
            let path = required(field, "vbgPath", variables)?;
            state
                .mentors
                .entry(mentor)
                .or_default()
                .insert("virtualBackgroundUrl".into(), json!(path));
            json!(true)
        }
        "mentorVttUpdate" => {
            let key = (editable(mentor)?, required(field, "questionId", variables)?);
            let url = required(field, "vttUrl", variables)?;
            let text = required(field, "vttText", variables)?;
            state.answers.entry(key).or_default().insert(
                "vttMedia".into(),
                json!({ "type": "subtitles", "tag": "en", "url": url, "vttText": text }),
            );
            json!(true)
        }
        other => {
            return super::media::mutation(state, principal, field, variables)
                .or_else(|| super::transfer::mutation(state, principal, field, variables))
                .unwrap_or_else(|| Err(unknown(other, "MentorApiMutation")))
        }
    };
    Ok(project(&value, &field.selection))
}
