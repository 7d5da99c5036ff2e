//! Transform rules on data shaped like a real chart of accounts.

use super::*;

fn acct(seg: i64, code: &str, status: &str, title: &str) -> Account {
    Account {
        segment_id: seg,
        code: code.into(),
        status: status.into(),
        title: title.into(),
    }
}

fn rules() -> Rules {
    Rules {
        codes_to_omit: vec!["999999".into()],
        other_code: "000001".into(),
        no_program_code: "000000".into(),
    }
}

fn chart() -> Vec<Account> {
    vec![
        acct(1, "101300", "A", "Leadership Academy"),
        acct(
            1,
            "1013001",
            "A",
            "Leadership Academy (duplicate on 6 digits)",
        ),
        acct(1, "200100", "A", "Teacher Residency #2 (NYC)!"),
        acct(1, "150000", "I", "Closed Program"),
        acct(1, "15001", "I", "Short Inactive"),
        acct(1, "1234", "A", "Too Short"),
        acct(1, "999999", "A", "Omitted by the stage"),
        acct(2, "300300", "A", "Not the Program segment"),
        acct(1, "000000", "A", "Raw no-program row"),
    ]
}

#[test]
fn finds_the_program_segment_by_title() {
    let segs = vec![
        Segment {
            id: 4,
            title: "Fund".into(),
        },
        Segment {
            id: 1,
            title: "Program".into(),
        },
    ];
    assert_eq!(program_segment(&segs), Some(1));
    assert_eq!(program_segment(&segs[..1]), None);
}

#[test]
fn default_options_keep_pseudo_codes_then_active_six_digit_program_codes() {
    let out = program_accounts(&chart(), 1, &Options::default(), &rules());
    let codes: Vec<&str> = out.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["000001", "000000", "101300", "200100"]);
    assert_eq!(out[0].1, "Other");
    assert_eq!(out[1].1, "No Program");
    assert_eq!(
        out[2].1, "Leadership Academy",
        "first one wins on the same 6 digits"
    );
    assert_eq!(
        out[3].1, "Teacher Residency 2 NYC",
        "characters outside the allowed set are removed"
    );
}

#[test]
fn inactive_codes_shown_allow_five_digits() {
    let opts = Options {
        show_inactive_codes: true,
        ..Options::default()
    };
    let codes: Vec<String> = program_accounts(&chart(), 1, &opts, &rules())
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(
        codes,
        ["000001", "000000", "101300", "150000", "15001", "200100"]
    );
}

#[test]
fn limit_keeps_the_head_priority_then_other_then_no_program_then_the_rest() {
    let opts = |limit| Options {
        priority_codes: vec!["200100".into()],
        limit: Some(limit),
        ..Options::default()
    };
    let codes = |limit| -> Vec<String> {
        program_accounts(&chart(), 1, &opts(limit), &rules())
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    };
    assert_eq!(codes(9), ["200100", "000001", "000000", "101300"]);
    assert_eq!(codes(3), ["200100", "000001", "000000"]);
    assert_eq!(codes(2), ["200100", "000001"]);
}

#[test]
fn priority_codes_come_first_in_the_order_given_and_limit_cuts_the_end() {
    let opts = Options {
        priority_codes: vec!["200100".into(), "404404".into(), "101300".into()],
        show_other_code: false,
        hide_no_program_code: true,
        limit: Some(1),
        ..Options::default()
    };
    let out = program_accounts(&chart(), 1, &opts, &rules());
    assert_eq!(
        out,
        [("200100".to_string(), "Teacher Residency 2 NYC".to_string())]
    );
}

#[test]
fn names_keep_the_allowed_punctuation() {
    assert_eq!(
        clean_name(" a.b:c/d=e+f-g@h (i) [j] {k} 'l' \"m\" "),
        "a.b:c/d=e+f-g@h i j k l m"
    );
    assert_eq!(clean_name("Écoles 21"), "Écoles 21");
}

#[test]
fn tags_cut_names_to_245_and_codes_to_6() {
    let long = "x".repeat(300);
    let t = tags(&[
        ("1234567".into(), long),
        ("101300".into(), "Leadership".into()),
    ]);
    assert_eq!(t[0].len(), 245 + 3 + 6);
    assert!(t[0].ends_with(" / 123456"));
    assert_eq!(t[1], "Leadership / 101300");
}

#[test]
fn accounts_json_keeps_the_list_order() {
    let list = vec![
        ("200100".to_string(), "B \"quoted\"".to_string()),
        ("000001".to_string(), "Other".to_string()),
    ];
    let json = accounts_json(&list);
    assert_eq!(json, r#"{"200100":"B \"quoted\"","000001":"Other"}"#);
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
}
