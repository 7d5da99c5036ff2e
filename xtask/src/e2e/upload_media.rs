//! upload-processor's image and subtitle routes as the admin pages use them on the local stage:
//! multipart forms through the local API and its authorizer with signed JWTs, authorization
//! decided by the GraphQL fake, the files read back from the media bucket. `regen_vtt` runs on
//! the web rendition the answer flow just produced, so its cues are measured against a real one.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use super::upload::{fake_post, probe, Answer, Deployed};
use crate::aws::Clients;
use crate::ui;

/// An image made by the host's ffmpeg: `ext` decides the format (png, jpg, gif).
fn image(dir: &Path, width: u32, height: u32, ext: &str) -> Result<Vec<u8>> {
    let path = dir.join(format!("image-{width}x{height}.{ext}"));
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={width}x{height}:rate=1"))
        .args(["-frames:v", "1"])
        .arg(&path)
        .output()
        .context("running ffmpeg to make an image")?;
    ensure!(
        out.status.success(),
        "ffmpeg {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(std::fs::read(&path)?)
}

fn file(bytes: &[u8], name: &str, content_type: &str) -> Result<Part> {
    Ok(Part::bytes(bytes.to_vec())
        .file_name(name.to_string())
        .mime_str(content_type)?)
}

struct Reply {
    status: u16,
    body: Value,
}

async fn post_form(
    http: &reqwest::Client,
    d: &Deployed,
    path: &str,
    token: &str,
    form: Form,
) -> Result<Reply> {
    let r = http
        .post(format!("{}{path}", d.api))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .with_context(|| format!("POST {path}"))?;
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    Ok(Reply { status, body })
}

fn expect(reply: &Reply, status: u16, what: &str) -> Result<()> {
    ensure!(
        reply.status == status,
        "{what}: answered {}, not {status}: {}",
        reply.status,
        reply.body
    );
    Ok(())
}

/// The key of a URL the API answered, under the stage's static URL base.
fn key_of(url: &str, bucket: &str) -> Result<String> {
    let marker = format!("/{bucket}/");
    url.split_once(&marker)
        .map(|(_, key)| key.to_string())
        .with_context(|| format!("{url} is not under the media bucket's URL"))
}

async fn content_type(clients: &Clients, bucket: &str, key: &str) -> Result<String> {
    let head = clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .with_context(|| format!("s3://{bucket}/{key}"))?;
    Ok(head.content_type().unwrap_or_default().to_string())
}

/// Every route's success and its refusals, for the answer `a` whose renditions exist.
pub(super) async fn media_routes(
    http: &reqwest::Client,
    clients: &Clients,
    d: &Deployed,
    a: &Answer,
    dir: &Path,
) -> Result<()> {
    let token = a.token();
    let body = json!({"mentor": a.mentor}).to_string();
    let jpeg = image(dir, 64, 48, "jpg")?;
    let png = image(dir, 64, 48, "png")?;
    let gif = image(dir, 16, 16, "gif")?;
    // the width's high byte, inside IHDR: the chunk's CRC no longer matches
    let mut broken_png = png.clone();
    broken_png[16] ^= 0x01;

    // thumbnail: a JPEG the client calls a PNG is stored as the JPEG it is
    let form = Form::new()
        .text("body", body.clone())
        .part("thumbnail", file(&jpeg, "t.png", "image/png")?);
    let r = post_form(http, d, "/thumbnail", &token, form).await?;
    expect(&r, 200, "POST /thumbnail with a JPEG")?;
    let url = r.body["data"]["thumbnail"]
        .as_str()
        .with_context(|| format!("no data.thumbnail in {}", r.body))?;
    let key = key_of(url, &d.media_bucket)?;
    ensure!(key.ends_with("/thumbnail.jpg"), "thumbnail stored as {key}");
    let stored = content_type(clients, &d.media_bucket, &key).await?;
    ensure!(stored == "image/jpeg", "{key} stored as {stored}");
    // the bucket is private (AWS serves it through the stage's CDN): read it back through S3
    let stored_bytes = clients
        .s3
        .get_object()
        .bucket(&d.media_bucket)
        .key(&key)
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    ensure!(
        stored_bytes.as_ref() == jpeg.as_slice(),
        "{key} is not the uploaded JPEG"
    );

    let refusals: Vec<(&str, u16, Form)> = vec![
        (
            "a GIF",
            415,
            Form::new()
                .text("body", body.clone())
                .part("thumbnail", file(&gif, "t.gif", "image/gif")?),
        ),
        (
            "no thumbnail part",
            400,
            Form::new().text("body", body.clone()),
        ),
        (
            "a PNG whose header fails its CRC",
            422,
            Form::new()
                .text("body", body.clone())
                .part("thumbnail", file(&broken_png, "t.png", "image/png")?),
        ),
        (
            "a part over the stage's image limit",
            413,
            Form::new().text("body", body.clone()).part(
                "thumbnail",
                file(&vec![0u8; 4 * 1024 * 1024 + 1], "t.png", "image/png")?,
            ),
        ),
        (
            "a mentor the fake does not know",
            404,
            Form::new()
                .text(
                    "body",
                    json!({"mentor": format!("{}-unknown", a.mentor)}).to_string(),
                )
                .part("thumbnail", file(&png, "t.png", "image/png")?),
        ),
    ];
    for (what, status, form) in refusals {
        let r = post_form(http, d, "/thumbnail", &token, form).await?;
        expect(&r, status, &format!("POST /thumbnail with {what}"))?;
    }
    let stranger = Answer::new("stranger");
    fake_post(http, d, "mentor", json!({"id": stranger.mentor})).await?;
    let form = Form::new()
        .text("body", body.clone())
        .part("thumbnail", file(&png, "t.png", "image/png")?);
    let r = post_form(http, d, "/thumbnail", &stranger.token(), form).await?;
    expect(
        &r,
        403,
        "POST /thumbnail by a user who may not edit the mentor",
    )?;
    ui::ok(
        "upload-processor: /thumbnail 200 (JPEG kept as image/jpeg), 400, 403, 404, 413, 415, 422",
    );

    // virtual background
    let form = Form::new()
        .text("body", body.clone())
        .part("background_image", file(&png, "b.png", "image/png")?);
    let r = post_form(http, d, "/vbg", &token, form).await?;
    expect(&r, 200, "POST /vbg")?;
    let key = key_of(
        r.body["data"]["virtualBackground"]
            .as_str()
            .unwrap_or_default(),
        &d.media_bucket,
    )?;
    ensure!(content_type(clients, &d.media_bucket, &key).await? == "image/png");

    // header and footer: the role, then the organization's membership as GraphQL reports it
    let org = format!("org-{}", a.mentor);
    fake_post(
        http,
        d,
        "org",
        json!({"id": org, "members": [{"user": a.user, "role": "ADMIN"}]}),
    )
    .await?;
    let org_form = |body: Value| -> Result<Form> {
        Ok(Form::new()
            .text("body", body.to_string())
            .part("image", file(&png, "h.png", "image/png")?))
    };
    let r = post_form(http, d, "/header", &token, org_form(json!({}))?).await?;
    expect(&r, 403, "POST /header for the site by a plain user")?;
    let manager = a.token_with_role("CONTENT_MANAGER");
    let r = post_form(http, d, "/header", &manager, org_form(json!({}))?).await?;
    expect(&r, 200, "POST /header for the site by a content manager")?;
    let r = post_form(http, d, "/header", &token, org_form(json!({"org": org}))?).await?;
    expect(
        &r,
        200,
        "POST /header by an admin member of the organization",
    )?;
    let r = post_form(
        http,
        d,
        "/header",
        &stranger.token(),
        org_form(json!({"org": org}))?,
    )
    .await?;
    expect(&r, 403, "POST /header by a non-member")?;
    let r = post_form(
        http,
        d,
        "/footer",
        &token,
        org_form(json!({"org": {"_id": org, "members": [{"user": {"_id": stranger.user}, "role": "ADMIN"}]}, "idx": 1}))?,
    )
    .await?;
    expect(
        &r,
        200,
        "POST /footer by a member, with a forged member list ignored",
    )?;
    let footer = r.body["data"]["image"].as_str().unwrap_or_default();
    ensure!(
        footer.contains(&format!("/images/{org}/")) && footer.contains("footer_1."),
        "footer at {footer}"
    );
    let r = post_form(http, d, "/footer", &token, org_form(json!({"org": org}))?).await?;
    expect(&r, 400, "POST /footer without idx")?;
    ui::ok("upload-processor: /vbg 200; /header and /footer decided by role and GraphQL membership (200, 400, 403)");

    // subtitles: a broken file is named by line; a valid one is stored as text/vtt
    let vtt_form = |text: &str| -> Result<Form> {
        Ok(Form::new()
            .text("mentor", a.mentor.clone())
            .text("question", a.question.clone())
            .part("vtt_file", file(text.as_bytes(), "en.vtt", "text/vtt")?))
    };
    let r = post_form(
        http,
        d,
        "/vtt",
        &token,
        vtt_form("WEBVTT\n\n00:02.000 --> 00:01.000\nbackwards\n")?,
    )
    .await?;
    expect(&r, 422, "POST /vtt with a cue ending before it starts")?;
    let valid = "WEBVTT\n\n00:00.000 --> 00:01.500\nHello there.\n";
    let r = post_form(http, d, "/vtt", &token, vtt_form(valid)?).await?;
    expect(&r, 200, "POST /vtt")?;
    let key = format!("videos/{}/{}/en.vtt", a.mentor, a.question);
    ensure!(content_type(clients, &d.media_bucket, &key).await? == "text/vtt");
    ui::ok("upload-processor: /vtt 422 naming the line, 200 stored as text/vtt");

    // regen_vtt over the web rendition the answer flow produced, measured with ffprobe
    let r = http
        .post(format!("{}/regen_vtt", d.api))
        .bearer_auth(&token)
        .json(&json!({"mentor": a.mentor, "question": a.question}))
        .send()
        .await?;
    let status = r.status().as_u16();
    let reply = Reply {
        status,
        body: r.json().await.unwrap_or(Value::Null),
    };
    expect(&reply, 200, "POST /regen_vtt")?;
    let text = reply.body["data"]["new_vtt_text"]
        .as_str()
        .unwrap_or_default();
    let checked = upload_processor::vtt::validate(text)
        .map_err(|e| anyhow::anyhow!("regen_vtt's text is not WebVTT: {e}"))?;
    let web = super::upload::download(
        clients,
        &d.media_bucket,
        &format!("videos/{}/{}/web.mp4", a.mentor, a.question),
        dir,
    )
    .await?;
    let (_, _, seconds) = probe(&web)?;
    let end = checked.end.context("regen_vtt made no cue")?;
    ensure!(
        end.as_secs_f64() <= seconds,
        "regen_vtt's last cue ends at {end:?}, after the {seconds:.3} s rendition"
    );
    let r = http
        .post(format!("{}/regen_vtt", d.api))
        .bearer_auth(stranger.token())
        .json(&json!({"mentor": a.mentor, "question": a.question}))
        .send()
        .await?;
    ensure!(
        r.status() == 403,
        "POST /regen_vtt by a stranger answered {}",
        r.status()
    );
    ui::ok(format!(
        "upload-processor: /regen_vtt {} cues ending at {:.3} s of a {seconds:.3} s rendition; 403 for a stranger",
        checked.cues,
        end.as_secs_f64()
    ));
    Ok(())
}
