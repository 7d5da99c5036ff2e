//! What drift detection found in one stack, what it means and how it reads: no I/O here.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::deploy::hotswap::{self, Hotswapped};
use crate::ui;

/// A resource's drift status, as CloudFormation names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InSync,
    Modified,
    Deleted,
    /// A type drift detection does not cover (AWS leaves those out of its answer; the emulator
    /// lists them as NOT_CHECKED).
    NotChecked,
    /// Detection failed for the resource.
    Unknown,
}

impl Status {
    pub fn from_aws(status: &str) -> Status {
        match status {
            "IN_SYNC" => Status::InSync,
            "MODIFIED" => Status::Modified,
            "DELETED" => Status::Deleted,
            "NOT_CHECKED" | "UNSUPPORTED" => Status::NotChecked,
            _ => Status::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// CloudFormation's property path: `/MemorySize`, `/Environment/Variables/NAME`.
    pub path: String,
    pub expected: String,
    pub actual: String,
    /// `NOT_EQUAL`, `ADD` or `REMOVE`.
    pub kind: String,
    /// When a `deploy --hotswap` made this difference, which the next full deploy undoes.
    pub hotswapped_at: Option<String>,
    /// Found by comparing Lambda's CodeSha256 with the stack's code key: AWS's drift detection
    /// cannot see code (`Code` is write-only in Lambda's resource schema).
    pub by_code_hash: bool,
}

impl Difference {
    pub fn new(path: &str, expected: &str, actual: &str, kind: &str) -> Difference {
        Difference {
            path: path.into(),
            expected: expected.into(),
            actual: actual.into(),
            kind: kind.into(),
            hotswapped_at: None,
            by_code_hash: false,
        }
    }

    fn expected_drift(&self) -> bool {
        self.hotswapped_at.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDrift {
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub type_name: String,
    pub status: Status,
    /// Why the status is UNKNOWN.
    pub reason: Option<String>,
    pub differences: Vec<Difference>,
}

impl ResourceDrift {
    /// Drifted in a way no hotswap explains.
    fn drifted_unexpectedly(&self) -> bool {
        match self.status {
            Status::Deleted => true,
            Status::Modified => {
                self.differences.is_empty() || self.differences.iter().any(|d| !d.expected_drift())
            }
            _ => false,
        }
    }
}

/// One stack's drift: CloudFormation's answer, completed by the code check and explained by
/// the hotswap record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StackDrift {
    pub stack: String,
    /// Every resource CloudFormation reported on, in logical id order.
    pub resources: Vec<ResourceDrift>,
    /// Logical id → type of the stack's resources that drift detection left out.
    pub left_out: BTreeMap<String, String>,
    /// Why detection did not complete (DETECTION_FAILED), if it did not.
    pub failure: Option<String>,
    /// What could not be checked beyond CloudFormation's answer (code hashes, the record).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    InSync,
    /// Drifted only where `deploy --hotswap` changed it.
    ExpectedDrift,
    Drifted,
    /// Nothing drifted among what was checked, but detection failed for some resources.
    Incomplete,
}

impl StackDrift {
    pub fn verdict(&self) -> Verdict {
        if self
            .resources
            .iter()
            .any(ResourceDrift::drifted_unexpectedly)
        {
            Verdict::Drifted
        } else if self.resources.iter().any(|r| r.status == Status::Modified) {
            Verdict::ExpectedDrift
        } else if self.failure.is_some()
            || self.resources.iter().any(|r| r.status == Status::Unknown)
        {
            Verdict::Incomplete
        } else {
            Verdict::InSync
        }
    }

    /// Adds what the code check found for a function, unless CloudFormation already reported
    /// a difference in its code (the emulator does; AWS cannot).
    pub fn add_code_drift(
        &mut self,
        logical_id: &str,
        physical_id: &str,
        expected: &str,
        actual: &str,
    ) {
        let mut difference = Difference::new("/Code", expected, actual, "NOT_EQUAL");
        difference.by_code_hash = true;
        match self
            .resources
            .iter_mut()
            .find(|r| r.logical_id == logical_id)
        {
            Some(r) if r.status == Status::Deleted => {}
            Some(r) => {
                if r.differences.iter().any(|d| d.path.starts_with("/Code")) {
                    return;
                }
                r.differences.push(difference);
                r.status = Status::Modified;
            }
            None => {
                self.left_out.remove(logical_id);
                self.resources.push(ResourceDrift {
                    logical_id: logical_id.into(),
                    physical_id: Some(physical_id.into()),
                    type_name: "AWS::Lambda::Function".into(),
                    status: Status::Modified,
                    reason: None,
                    differences: vec![difference],
                });
                self.resources
                    .sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
            }
        }
    }

    /// Marks the differences the hotswaps still holding in the stack explain.
    pub fn explain(&mut self, hotswapped: &[Hotswapped]) {
        for r in &mut self.resources {
            for h in hotswapped.iter().filter(|h| h.logical_id == r.logical_id) {
                for d in r
                    .differences
                    .iter_mut()
                    .filter(|d| h.explains(&d.path, &d.actual))
                {
                    d.hotswapped_at = Some(h.at.clone());
                }
            }
        }
    }

    fn checked(&self) -> usize {
        self.resources
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    Status::InSync | Status::Modified | Status::Deleted
                )
            })
            .count()
    }

    /// Types not checked, with their counts: `AWS::IAM::Role ×3`.
    fn not_checked(&self) -> Vec<String> {
        let mut types: BTreeMap<&str, usize> = BTreeMap::new();
        let reported = self
            .resources
            .iter()
            .filter(|r| r.status == Status::NotChecked)
            .map(|r| r.type_name.as_str());
        for t in reported.chain(self.left_out.values().map(String::as_str)) {
            *types.entry(t).or_default() += 1;
        }
        types
            .into_iter()
            .map(|(t, n)| {
                if n == 1 {
                    t.to_string()
                } else {
                    format!("{t} ×{n}")
                }
            })
            .collect()
    }

    /// The stack's lines for the terminal: a header, then each drifted resource with its
    /// differences, then what was not checked.
    pub fn render(&self) -> Vec<String> {
        let drifted = self
            .resources
            .iter()
            .filter(|r| matches!(r.status, Status::Modified | Status::Deleted))
            .count();
        let checked = self.checked();
        let header = match self.verdict() {
            Verdict::InSync => format!("{}: {} ({checked} checked)", ui::bold(&self.stack), ui::green("IN_SYNC")),
            Verdict::Drifted => format!(
                "{}: {} ({drifted} of {checked} checked resource(s))",
                ui::bold(&self.stack),
                ui::red("DRIFTED")
            ),
            Verdict::ExpectedDrift => format!(
                "{}: DRIFTED as expected after `deploy --hotswap` ({drifted} of {checked} checked resource(s)); the next full deploy brings it in line",
                ui::bold(&self.stack)
            ),
            Verdict::Incomplete => format!(
                "{}: {} ({checked} checked, none drifted)",
                ui::bold(&self.stack),
                ui::red("DETECTION INCOMPLETE")
            ),
        };
        let mut lines = vec![header];
        if let Some(why) = &self.failure {
            lines.push(format!("  detection failed: {why}"));
        }
        for r in &self.resources {
            let (mark, status) = match r.status {
                Status::Modified => ("~", "MODIFIED"),
                Status::Deleted => ("-", "DELETED"),
                Status::Unknown => ("?", "UNKNOWN"),
                Status::InSync | Status::NotChecked => continue,
            };
            let physical = r
                .physical_id
                .as_deref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default();
            let reason = r
                .reason
                .as_deref()
                .map(|why| format!(": {why}"))
                .unwrap_or_default();
            lines.push(format!(
                "  {mark} {} ({}){physical}: {status}{reason}",
                r.logical_id, r.type_name
            ));
            for d in &r.differences {
                lines.push(format!("      {}", render_difference(d)));
            }
        }
        let not_checked = self.not_checked();
        if !not_checked.is_empty() {
            lines.push(ui::dim(&format!(
                "  not checked (drift detection does not cover them): {}",
                not_checked.join(", ")
            )));
        }
        for note in &self.notes {
            lines.push(format!("  note: {note}"));
        }
        lines
    }
}

fn render_difference(d: &Difference) -> String {
    let what = match d.kind.as_str() {
        "ADD" => format!("added {}", short(&d.actual)),
        "REMOVE" => format!("removed (expected {})", short(&d.expected)),
        _ => format!(
            "expected {}, actual {}",
            short(&d.expected),
            short(&d.actual)
        ),
    };
    let source = if d.by_code_hash {
        " (Lambda's CodeSha256 vs the stack's code key)"
    } else {
        ""
    };
    let expected = match &d.hotswapped_at {
        Some(at) => ui::dim(&format!(
            " — expected: hotswapped {at}, until the next full deploy"
        )),
        None => String::new(),
    };
    format!("{}: {what}{source}{expected}", d.path)
}

fn short(v: &str) -> String {
    if v.is_empty() {
        // an empty string is a value (an environment variable set to nothing)
        "\"\"".to_string()
    } else if v.chars().count() > 100 {
        format!("{}…", v.chars().take(100).collect::<String>())
    } else {
        v.to_string()
    }
}

/// Exit code of the command: 1 when a stack drifted beyond its hotswaps, else 0.
pub fn exit_code(stacks: &[StackDrift]) -> i32 {
    if stacks.iter().any(|s| s.verdict() == Verdict::Drifted) {
        1
    } else {
        0
    }
}

/// Lambda's CodeSha256 (base64) of the zip a function's template names, when the key is one of
/// deploy's content-addressed `assets/<sha256>.zip`, given directly or through a parameter.
pub fn expected_code_sha256(
    function: &Value,
    parameters: &BTreeMap<String, String>,
) -> Option<String> {
    let key = match &function["Properties"]["Code"]["S3Key"] {
        Value::String(k) => k.clone(),
        Value::Object(m) => parameters.get(m.get("Ref")?.as_str()?)?.clone(),
        _ => return None,
    };
    hotswap::code_sha256(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::hotswap::What;
    use base64::Engine;
    use serde_json::json;

    /// The zip the hotswap gave, and Lambda's CodeSha256 of it.
    fn given() -> (String, String) {
        let key = format!("assets/{}.zip", "cd".repeat(32));
        let sha = base64::engine::general_purpose::STANDARD.encode([0xcd; 32]);
        (key, sha)
    }

    fn resource(
        id: &str,
        type_name: &str,
        status: Status,
        differences: Vec<Difference>,
    ) -> ResourceDrift {
        ResourceDrift {
            logical_id: id.into(),
            physical_id: Some(format!("{id}-local")),
            type_name: type_name.into(),
            status,
            reason: None,
            differences,
        }
    }

    fn stack(resources: Vec<ResourceDrift>) -> StackDrift {
        StackDrift {
            stack: "demo-local".into(),
            resources,
            ..StackDrift::default()
        }
    }

    fn code_hotswap(id: &str) -> Hotswapped {
        Hotswapped {
            logical_id: id.into(),
            physical_id: format!("{id}-local"),
            what: What::Code {
                parameter: format!("{id}CodeKey"),
            },
            stack_held: "assets/old.zip".into(),
            given: given().0,
            at: "2025-01-02T03:04:05Z".into(),
        }
    }

    const FN: &str = "AWS::Lambda::Function";

    #[test]
    fn in_sync_when_every_checked_resource_is() {
        let mut s = stack(vec![
            resource("Api", FN, Status::InSync, vec![]),
            resource("Role", "AWS::IAM::Role", Status::NotChecked, vec![]),
        ]);
        s.left_out
            .insert("Alarm".into(), "AWS::CloudWatch::Alarm".into());
        assert_eq!(s.verdict(), Verdict::InSync);
        assert_eq!(exit_code(&[s.clone()]), 0);
        let lines = s.render();
        assert_eq!(lines.len(), 2, "{lines:?}");
        // colors (when the tests run in a terminal) wrap the status: look at each part
        assert!(
            lines[0].contains("IN_SYNC") && lines[0].contains(" (1 checked)"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains("AWS::CloudWatch::Alarm, AWS::IAM::Role"),
            "{lines:?}"
        );
    }

    #[test]
    fn a_changed_property_or_a_deleted_resource_is_drift_with_each_difference_printed() {
        let s = stack(vec![
            resource(
                "Api",
                FN,
                Status::Modified,
                vec![
                    Difference::new("/MemorySize", "256", "512", "NOT_EQUAL"),
                    Difference::new("/Environment/Variables/EXTRA", "null", "1", "ADD"),
                    Difference::new("/Environment/Variables/STAGE", "local", "null", "REMOVE"),
                ],
            ),
            resource("Queue", "AWS::SQS::Queue", Status::Deleted, vec![]),
            resource("Rule", "AWS::Events::Rule", Status::InSync, vec![]),
        ]);
        assert_eq!(s.verdict(), Verdict::Drifted);
        assert_eq!(exit_code(&[stack(vec![]), s.clone()]), 1);
        let lines = s.render();
        assert!(
            lines[0].contains("DRIFTED") && lines[0].contains(" (2 of 3 checked resource(s))"),
            "{lines:?}"
        );
        assert_eq!(
            lines[1],
            "  ~ Api (AWS::Lambda::Function) Api-local: MODIFIED"
        );
        assert_eq!(lines[2], "      /MemorySize: expected 256, actual 512");
        assert_eq!(lines[3], "      /Environment/Variables/EXTRA: added 1");
        assert_eq!(
            lines[4],
            "      /Environment/Variables/STAGE: removed (expected local)"
        );
        assert_eq!(lines[5], "  - Queue (AWS::SQS::Queue) Queue-local: DELETED");
        assert_eq!(
            lines.len(),
            6,
            "in-sync resources are not listed: {lines:?}"
        );
        assert_eq!(
            render_difference(&Difference::new(
                "/Environment/Variables/E",
                "",
                "x",
                "NOT_EQUAL"
            )),
            "/Environment/Variables/E: expected \"\", actual x"
        );
    }

    #[test]
    fn hotswapped_code_is_expected_drift_and_nothing_else_is() {
        let (_, sha) = given();
        let mut s = stack(vec![resource(
            "Api",
            FN,
            Status::Modified,
            vec![Difference::new("/Code", "old=", &sha, "NOT_EQUAL")],
        )]);
        s.explain(&[code_hotswap("Api"), code_hotswap("Other")]);
        assert_eq!(s.verdict(), Verdict::ExpectedDrift);
        assert_eq!(exit_code(&[s.clone()]), 0);
        let lines = s.render();
        assert!(
            lines[0].contains("DRIFTED as expected after `deploy --hotswap`"),
            "{lines:?}"
        );
        assert!(
            lines[2].contains(&format!("/Code: expected old=, actual {sha}"))
                && lines[2].contains("hotswapped 2025-01-02T03:04:05Z, until the next full deploy"),
            "{lines:?}"
        );

        // a hotswap explains code, not memory
        s.resources[0]
            .differences
            .push(Difference::new("/MemorySize", "256", "512", "NOT_EQUAL"));
        s.explain(&[code_hotswap("Api")]);
        assert_eq!(s.verdict(), Verdict::Drifted);
        // nor another function's code
        let mut other = stack(vec![resource(
            "Worker",
            FN,
            Status::Modified,
            vec![Difference::new("/Code", "a", &sha, "NOT_EQUAL")],
        )]);
        other.explain(&[code_hotswap("Api")]);
        assert_eq!(other.verdict(), Verdict::Drifted);
        // nor code changed again since, by other means
        let mut again = stack(vec![resource(
            "Api",
            FN,
            Status::Modified,
            vec![Difference::new("/Code", "old=", "other=", "NOT_EQUAL")],
        )]);
        again.explain(&[code_hotswap("Api")]);
        assert_eq!(again.verdict(), Verdict::Drifted);
    }

    #[test]
    fn a_hotswap_explains_its_own_paths_only() {
        let h = Hotswapped {
            what: What::Definition,
            ..code_hotswap("Machine")
        };
        assert!(h.explains("/DefinitionString", "{}"));
        assert!(h.explains("/Definition/States/A", "{}"));
        assert!(!h.explains("/RoleArn", "x"));
        let (_, sha) = given();
        let code = code_hotswap("Api");
        assert!(code.explains("/Code", &sha));
        assert!(!code.explains("/Code", "other="));
        assert!(code.explains("/Code/S3Key", "x"));
        assert!(!code.explains("/CodeSigningConfigArn", &sha));
    }

    #[test]
    fn the_code_check_fills_in_what_cloudformation_cannot_see_once() {
        // AWS: the function is IN_SYNC (code is not compared)
        let mut s = stack(vec![resource("Api", FN, Status::InSync, vec![])]);
        s.add_code_drift("Api", "Api-local", "old=", "new=");
        assert_eq!(s.resources[0].status, Status::Modified);
        assert!(s.resources[0].differences[0].by_code_hash);
        assert!(s.render()[2].contains("(Lambda's CodeSha256 vs the stack's code key)"));
        // the emulator already compared code: no second difference
        s.add_code_drift("Api", "Api-local", "old=", "new=");
        assert_eq!(s.resources[0].differences.len(), 1);
        let mut emulated = stack(vec![resource(
            "Api",
            FN,
            Status::Modified,
            vec![Difference::new("/Code", "old=", "new=", "NOT_EQUAL")],
        )]);
        emulated.add_code_drift("Api", "Api-local", "old=", "new=");
        assert!(!emulated.resources[0].differences[0].by_code_hash);
        // a deleted function stays deleted; one left out of the answer is added
        let mut deleted = stack(vec![resource("Api", FN, Status::Deleted, vec![])]);
        deleted.add_code_drift("Api", "Api-local", "old=", "new=");
        assert!(deleted.resources[0].differences.is_empty());
        let mut left_out = stack(vec![resource("B", FN, Status::InSync, vec![])]);
        left_out.left_out.insert("A".into(), FN.into());
        left_out.add_code_drift("A", "A-local", "old=", "new=");
        assert_eq!(left_out.resources[0].logical_id, "A");
        assert!(left_out.left_out.is_empty());
    }

    #[test]
    fn a_failed_detection_with_nothing_drifted_is_incomplete_not_in_sync() {
        let mut s = stack(vec![
            resource("Api", FN, Status::InSync, vec![]),
            resource("Q", "AWS::SQS::Queue", Status::Unknown, vec![]),
        ]);
        s.failure = Some("Failed to detect drift on resources [Q]".into());
        assert_eq!(s.verdict(), Verdict::Incomplete);
        assert_eq!(
            exit_code(&[s.clone()]),
            0,
            "the caller turns it into an error"
        );
        let lines = s.render();
        assert!(lines[0].contains("DETECTION INCOMPLETE"), "{lines:?}");
        assert!(
            lines[1].contains("detection failed: Failed to detect"),
            "{lines:?}"
        );
        assert!(lines[2].contains("? Q (AWS::SQS::Queue)"), "{lines:?}");
    }

    #[test]
    fn the_expected_code_hash_comes_from_the_content_addressed_key() {
        let hex = "ab".repeat(32);
        let function = json!({"Properties": {"Code": {"S3Bucket": "b", "S3Key": {"Ref": "ApiFunctionCodeKey"}}}});
        let params = [(
            "ApiFunctionCodeKey".to_string(),
            format!("assets/{hex}.zip"),
        )]
        .into();
        let want = base64::engine::general_purpose::STANDARD.encode([0xab; 32]);
        assert_eq!(expected_code_sha256(&function, &params), Some(want.clone()));
        let literal = json!({"Properties": {"Code": {"S3Key": format!("assets/{hex}.zip")}}});
        assert_eq!(expected_code_sha256(&literal, &BTreeMap::new()), Some(want));
        for key in [
            "other/x.zip",
            "assets/abc.zip",
            &format!("assets/{}.zip", "zz".repeat(32)),
        ] {
            let f = json!({"Properties": {"Code": {"S3Key": key}}});
            assert_eq!(expected_code_sha256(&f, &BTreeMap::new()), None, "{key}");
        }
        let inline = json!({"Properties": {"Code": {"ZipFile": "x"}}});
        assert_eq!(expected_code_sha256(&inline, &BTreeMap::new()), None);
    }
}
