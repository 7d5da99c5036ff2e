//! Every shipped stage loads; every file under `tests/bad-stages/` fails with the error its
//! `# expect:` lines give (the first one is `line:column: key.path: message`).

use std::path::Path;

use infra::stage;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn shipped_stages_load() {
    let stages = stage::load_all(root()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stages.len(), 4);
    let local = &stages[0];
    assert!(local.is_local() && local.account.is_none());
    assert_eq!(local.local.as_ref().unwrap().emulator_port, 5000);
    let prod = &stages[3];
    assert_eq!(prod.account.as_ref().unwrap().0, "333333333333");
    assert!(prod.tracing);
    assert_eq!(prod.services.mips_cache.codes_to_omit, ["999999"]);
}

#[test]
fn bad_stage_files_name_file_line_column_and_key() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-stages");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let stage_name = text
            .lines()
            .find_map(|l| l.strip_prefix("# stage: "))
            .unwrap_or("local");
        let expects: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(!expects.is_empty(), "{name} has no `# expect:` line");
        let file = format!("environments/{name}");
        let err = match stage::parse(stage_name, &file, &text) {
            Ok(_) => panic!("{name} loaded, but should fail with: {}", expects[0]),
            Err(e) => e.to_string(),
        };
        assert!(
            err.starts_with(&format!("{file}:{}", expects[0])),
            "{name}:\n  got      {err}\n  expected {file}:{}",
            expects[0]
        );
        for more in &expects[1..] {
            assert!(err.contains(more), "{name}: `{err}` lacks `{more}`");
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} fixtures");
}

#[test]
fn an_empty_stage_file_takes_the_defaults() {
    let s = stage::parse("local", "environments/local.yaml", "# nothing\n").unwrap();
    assert_eq!(s.log_retention_days.0, 30);
    assert_eq!(s.region.0, "us-east-1");
    assert_eq!(s.services.canvas_data.schedule.0, "rate(3 hours)");
}
