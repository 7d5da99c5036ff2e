//! A whole sync against the local MariaDB, the emulator's S3 and the fakes: what lands in the
//! tables and the bucket, what a second run does, and how a run survives the failures the spec
//! lists.

mod common;

use common::harness;
use mysql_async::prelude::*;
use serde_json::json;
use skill_sync::handler::{self, lock_name};
use skill_sync::report::Summary;

async fn sync(h: &common::Harness) -> Summary {
    handler::sync(&h.env().await).await.unwrap()
}

fn counts(s: &Summary, step: &str) -> (u64, u64, u64, u64) {
    let r = s.step(step).unwrap();
    (r.inserted, r.updated, r.unchanged, r.skipped)
}

#[tokio::test]
async fn a_first_sync_fills_the_tables_and_the_bucket_and_a_second_writes_nothing() {
    let h = harness("first").await;
    h.count_writes().await;
    let first = sync(&h).await;
    assert!(first.ok(), "{first:#?}");
    assert_eq!(counts(&first, "assessments"), (4, 0, 0, 0));
    assert_eq!(counts(&first, "badges"), (2, 0, 0, 0));
    // the revoked assertion arrives too: revocations must reach the table
    assert_eq!(counts(&first, "assertions"), (3, 0, 0, 0));
    // two assessments share the tutorial's release: uploaded once
    assert_eq!(counts(&first, "templates"), (2, 0, 0, 0));
    assert_eq!(h.writes().await, 9);

    assert_eq!(
        h.rows("SELECT core_skill_areas, prerequisites, review_required, install_id FROM assessments WHERE id = 4").await,
        vec![vec![Some("programming,unit tests".into()), Some("recnfYAi4ySe2Mh7O".into()), Some("1".into()), Some("25520792".into())]]
    );
    // fractional seconds in createdAt are accepted
    assert_eq!(
        h.one(
            "SELECT CAST(createdAt AS CHAR) FROM badges WHERE entityId = 'BadgeRProgII0000000000'"
        )
        .await
        .as_deref(),
        Some("2022-05-04 17:31:02")
    );
    assert_eq!(
        h.rows("SELECT revoked, revocationReason, narrative FROM assertions WHERE entityId = 'AssertionThree00000000'").await,
        vec![vec![Some("1".into()), Some("Issued in error".into()), None]]
    );
    // the exact layout the app's bot copies from, GitHub's top folder stripped, dotfiles kept
    assert_eq!(
        h.keys("templates/").await,
        [
            "templates/R-Programming-II/v0.0.1a/R/solution.R",
            "templates/R-Programming-II/v0.0.1a/README.md",
            "templates/Skill-Assessment-Tutorial-Python/v0.0.4a/.github/workflows/check.yml",
            "templates/Skill-Assessment-Tutorial-Python/v0.0.4a/README.md",
            "templates/Skill-Assessment-Tutorial-Python/v0.0.4a/main.py",
        ]
    );
    let (ct, body) = h
        .object("templates/Skill-Assessment-Tutorial-Python/v0.0.4a/README.md")
        .await;
    assert_eq!(body, b"# Skill Assessment Tutorial (Python)\n");
    assert_eq!(ct.as_deref(), Some("text/markdown"));

    let second = sync(&h).await;
    assert!(second.ok(), "{second:#?}");
    assert_eq!(counts(&second, "assessments"), (0, 0, 4, 0));
    assert_eq!(counts(&second, "badges"), (0, 0, 2, 0));
    assert_eq!(counts(&second, "assertions"), (0, 0, 3, 0));
    assert_eq!(counts(&second, "templates"), (0, 0, 2, 0));
    // not one row touched, by the triggers' count
    assert_eq!(h.writes().await, 9);
    h.drop().await;
}

#[tokio::test]
async fn a_changed_airtable_record_is_updated_and_a_cleared_field_cleared() {
    let h = harness("changed").await;
    assert!(sync(&h).await.ok());
    h.airtable.update(4, |f| {
        f.insert("description".into(), json!("Harder now"));
        // Airtable leaves an unticked checkbox out of `fields`
        f.remove("review_required");
    });
    // another record still has the field: a column no record has at all is left alone
    // (a_column_no_airtable_record_has_is_left_as_it_is)
    h.airtable.update(1, |f| {
        f.insert("review_required".into(), json!(true));
    });
    let s = sync(&h).await;
    assert_eq!(counts(&s, "assessments"), (0, 2, 2, 0));
    assert_eq!(
        h.rows("SELECT description, review_required FROM assessments WHERE id = 4")
            .await,
        vec![vec![Some("Harder now".into()), None]]
    );
    h.drop().await;
}

#[tokio::test]
async fn a_4_byte_character_is_stored_as_an_html_entity_and_reported() {
    let h = harness("emoji").await;
    let s = sync(&h).await;
    assert!(s.ok(), "{s:#?}");
    assert_eq!(
        h.one("SELECT description FROM assessments WHERE id = 4")
            .await
            .as_deref(),
        Some("Intermediate programming assessment in R &#128075;")
    );
    let notes = &s.step("assessments").unwrap().notes;
    assert!(
        notes.iter().any(|n| n.contains("id 4")
            && n.contains("4-byte characters in description stored as HTML entities")),
        "{notes:?}"
    );
    // stored that way, the row counts as unchanged the next time
    assert_eq!(counts(&sync(&h).await, "assessments"), (0, 0, 4, 0));
    h.drop().await;
}

#[tokio::test]
async fn every_badgr_page_is_read() {
    let h = harness("pages").await;
    h.badgr.page_size(Some(2));
    let s = sync(&h).await;
    assert_eq!(counts(&s, "assertions"), (3, 0, 0, 0));
    let pages: Vec<_> = h
        .badgr
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/assertions"))
        .collect();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[1].query_param("after").as_deref(), Some("2"));
    // the next link keeps asking for revoked assertions
    assert_eq!(
        pages[1].query_param("include_revoked").as_deref(),
        Some("true")
    );
    h.drop().await;
}

#[tokio::test]
async fn a_badgr_outage_fails_the_run_after_airtable_and_github_synced() {
    let h = harness("outage").await;
    h.badgr.down(true);
    let env = h.env().await;
    let err = handler::handle(&env, &json!({})).await.unwrap_err();
    let handler::RunError::Failed(s) = &err else {
        panic!("{err}")
    };
    assert!(!s.step("badges").unwrap().ok());
    assert!(!s.step("assertions").unwrap().ok());
    assert_eq!(counts(s, "assessments"), (4, 0, 0, 0));
    assert_eq!(counts(s, "templates"), (2, 0, 0, 0));
    assert!(err.to_string().contains("badges failed: Badgr"), "{err}");
    assert_eq!(
        h.one("SELECT COUNT(*) FROM badges").await.as_deref(),
        Some("0")
    );
    assert_eq!(h.keys("templates/R-Programming-II/").await.len(), 2);
    h.drop().await;
}

#[tokio::test]
async fn an_unchanged_release_costs_one_small_request_and_a_moved_tag_replaces_its_files() {
    let h = harness("release").await;
    assert!(sync(&h).await.ok());
    let zipballs = |h: &common::Harness| {
        h.github
            .requests()
            .iter()
            .filter(|r| r.path.contains("/zipball/"))
            .count()
    };
    assert_eq!(zipballs(&h), 2);
    let s = sync(&h).await;
    assert_eq!(counts(&s, "templates"), (0, 0, 2, 0));
    assert_eq!(
        zipballs(&h),
        2,
        "no zipball downloaded for unchanged releases"
    );

    // the tag moves to a commit that dropped R/solution.R
    h.github.set_release(
        "R-Programming-II",
        "v0.0.1a",
        "3333333333333333333333333333333333333333",
        &[("README.md", b"# R Programming II, fixed\n")],
    );
    let s = sync(&h).await;
    assert_eq!(counts(&s, "templates"), (0, 1, 1, 0));
    assert_eq!(
        h.keys("templates/R-Programming-II/").await,
        ["templates/R-Programming-II/v0.0.1a/README.md"]
    );
    let (_, marker) = h
        .object("skill-sync/releases/R-Programming-II/v0.0.1a.json")
        .await;
    let marker: serde_json::Value = serde_json::from_slice(&marker).unwrap();
    assert_eq!(marker["commit"], "3333333333333333333333333333333333333333");
    h.drop().await;
}

#[tokio::test]
async fn a_zip_with_a_parent_path_is_refused_and_other_releases_still_upload() {
    let h = harness("zipslip").await;
    // GitHub's layout, but one entry climbs out of the top folder
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, body) in [
        ("evil-top/README.md", "fine"),
        ("evil-top/../../outside.txt", "pwned"),
    ] {
        w.start_file(name, opts).unwrap();
        std::io::Write::write_all(&mut w, body.as_bytes()).unwrap();
    }
    let zip = w.finish().unwrap().into_inner();
    h.github.set_release_zip(
        "R-Programming-II",
        "v0.0.1a",
        "4444444444444444444444444444444444444444",
        zip,
    );
    let s = sync(&h).await;
    let t = s.step("templates").unwrap();
    assert_eq!(t.inserted, 1);
    assert!(
        t.errors
            .iter()
            .any(|e| e.contains("R-Programming-II@v0.0.1a") && e.contains("escapes the archive")),
        "{t:#?}"
    );
    assert!(h.keys("templates/R-Programming-II").await.is_empty());
    assert!(h.keys("outside.txt").await.is_empty());
    assert_eq!(
        h.keys("templates/Skill-Assessment-Tutorial-Python/")
            .await
            .len(),
        3
    );
    h.drop().await;
}

#[tokio::test]
async fn a_second_invocation_while_one_runs_exits_at_once() {
    let h = harness("overlap").await;
    let env = h.env().await;
    // the running invocation: a session holding the run's lock
    let mut running = h.conn().await;
    let got: Option<i64> = running
        .exec_first("SELECT GET_LOCK(?, 0)", (lock_name(&env.db),))
        .await
        .unwrap();
    assert_eq!(got, Some(1));
    let answer = handler::handle(&env, &json!({})).await.unwrap();
    assert!(
        answer["skipped_run"]
            .as_str()
            .unwrap()
            .contains("another run"),
        "{answer}"
    );
    assert_eq!(
        h.one("SELECT COUNT(*) FROM assessments").await.as_deref(),
        Some("0")
    );
    assert!(h.airtable.requests().is_empty());
    running.disconnect().await.unwrap();
    // the lock went with the session: the next run works
    assert!(sync(&h).await.ok());
    h.drop().await;
}

#[tokio::test]
async fn the_apps_assessment_tracker_id_survives_a_sync() {
    let h = harness("tracker").await;
    assert!(sync(&h).await.ok());
    let mut conn = h.conn().await;
    conn.query_drop(
        "INSERT INTO assessment_tracker (id, user_id, assessment_id, status, latest_commit, log) \
         VALUES (7, 1, 1, 'Passed', 'abc123', '[]')",
    )
    .await
    .unwrap();
    conn.query_drop(
        "UPDATE assertions SET assessment_tracker_id = 7 WHERE entityId = 'AssertionOne0000000000'",
    )
    .await
    .unwrap();
    conn.disconnect().await.unwrap();
    // Badgr changes the assertion (revoked), so the sync does update the row
    let mut revoked = skill_sync::fake::sample::assertion(
        "AssertionOne0000000000",
        "BadgeTutorial000000000",
        "ada@example.org",
        "2022-05-16T10:00:00Z",
        true,
    );
    revoked["revocationReason"] = json!("Plagiarism");
    let mut all = skill_sync::fake::sample::assertions();
    all[0] = revoked;
    h.badgr.set_assertions(all);
    let s = sync(&h).await;
    assert_eq!(counts(&s, "assertions"), (0, 1, 2, 0));
    assert_eq!(
        h.rows("SELECT revoked, revocationReason, assessment_tracker_id FROM assertions WHERE entityId = 'AssertionOne0000000000'").await,
        vec![vec![Some("1".into()), Some("Plagiarism".into()), Some("7".into())]]
    );
    h.drop().await;
}

#[tokio::test]
async fn a_row_that_cannot_be_stored_is_skipped_and_the_rest_synced() {
    let h = harness("skips").await;
    let mut records = skill_sync::fake::sample::assessments();
    // a second record claiming an existing name: the UNIQUE key would reject it
    records.push(json!({"id": 20, "name": "R Programming II"}));
    records.push(json!({"id": 21, "name": "x".repeat(300)}));
    h.airtable.set_records(records);
    let s = sync(&h).await;
    let a = s.step("assessments").unwrap();
    assert!(a.ok(), "{a:#?}");
    assert_eq!((a.inserted, a.skipped), (4, 2));
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("already belongs to id 4")),
        "{a:#?}"
    );
    assert!(
        a.notes.iter().any(|n| n.contains("300 characters")),
        "{a:#?}"
    );
    h.drop().await;
}

#[tokio::test]
async fn a_database_error_leaves_the_whole_table_as_it_was() {
    let h = harness("rollback").await;
    assert!(sync(&h).await.ok());
    // the server refuses one row of the batch (a trigger stands in for any database error)
    let mut conn = h.conn().await;
    conn.query_drop(
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON assessments FOR EACH ROW \
         BEGIN IF NEW.name = 'Boom' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'boom'; END IF; END",
    )
    .await
    .unwrap();
    conn.disconnect().await.unwrap();
    let mut records = skill_sync::fake::sample::assessments();
    records[0]["description"] = json!("changed before the failing row");
    records.push(json!({"id": 30, "name": "Fine"}));
    records.push(json!({"id": 31, "name": "Boom"}));
    h.airtable.set_records(records);
    let s = sync(&h).await;
    let a = s.step("assessments").unwrap();
    assert!(a.errors.iter().any(|e| e.contains("boom")), "{a:#?}");
    assert_eq!((a.inserted, a.updated), (0, 0));
    // neither the update nor the insert before the failure stayed
    assert_eq!(
        h.one("SELECT description FROM assessments WHERE id = 1")
            .await
            .as_deref(),
        Some("Learn how skill assessments work")
    );
    assert_eq!(
        h.one("SELECT COUNT(*) FROM assessments").await.as_deref(),
        Some("4")
    );
    // the other steps still ran
    assert!(s.step("badges").unwrap().ok());
    h.drop().await;
}

#[tokio::test]
async fn a_name_equal_only_under_the_collation_never_overwrites_another_row() {
    let h = harness("collation").await;
    let badge = |id: &str, name: &str| {
        let mut b = skill_sync::fake::sample::badge_classes().remove(0);
        b["entityId"] = json!(id);
        b["name"] = json!(name);
        b["description"] = json!(format!("badge {id}"));
        b
    };
    let mut classes = skill_sync::fake::sample::badge_classes();
    classes.push(badge("BadgeResumeAccent00000", "Résumé"));
    h.badgr.set_badge_classes(classes.clone());
    assert!(sync(&h).await.ok());
    h.count_writes().await;
    // utf8mb3_general_ci finds these equal to "Résumé": no accents, a trailing space
    classes.push(badge("BadgeResumePlain000000", "Resume"));
    classes.push(badge("BadgeResumeSpace000000", "Résumé "));
    // and an ordinary change in the same run still commits
    classes[1]["description"] = json!("changed too");
    h.badgr.set_badge_classes(classes);
    let s = sync(&h).await;
    let b = s.step("badges").unwrap();
    assert!(b.ok(), "{b:#?}");
    assert_eq!(
        (b.inserted, b.updated, b.unchanged, b.skipped),
        (0, 1, 2, 2)
    );
    for id in ["BadgeResumePlain000000", "BadgeResumeSpace000000"] {
        assert!(
            b.notes.iter().any(|n| n.contains(id)
                && n.contains("already belongs to entityId BadgeResumeAccent00000")),
            "{b:#?}"
        );
    }
    // the stored badge kept its own data
    assert_eq!(
        h.rows("SELECT entityId, name, description FROM badges WHERE name = 'Resume'")
            .await,
        vec![vec![
            Some("BadgeResumeAccent00000".into()),
            Some("Résumé".into()),
            Some("badge BadgeResumeAccent00000".into())
        ]]
    );
    assert_eq!(
        h.one("SELECT description FROM badges WHERE entityId = 'BadgeRProgII0000000000'")
            .await
            .as_deref(),
        Some("changed too")
    );
    assert_eq!(h.writes().await, 1);
    h.drop().await;
}

#[tokio::test]
async fn a_key_spelt_in_another_case_is_not_a_change() {
    let h = harness("keycase").await;
    assert!(sync(&h).await.ok());
    h.count_writes().await;
    let mut classes = skill_sync::fake::sample::badge_classes();
    classes[0]["entityId"] = json!("badgetutorial000000000");
    h.badgr.set_badge_classes(classes);
    for _ in 0..2 {
        let s = sync(&h).await;
        assert!(s.ok(), "{s:#?}");
        assert_eq!(counts(&s, "badges"), (0, 0, 2, 0));
    }
    assert_eq!(h.writes().await, 0);
    // the key stays as stored, so the assertions' foreign key is as before
    assert_eq!(
        h.one("SELECT entityId FROM badges WHERE name LIKE 'Skill%'")
            .await
            .as_deref(),
        Some("BadgeTutorial000000000")
    );
    h.drop().await;
}

#[tokio::test]
async fn a_name_given_up_by_one_row_can_be_taken_by_another_in_the_same_run() {
    let h = harness("rename").await;
    assert!(sync(&h).await.ok());
    h.count_writes().await;
    let mut records = skill_sync::fake::sample::assessments();
    // id 13 takes id 1's name, and comes first; id 1 takes a new one
    records[3]["name"] = json!("Skill Assessment Tutorial (Python)");
    records[0]["name"] = json!("Tutorial (Python)");
    records.swap(0, 3);
    h.airtable.set_records(records);
    let s = sync(&h).await;
    let a = s.step("assessments").unwrap();
    assert!(a.ok(), "{a:#?}");
    assert_eq!(
        (a.inserted, a.updated, a.unchanged, a.skipped),
        (0, 2, 2, 0)
    );
    assert_eq!(
        h.rows("SELECT id, name FROM assessments WHERE id IN (1, 13) ORDER BY id")
            .await,
        vec![
            vec![Some("1".into()), Some("Tutorial (Python)".into())],
            vec![
                Some("13".into()),
                Some("Skill Assessment Tutorial (Python)".into())
            ],
        ]
    );
    assert_eq!(h.writes().await, 2);
    // nothing left for the next run
    assert_eq!(counts(&sync(&h).await, "assessments"), (0, 0, 4, 0));
    assert_eq!(h.writes().await, 2);
    h.drop().await;
}

#[tokio::test]
async fn a_column_no_airtable_record_has_is_left_as_it_is() {
    let h = harness("absent").await;
    let mut conn = h.conn().await;
    // kept by hand before the sync's first run
    conn.query_drop(
        "INSERT INTO assessments (id, name, github_org) VALUES (4, 'R Programming II', 'BRN-by-hand')",
    )
    .await
    .unwrap();
    // the session is MySQL 8's strict mode, whatever flags the local server was started with
    let mode: Option<String> = conn.query_first("SELECT @@SESSION.sql_mode").await.unwrap();
    assert!(
        mode.as_deref()
            .is_some_and(|m| m.contains("ONLY_FULL_GROUP_BY") && m.contains("NO_ZERO_DATE")),
        "{mode:?}"
    );
    conn.disconnect().await.unwrap();
    let mut records = skill_sync::fake::sample::assessments();
    for r in &mut records {
        r.as_object_mut().unwrap().remove("github_org");
    }
    h.airtable.set_records(records);
    let s = sync(&h).await;
    let a = s.step("assessments").unwrap();
    assert!(a.ok(), "{a:#?}");
    assert_eq!((a.inserted, a.updated), (3, 1));
    assert!(
        a.notes.iter().any(|n| n.contains("no Airtable record has")
            && n.contains("github_org")
            && n.contains("left as they are")),
        "{a:#?}"
    );
    assert_eq!(
        h.rows("SELECT github_org, description FROM assessments WHERE id = 4")
            .await,
        vec![vec![
            Some("BRN-by-hand".into()),
            Some("Intermediate programming assessment in R &#128075;".into())
        ]]
    );
    // a field some records have still clears where a record lacks it
    assert_eq!(
        h.one("SELECT review_required FROM assessments WHERE id = 1")
            .await,
        None
    );
    h.drop().await;
}
