//! When a deploy or destroy may proceed: never silently without a terminal, and for `prod` only
//! when the operator names the stage.

use std::io::{BufRead, Write};

use anyhow::{bail, Result};

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Proceed,
    /// Ask on the terminal; `Some(stage)` means the answer must be the stage's name.
    Ask(Option<String>),
    Refuse(String),
}

pub fn decide(stage: &str, yes: bool, confirm: Option<&str>, interactive: bool) -> Decision {
    if let Some(c) = confirm {
        if c != stage {
            return Decision::Refuse(format!("--confirm {c} does not match the stage `{stage}`"));
        }
    }
    let guarded = stage == "prod";
    match (guarded, yes, confirm.is_some(), interactive) {
        (false, true, _, _) | (true, true, true, _) => Decision::Proceed,
        (false, false, _, true) => Decision::Ask(None),
        (true, _, _, true) => Decision::Ask(Some(stage.into())),
        (false, false, _, false) => Decision::Refuse("no terminal to confirm on: pass --yes to proceed".into()),
        (true, _, _, false) => Decision::Refuse(format!(
            "`{stage}` needs the stage named: pass --yes --confirm {stage} (or run it in a terminal and type it)"
        )),
    }
}

/// The refusals that are certain before any work: a `--confirm` that names another stage, and
/// `prod` without the stage named and no terminal to type it on. Other stages wait for the plan,
/// since a deploy with no changes needs no confirmation.
pub fn refusal_up_front(
    stage: &str,
    yes: bool,
    confirm: Option<&str>,
    interactive: bool,
) -> Option<String> {
    let mismatch = confirm.is_some_and(|c| c != stage);
    if !mismatch && stage != "prod" {
        return None;
    }
    match decide(stage, yes, confirm, interactive) {
        Decision::Refuse(why) => Some(why),
        _ => None,
    }
}

/// [`refusal_up_front`] for this terminal, as an error.
pub fn check_up_front(stage: &str, yes: bool, confirm: Option<&str>) -> Result<()> {
    match refusal_up_front(stage, yes, confirm, crate::ui::is_interactive()) {
        Some(why) => bail!("{why}; nothing was built or changed"),
        None => Ok(()),
    }
}

/// Apply the decision; `what` says what is about to happen.
pub fn confirm(stage: &str, yes: bool, confirm: Option<&str>, what: &str) -> Result<()> {
    match decide(stage, yes, confirm, crate::ui::is_interactive()) {
        Decision::Proceed => Ok(()),
        Decision::Refuse(why) => bail!("{why}"),
        Decision::Ask(expected) => {
            let prompt = match &expected {
                Some(s) => format!("{what}? Type the stage name `{s}` to proceed: "),
                None => format!("{what}? [y/N] "),
            };
            print!("{prompt}");
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            let answer = answer.trim();
            let ok = match &expected {
                Some(s) => answer == s,
                None => matches!(answer, "y" | "Y" | "yes"),
            };
            if !ok {
                bail!("not confirmed; nothing was changed");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_is_enough_outside_prod() {
        assert_eq!(decide("dev", true, None, false), Decision::Proceed);
        assert_eq!(decide("dev", false, None, true), Decision::Ask(None));
    }

    #[test]
    fn no_terminal_and_no_yes_is_an_error_never_a_silent_yes() {
        assert!(
            matches!(decide("qa", false, None, false), Decision::Refuse(m) if m.contains("--yes"))
        );
    }

    #[test]
    fn certain_refusals_come_before_any_work() {
        assert!(refusal_up_front("prod", true, None, false).is_some());
        assert!(refusal_up_front("dev", true, Some("prod"), false).is_some());
        assert_eq!(refusal_up_front("prod", true, Some("prod"), false), None);
        assert_eq!(refusal_up_front("prod", true, None, true), None);
        // A dev deploy without --yes may turn out to have nothing to confirm.
        assert_eq!(refusal_up_front("dev", false, None, false), None);
    }

    #[test]
    fn prod_needs_the_stage_named() {
        assert!(
            matches!(decide("prod", true, None, false), Decision::Refuse(m) if m.contains("--confirm prod"))
        );
        assert_eq!(
            decide("prod", true, None, true),
            Decision::Ask(Some("prod".into()))
        );
        assert_eq!(decide("prod", true, Some("prod"), false), Decision::Proceed);
        assert!(
            matches!(decide("prod", true, Some("qa"), false), Decision::Refuse(m) if m.contains("does not match"))
        );
        assert_eq!(
            decide("prod", false, Some("prod"), true),
            Decision::Ask(Some("prod".into()))
        );
    }
}
