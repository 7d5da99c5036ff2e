//! upload-processor's mentor transfer on the local stage: `POST /transfer/mentor` with a signed
//! JWT through the local API, the job on the transfer queue, the arm64 worker under qemu importing
//! through the GraphQL fake and copying media from the fake's media host into the media bucket,
//! and `GET /transfer/status/{id}` followed to its end. One of the two media files does not
//! exist: the job must end DONE with exactly that error recorded and the other file copied.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::upload::{fake_post, Answer, Deployed};
use crate::aws::Clients;
use crate::ui;

/// The worker starts on the queue poller's next pass and copies under qemu.
const JOB_LIMIT: Duration = Duration::from_secs(600);

fn exported_answer(question: &str, web_url: &str) -> Value {
    json!({
        "_id": format!("a-{question}"), "transcript": "I build things.", "status": "COMPLETE",
        "hasEditedTranscript": false, "hasUntransferredMedia": true,
        "question": {"_id": question, "question": "What do you do?", "type": "QUESTION",
            "name": "", "clientId": "", "paraphrases": [], "mentor": null, "mentorType": null,
            "minVideoLength": null},
        "webMedia": {"type": "video", "tag": "web", "url": web_url, "needsTransfer": true},
        "mobileMedia": null,
        "vttMedia": null,
    })
}

fn export(mentor: &str, answers: Vec<Value>) -> Value {
    json!({
        "mentor": mentor,
        "mentorExportJson": {
            "id": mentor,
            "mentorInfo": {"name": "E2E Mentor", "firstName": "E2E", "title": "Tester",
                "email": "e2e@example.org", "thumbnail": "", "allowContact": false,
                "defaultSubject": null, "mentorType": "VIDEO"},
            "subjects": [], "questions": [], "answers": answers, "userQuestions": []
        },
        "replacedMentorDataChanges": {"questionChanges": [], "answerChanges": []}
    })
}

async fn post(
    http: &reqwest::Client,
    d: &Deployed,
    token: &str,
    body: &Value,
) -> Result<(u16, Value)> {
    let r = http
        .post(format!("{}/transfer/mentor", d.api))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .context("POST /transfer/mentor")?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

async fn status(
    http: &reqwest::Client,
    d: &Deployed,
    token: &str,
    path: &str,
) -> Result<(u16, Value)> {
    let r = http
        .get(format!("{}{path}", d.api))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {path}"))?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

/// A transfer of two answers (one media file served, one missing) to its end, and the refusals.
pub(super) async fn transfer(
    http: &reqwest::Client,
    clients: &Clients,
    d: &Deployed,
    clip: &Path,
) -> Result<()> {
    let a = Answer::new("transfer");
    fake_post(
        http,
        d,
        "grant",
        json!({"user": a.user, "mentor": a.mentor}),
    )
    .await?;
    fake_post(http, d, "mentor", json!({"id": a.mentor})).await?;
    let bytes = std::fs::read(clip)?;
    let name = format!("{}.mp4", a.mentor);
    let r = http
        .put(format!("{}/_fake/media/{name}", d.graphql))
        .body(bytes.clone())
        .send()
        .await?;
    ensure!(
        r.status().is_success(),
        "PUT /_fake/media/{name} answered {}",
        r.status()
    );
    let (q_ok, q_missing) = (format!("q1-{}", a.mentor), format!("q2-{}", a.mentor));
    let body = export(
        &a.mentor,
        vec![
            exported_answer(&q_ok, &format!("{}/_fake/media/{name}", d.graphql)),
            exported_answer(
                &q_missing,
                &format!("{}/_fake/media/missing-{name}", d.graphql),
            ),
        ],
    );
    let token = a.token();

    // refusals first: nothing may be queued by them
    let mut invalid = body.clone();
    invalid["mentorExportJson"]
        .as_object_mut()
        .context("an object")?
        .remove("answers");
    let (code, reply) = post(http, d, &token, &invalid).await?;
    ensure!(
        code == 400 && reply.to_string().contains("mentorExportJson"),
        "an export without answers: {code} {reply}"
    );
    let stranger = Answer::new("transfer-stranger");
    let (code, reply) = post(http, d, &stranger.token(), &body).await?;
    ensure!(
        code == 403,
        "a transfer by a user who may not edit the mentor: {code} {reply}"
    );
    let (code, _) = status(
        http,
        d,
        &token,
        &format!("/transfer/status/{}", uuid::Uuid::new_v4()),
    )
    .await?;
    ensure!(code == 404, "the status of an unknown job answered {code}");
    let (code, _) = status(http, d, &token, "/transfer/status/not-a-job").await?;
    ensure!(code == 400, "the status of a malformed id answered {code}");
    ui::ok(
        "upload-processor: /transfer/mentor 400 naming the path, 403; /transfer/status 400, 404",
    );

    let (code, reply) = post(http, d, &token, &body).await?;
    ensure!(
        code == 202,
        "POST /transfer/mentor answered {code}: {reply}"
    );
    let url = reply["data"]["statusUrl"]
        .as_str()
        .with_context(|| format!("no data.statusUrl in {reply}"))?
        .to_string();
    let (code, _) = status(http, d, &stranger.token(), &url).await?;
    ensure!(
        code == 403,
        "a stranger reading the job's status answered {code}"
    );

    let started = Instant::now();
    let mut seen = Vec::new();
    let job = loop {
        let (code, reply) = status(http, d, &token, &url).await?;
        ensure!(code == 200, "GET {url} answered {code}: {reply}");
        let s = reply["data"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "DONE" || s == "FAILED" {
            break reply["data"].clone();
        }
        if started.elapsed() > JOB_LIMIT {
            bail!("the transfer job is still {s} after {JOB_LIMIT:?}: {reply}");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    ensure!(
        job["status"] == "DONE",
        "the transfer ended {}: {job}",
        job["status"]
    );
    let counts = &job["counts"];
    ensure!(
        counts["media"] == 2 && counts["transferred"] == 1 && counts["failed"] == 1,
        "counts {counts}"
    );
    let errors = job["errors"].as_array().context("errors")?;
    ensure!(
        errors.len() == 1
            && errors[0]["url"]
                .as_str()
                .unwrap_or_default()
                .contains("missing-"),
        "errors {errors:?}"
    );
    let key = format!("videos/{}/{q_ok}/web.mp4", a.mentor);
    let object = clients
        .s3
        .get_object()
        .bucket(&d.media_bucket)
        .key(&key)
        .send()
        .await
        .with_context(|| format!("s3://{}/{key} after a DONE transfer", d.media_bucket))?;
    ensure!(
        object.content_type() == Some("video/mp4"),
        "{key} stored as {:?}",
        object.content_type()
    );
    let copied = object.body.collect().await?.into_bytes();
    ensure!(
        copied.as_ref() == bytes.as_slice(),
        "{key} is not the served file"
    );
    let task: Value = http
        .get(format!("{}/_fake/import-task/{}", d.graphql, a.mentor))
        .send()
        .await?
        .json()
        .await?;
    ui::ok(format!(
        "upload-processor: transfer {} in {:.1?} (statuses {}), 1 of 2 media copied, 1 error recorded; import task {}",
        job["status"],
        started.elapsed(),
        seen.join(" → "),
        task["history"]
    ));
    Ok(())
}
