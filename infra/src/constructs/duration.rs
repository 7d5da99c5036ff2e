//! Durations in props are [`std::time::Duration`]; these constructors read like CDK's
//! `Duration.days(30)`, and [`whole`] converts one into the unit a CloudFormation property takes,
//! refusing what is not a whole number of that unit (CloudFormation would round or reject it).

use std::time::Duration;

pub const fn seconds(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub const fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

pub const fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

pub const fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// `d` as a whole number of `unit`s, or `None` when it is not one (or does not fit a `u32`).
pub fn whole(d: Duration, unit: Duration) -> Option<u32> {
    let (d, unit) = (d.as_nanos(), unit.as_nanos());
    if unit == 0 || d % unit != 0 {
        return None;
    }
    u32::try_from(d / unit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_units_only() {
        assert_eq!(whole(days(30), days(1)), Some(30));
        assert_eq!(whole(hours(36), days(1)), None);
        assert_eq!(whole(minutes(5), seconds(1)), Some(300));
        assert_eq!(whole(Duration::from_millis(1500), seconds(1)), None);
        assert_eq!(whole(seconds(0), seconds(1)), Some(0));
    }
}
