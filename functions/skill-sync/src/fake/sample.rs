//! The local stage's data: what `cargo xtask local up` serves on the fakes' ports, chosen to
//! exercise the rules — Airtable pages, lists joined with `,`, an emoji in a `utf8mb3` column, an
//! assessment without a template; Badgr timestamps with and without fractions, a second page, a
//! revoked assertion; two releases, one of them shared by two assessments.

use serde_json::{json, Value};

use super::*;

pub struct Sample {
    pub airtable: FakeAirtable,
    pub badgr: FakeBadgr,
    pub github: FakeGitHub,
}

pub const TUTORIAL_COMMIT: &str = "1111111111111111111111111111111111111111";
pub const R_COMMIT: &str = "2222222222222222222222222222222222222222";

pub fn assessments() -> Vec<Value> {
    vec![
        json!({"id": 1, "name": "Skill Assessment Tutorial (Python)", "description": "Learn how skill assessments work",
            "core_skill_areas": ["git", "GitHub"], "languages": "Python", "types": "tutorial",
            "github_org": "BRN-Skill-Assessment-Tutorial-Python", "repo_prefix": "Tutorial-Python--",
            "install_id": "25630785", "template_repo": "Skill-Assessment-Tutorial-Python", "latest_release": "v0.0.4a"}),
        json!({"id": 4, "name": "R Programming II", "description": "Intermediate programming assessment in R 👋",
            "core_skill_areas": ["programming", "unit tests"], "languages": "R", "types": "software",
            "prerequisites": ["recnfYAi4ySe2Mh7O"], "review_required": true,
            "github_org": "BRN-skill-tests-R-Programming-II", "repo_prefix": "R-Programming-II--",
            "install_id": "25520792", "template_repo": "R-Programming-II", "latest_release": "v0.0.1a"}),
        json!({"id": 12, "name": "Test", "description": "Reuses the tutorial's template",
            "template_repo": "Skill-Assessment-Tutorial-Python", "latest_release": "v0.0.4a"}),
        json!({"id": 13, "name": "Bash Programming I", "description": "No template yet", "languages": "Bash", "types": "software"}),
    ]
}

pub fn badge_classes() -> Vec<Value> {
    let bc = |id: &str, name: &str, created: &str| {
        json!({"entityId": id, "entityType": "BadgeClass",
            "openBadgeId": format!("https://api.test.badgr.com/public/badges/{id}"), "createdAt": created,
            "createdBy": "LocalUser", "issuer": BADGR_ISSUER,
            "issuerOpenBadgeId": format!("https://api.test.badgr.com/public/issuers/{BADGR_ISSUER}"),
            "name": name, "image": format!("https://api.test.badgr.com/public/badges/{id}/image"),
            "description": format!("Awarded for {name}"), "achievementType": null,
            "criteriaUrl": "https://github.com/Bioinformatics-Research-Network", "criteriaNarrative": "Pass the assessment",
            "alignments": [], "tags": ["skills"], "expires": {"amount": null, "duration": null}, "extensions": {}})
    };
    vec![
        bc(
            "BadgeTutorial000000000",
            "Skill Assessment Tutorial (Python)",
            "2022-05-04T17:29:48Z",
        ),
        bc(
            "BadgeRProgII0000000000",
            "R Programming II",
            "2022-05-04T17:31:02.456789Z",
        ),
    ]
}

pub fn assertion(id: &str, badge: &str, email: &str, issued: &str, revoked: bool) -> Value {
    json!({"entityId": id, "entityType": "Assertion",
        "openBadgeId": format!("https://api.test.badgr.com/public/assertions/{id}"),
        "createdAt": issued, "createdBy": "LocalUser", "badgeclass": badge,
        "badgeclassOpenBadgeId": format!("https://api.test.badgr.com/public/badges/{badge}"),
        "issuer": BADGR_ISSUER, "image": format!("https://api.test.badgr.com/public/assertions/{id}/image"),
        "recipient": {"identity": email, "hashed": false, "type": "email", "plaintextIdentity": email},
        "issuedOn": issued, "narrative": null, "evidence": [], "revoked": revoked,
        "revocationReason": if revoked { json!("Issued in error") } else { json!(null) },
        "acceptance": "Accepted", "expires": null, "extensions": {}})
}

pub fn assertions() -> Vec<Value> {
    vec![
        assertion(
            "AssertionOne0000000000",
            "BadgeTutorial000000000",
            "ada@example.org",
            "2022-05-16T10:00:00Z",
            false,
        ),
        assertion(
            "AssertionTwo0000000000",
            "BadgeTutorial000000000",
            "grace@example.org",
            "2022-06-01T08:30:00.250Z",
            false,
        ),
        assertion(
            "AssertionThree00000000",
            "BadgeRProgII0000000000",
            "alan@example.org",
            "2022-07-20T12:00:00Z",
            true,
        ),
    ]
}

/// Fakes holding the sample, with small pages so a local run reads more than one.
pub fn sample() -> Sample {
    let airtable = FakeAirtable::new(AIRTABLE_BASE, AIRTABLE_TOKEN);
    airtable.set_records(assessments());
    airtable.page_size(3);
    let badgr = FakeBadgr::new(BADGR_USERNAME, BADGR_PASSWORD, BADGR_ISSUER);
    badgr.set_badge_classes(badge_classes());
    badgr.set_assertions(assertions());
    badgr.page_size(Some(2));
    let github = FakeGitHub::new(GITHUB_ORG);
    github.set_release(
        "Skill-Assessment-Tutorial-Python",
        "v0.0.4a",
        TUTORIAL_COMMIT,
        &[
            ("README.md", b"# Skill Assessment Tutorial (Python)\n"),
            (".github/workflows/check.yml", b"name: check\non: [push]\n"),
            ("main.py", b"print('hello')\n"),
        ],
    );
    github.set_release(
        "R-Programming-II",
        "v0.0.1a",
        R_COMMIT,
        &[
            ("README.md", b"# R Programming II\n"),
            ("R/solution.R", b"f <- function(x) x\n"),
        ],
    );
    Sample {
        airtable,
        badgr,
        github,
    }
}

impl Sample {
    /// Serve the fakes given a port until the process ends (the local stage).
    pub async fn serve(
        &self,
        airtable: Option<u16>,
        badgr: Option<u16>,
        github: Option<u16>,
    ) -> std::io::Result<()> {
        async fn on<F: std::future::Future<Output = std::io::Result<()>>>(
            port: Option<u16>,
            serve: impl FnOnce(u16) -> F,
        ) -> std::io::Result<()> {
            match port {
                Some(p) => serve(p).await,
                None => std::future::pending().await,
            }
        }
        tokio::try_join!(
            on(airtable, |p| self.airtable.serve(p)),
            on(badgr, |p| self.badgr.serve(p)),
            on(github, |p| self.github.serve(p)),
        )?;
        Ok(())
    }
}
