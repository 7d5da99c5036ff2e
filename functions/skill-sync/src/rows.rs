//! Source records → the app's columns (spec §3 and §5), with the original's lossy parts fixed:
//! JSON `null` is SQL NULL (not the string `"None"`), lists and objects are JSON (not Python
//! reprs), timestamps with or without fractional seconds become DATETIME text, a cleared
//! Airtable field clears its column, `revoked` is written, and a record that cannot be mapped
//! is skipped with a reason instead of stopping the step.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::db::{Incoming, Table};
use crate::text::html_escape;

pub const ASSESSMENTS: Table = Table {
    name: "assessments",
    columns: &[
        "id",
        "name",
        "description",
        "core_skill_areas",
        "languages",
        "types",
        "template_repo",
        "latest_release",
        "prerequisites",
        "long_description",
        "review_required",
        "github_org",
        "repo_prefix",
        "install_id",
    ],
    unique: &["name"],
};

pub const BADGES: Table = Table {
    name: "badges",
    columns: &[
        "entityId",
        "entityType",
        "openBadgeId",
        "createdAt",
        "createdBy",
        "issuer",
        "issuerOpenBadgeId",
        "name",
        "image",
        "description",
        "achievementType",
        "criteriaUrl",
        "criteriaNarrative",
        "alignments",
        "tags",
        "expires",
        "extensions",
    ],
    unique: &["name"],
};

/// Every column but `assessment_tracker_id`, which the app's crud service owns.
pub const ASSERTIONS: Table = Table {
    name: "assertions",
    columns: &[
        "entityId",
        "entityType",
        "openBadgeId",
        "createdAt",
        "createdBy",
        "badgeclass",
        "recipient_identity",
        "recipient_hashed",
        "recipient_type",
        "recipient_plaintextIdentity",
        "recipient_salt",
        "issuedOn",
        "narrative",
        "evidence_url",
        "evidence_narrative",
        "revoked",
        "revocationReason",
        "acceptance",
        "expires",
        "share_url",
        "linkedin_add_profile_url",
        "twitter_share_url",
        "facebook_share_url",
        "linkedin_share_url",
        "embed_card_html",
        "embed_badge_html",
    ],
    unique: &[],
};

/// A timestamp as MySQL prints a DATETIME (UTC): RFC 3339 with or without fractional seconds,
/// or already `YYYY-MM-DD HH:MM:SS`.
pub fn datetime(value: &str) -> Option<String> {
    let out = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .or_else(|| {
            PrimitiveDateTime::parse(value, out)
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        })?
        .to_offset(time::UtcOffset::UTC);
    t.format(out).ok()
}

fn parsed(value: &str) -> Option<OffsetDateTime> {
    let stored = datetime(value)?;
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(&stored, f)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// A JSON value as column text: strings as they are, booleans `1`/`0`, numbers as written,
/// lists and objects as JSON, null as NULL.
fn column_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// Airtable `fields` → an `assessments` row. Every column has a value, so a field cleared in
/// Airtable (Airtable leaves it out) becomes NULL — unless no record of the run has the field at
/// all ([`absent_columns`]: then the column is not written). Lists (multiple selects, linked records) are
/// joined with `,` as the app expects. `Err` says why the record is skipped.
pub fn assessment(fields: &Map<String, Value>) -> Result<Incoming, String> {
    let label = match (fields.get("id"), fields.get("name").and_then(Value::as_str)) {
        (Some(id), Some(name)) => format!("id {id} \"{name}\""),
        (Some(id), None) => format!("id {id}"),
        (None, Some(name)) => format!("\"{name}\""),
        (None, None) => "(a record without id or name)".into(),
    };
    let id = match fields.get("id") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0 && n <= i32::MAX as u64) => {
            n.to_string()
        }
        Some(Value::String(s)) if s.parse::<u32>().is_ok_and(|n| n > 0) => s.clone(),
        Some(other) => {
            return Err(format!(
                "{label}: id {other} is not a positive whole number"
            ))
        }
        None => return Err(format!("{label}: no id field")),
    };
    let mut values = vec![Some(id)];
    for column in &ASSESSMENTS.columns[1..] {
        let v = match fields.get(*column) {
            None => None,
            Some(Value::Array(items)) => {
                let parts: Option<Vec<String>> = items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect();
                match parts {
                    Some(p) => Some(p.join(",")),
                    None => {
                        return Err(format!(
                            "{label}: {column} is a list of objects (attachments or collaborators), which the column cannot hold"
                        ))
                    }
                }
            }
            Some(Value::Object(_)) => {
                return Err(format!(
                    "{label}: {column} is an object, which the column cannot hold"
                ))
            }
            Some(other) => column_text(other),
        };
        values.push(v);
    }
    Ok(Incoming { label, values })
}

/// Columns (other than `id`) that no record of the run has at all: the sync leaves them as they
/// are instead of clearing them in every row.
pub fn absent_columns<'a>(
    records: impl Iterator<Item = &'a Map<String, Value>> + Clone,
) -> Vec<&'static str> {
    ASSESSMENTS.columns[1..]
        .iter()
        .filter(|c| !records.clone().any(|f| f.contains_key(**c)))
        .copied()
        .collect()
}

/// Airtable fields that have no column (ignored, and reported once per run).
pub fn unknown_fields<'a>(
    records: impl Iterator<Item = &'a Map<String, Value>>,
) -> BTreeSet<String> {
    records
        .flat_map(|f| f.keys())
        .filter(|k| !ASSESSMENTS.columns.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// A Badgr badge class → a `badges` row; keys that are not columns are ignored.
pub fn badge(b: &Value) -> Result<Incoming, String> {
    let label = format!(
        "{} \"{}\"",
        b["entityId"].as_str().unwrap_or("(no entityId)"),
        b["name"].as_str().unwrap_or_default()
    );
    if b["entityId"].as_str().is_none_or(str::is_empty) {
        return Err(format!("badge class {label}: no entityId"));
    }
    let mut values = Vec::new();
    for column in BADGES.columns {
        let v = &b[*column];
        values.push(if *column == "createdAt" {
            match v.as_str() {
                None => None,
                Some(s) => Some(datetime(s).ok_or_else(|| {
                    format!("badge class {label}: createdAt `{s}` is not a timestamp")
                })?),
            }
        } else {
            column_text(v)
        });
    }
    Ok(Incoming { label, values })
}

/// A Badgr assertion → an `assertions` row (spec §5), with the share links and embed HTML the
/// web UI shows. `badge_names` maps badge class entityId → name.
pub fn assertion(a: &Value, badge_names: &HashMap<String, String>) -> Result<Incoming, String> {
    let id = a["entityId"].as_str().unwrap_or_default();
    if id.is_empty() {
        return Err("an assertion without entityId".into());
    }
    let label = id.to_string();
    let badgeclass = a["badgeclass"].as_str().unwrap_or_default();
    let Some(name) = badge_names.get(badgeclass) else {
        return Err(format!(
            "assertion {label}: its badge class `{badgeclass}` is not in badges"
        ));
    };
    let time_of = |key: &str| -> Result<Option<String>, String> {
        match a[key].as_str() {
            None => Ok(None),
            Some(s) => datetime(s)
                .map(Some)
                .ok_or_else(|| format!("assertion {label}: {key} `{s}` is not a timestamp")),
        }
    };
    let created = time_of("createdAt")?;
    let issued = time_of("issuedOn")?;
    let expires = time_of("expires")?;
    // the date a badge was awarded is when it was issued; createdAt only when issuedOn is absent
    let Some(awarded) = a["issuedOn"]
        .as_str()
        .or(a["createdAt"].as_str())
        .and_then(parsed)
    else {
        return Err(format!("assertion {label}: neither issuedOn nor createdAt"));
    };
    let ob = a["openBadgeId"].as_str().unwrap_or_default();
    let recipient = &a["recipient"];
    let plain = recipient["plaintextIdentity"].as_str();
    let email = recipient["type"].as_str() == Some("email");
    let evidence = a["evidence"].as_array().and_then(|e| e.first());
    let image = a["image"].as_str().unwrap_or_default();

    let mut linkedin_add = format!(
        "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME&name={name}&organizationName=Bioinformatics Research Network&issueYear={}&issueMonth={}&certUrl={ob}&certId={id}",
        awarded.year(),
        u8::from(awarded.month())
    );
    if let Some(exp) = a["expires"].as_str().and_then(parsed) {
        linkedin_add.push_str(&format!(
            "&expirationYear={}&expirationMonth={}",
            exp.year(),
            u8::from(exp.month())
        ));
    }
    let twitter = format!(
        "https://twitter.com/intent/tweet?text=I earned the \"{name}\" badge from @BRN_science!%0A%0A{ob}"
    )
    .replace(' ', "%20")
    .replace('#', "%23")
    .replace('"', "%22");
    let share = match (email, plain) {
        (true, Some(p)) => format!("{ob}?identity__email={p}"),
        _ => ob.to_string(),
    };
    let h = html_escape;
    let identity = match (email, plain) {
        (true, Some(p)) => format!("&amp;identity__email={}", h(p)),
        _ => String::new(),
    };
    let embed_card = format!(
        "<iframe src=\"{}?embedVersion=1&amp;embedWidth=330&amp;embedHeight=191{identity}\" title=\"Badge: {}\" style=\"width: 330px; height: 191px; border: 0px;\"></iframe>",
        h(ob),
        h(name)
    );
    let date = awarded
        .format(format_description!("[month repr:long] [day], [year]"))
        .unwrap_or_default();
    let embed_badge = [
        "<blockquote class=\"badgr-badge\" style=\"font-family: Helvetica, Roboto, &quot;Segoe UI&quot;, Calibri, sans-serif;\">".to_string(),
        format!("<a href=\"{}\"><img width=\"120px\" height=\"120px\" src=\"{}\"></a>", h(ob), h(image)),
        format!("<p class=\"badgr-badge-name\" style=\"hyphens: auto; overflow-wrap: break-word; word-wrap: break-word; margin: 0; font-size: 16px; font-weight: 600; font-style: normal; font-stretch: normal; line-height: 1.25; letter-spacing: normal; text-align: left; color: #05012c;\">{}</p>", h(name)),
        format!("<p class=\"badgr-badge-date\" style=\"margin: 0; font-size: 12px; font-style: normal; font-stretch: normal; line-height: 1.67; letter-spacing: normal; text-align: left; color: #555555;\"><strong style=\"font-size: 12px; font-weight: bold; font-style: normal; font-stretch: normal; line-height: 1.67; letter-spacing: normal; text-align: left; color: #000;\">Awarded: </strong>{date}</p>"),
        format!("<p style=\"margin: 16px 0; padding: 0;\"><a class=\"badgr-badge-verify\" target=\"_blank\" href=\"https://badgecheck.io?url={}\" style=\"box-sizing: content-box; display: flex; align-items: center; justify-content: center; margin: 0; font-size:14px; font-weight: bold; width: 48px; height: 16px; border-radius: 4px; border: solid 1px black; text-decoration: none; padding: 6px 16px; margin: 16px 0; color: black;\">VERIFY</a></p>", h(ob)),
        "<script async=\"async\" src=\"https://badgr.com/assets/widgets.bundle.js\"></script></blockquote>".to_string(),
    ]
    .concat();

    let text = |key: &str| column_text(&a[key]);
    let values = vec![
        Some(id.to_string()),
        text("entityType"),
        text("openBadgeId"),
        created,
        text("createdBy"),
        Some(badgeclass.to_string()),
        recipient["identity"].as_str().map(str::to_string),
        recipient["hashed"]
            .as_bool()
            .map(|b| if b { "1" } else { "0" }.into()),
        recipient["type"].as_str().map(str::to_string),
        plain.map(str::to_string),
        recipient["salt"].as_str().map(str::to_string),
        issued,
        text("narrative"),
        evidence.and_then(|e| e["url"].as_str()).map(str::to_string),
        evidence
            .and_then(|e| e["narrative"].as_str())
            .map(str::to_string),
        Some(
            if a["revoked"].as_bool() == Some(true) {
                "1"
            } else {
                "0"
            }
            .into(),
        ),
        text("revocationReason"),
        text("acceptance"),
        expires,
        Some(share),
        Some(linkedin_add),
        Some(twitter),
        Some(format!("https://www.facebook.com/sharer/sharer.php?u={ob}")),
        Some(format!(
            "https://www.linkedin.com/sharing/share-offsite/?url={ob}"
        )),
        Some(embed_card),
        Some(embed_badge),
    ];
    debug_assert_eq!(values.len(), ASSERTIONS.columns.len());
    Ok(Incoming { label, values })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn timestamps_with_or_without_fractions_become_utc_datetimes() {
        assert_eq!(
            datetime("2022-05-16T10:00:00Z").as_deref(),
            Some("2022-05-16 10:00:00")
        );
        assert_eq!(
            datetime("2022-05-04T17:29:48.123456Z").as_deref(),
            Some("2022-05-04 17:29:48")
        );
        assert_eq!(
            datetime("2022-05-04T19:29:48+02:00").as_deref(),
            Some("2022-05-04 17:29:48")
        );
        assert_eq!(
            datetime("2022-05-04 17:29:48").as_deref(),
            Some("2022-05-04 17:29:48")
        );
        assert_eq!(datetime("None"), None);
    }

    #[test]
    fn airtable_lists_join_and_absent_fields_clear() {
        let fields = json!({"id": 4, "name": "R Programming II", "core_skill_areas": ["programming", "unit tests"],
            "review_required": true, "install_id": "25520792"});
        let row = assessment(fields.as_object().unwrap()).unwrap();
        let col =
            |c: &str| row.values[ASSESSMENTS.columns.iter().position(|x| *x == c).unwrap()].clone();
        assert_eq!(col("id").as_deref(), Some("4"));
        assert_eq!(
            col("core_skill_areas").as_deref(),
            Some("programming,unit tests")
        );
        assert_eq!(col("review_required").as_deref(), Some("1"));
        // left out by Airtable because empty: the column is cleared, not left as it was
        assert_eq!(col("description"), None);
        let attachments = json!({"id": 5, "name": "x", "types": [{"url": "https://x"}]});
        assert!(assessment(attachments.as_object().unwrap())
            .unwrap_err()
            .contains("list of objects"));
        assert!(assessment(json!({"name": "no id"}).as_object().unwrap()).is_err());
    }

    #[test]
    fn assertion_links_and_html_match_the_original_for_plain_names() {
        let names = HashMap::from([("BC1".to_string(), "Python Programming II".to_string())]);
        let a = json!({"entityId": "AS1", "entityType": "Assertion", "openBadgeId": "https://api.badgr.io/public/assertions/AS1",
            "createdAt": "2022-05-16T10:00:00Z", "issuedOn": "2022-05-16T10:00:00.5Z", "badgeclass": "BC1",
            "image": "https://api.badgr.io/public/assertions/AS1/image",
            "recipient": {"identity": "a@b.org", "hashed": false, "type": "email", "plaintextIdentity": "a@b.org"},
            "revoked": false, "revocationReason": null, "expires": null, "narrative": null, "evidence": []});
        let row = assertion(&a, &names).unwrap();
        let col = |c: &str| {
            row.values[ASSERTIONS.columns.iter().position(|x| *x == c).unwrap()]
                .clone()
                .unwrap_or_default()
        };
        assert_eq!(col("issuedOn"), "2022-05-16 10:00:00");
        assert_eq!(col("twitter_share_url"),
            "https://twitter.com/intent/tweet?text=I%20earned%20the%20%22Python%20Programming%20II%22%20badge%20from%20@BRN_science!%0A%0Ahttps://api.badgr.io/public/assertions/AS1");
        assert_eq!(col("linkedin_add_profile_url"),
            "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME&name=Python Programming II&organizationName=Bioinformatics Research Network&issueYear=2022&issueMonth=5&certUrl=https://api.badgr.io/public/assertions/AS1&certId=AS1");
        assert_eq!(
            col("share_url"),
            "https://api.badgr.io/public/assertions/AS1?identity__email=a@b.org"
        );
        assert!(col("embed_badge_html").contains("<strong style=\"font-size: 12px; font-weight: bold; font-style: normal; font-stretch: normal; line-height: 1.67; letter-spacing: normal; text-align: left; color: #000;\">Awarded: </strong>May 16, 2022</p>"));
        assert!(col("embed_card_html").ends_with("embedHeight=191&amp;identity__email=a@b.org\" title=\"Badge: Python Programming II\" style=\"width: 330px; height: 191px; border: 0px;\"></iframe>"));
        assert_eq!(col("revoked"), "0");
        assert_eq!(
            row.values[ASSERTIONS
                .columns
                .iter()
                .position(|x| *x == "narrative")
                .unwrap()],
            None
        );
    }

    #[test]
    fn an_assertion_of_an_unknown_badge_is_skipped_not_fatal() {
        let a =
            json!({"entityId": "AS2", "badgeclass": "nope", "createdAt": "2022-05-16T10:00:00Z"});
        assert!(assertion(&a, &HashMap::new())
            .unwrap_err()
            .contains("not in badges"));
    }
}
