//! Timestamps: Galaxy stores times as integer milliseconds since the Unix epoch (portable across
//! SQLite and PostgreSQL, cheap to index) and shows them in UTC. Pure, so the browser formats the
//! same way the server does.

/// Formats `ms` (milliseconds since the Unix epoch) as `YYYY-MM-DD HH:MM UTC`.
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// The UTC calendar month of `ms` (`"2026-12"`) and when the next one starts (ms).
pub fn month_of(ms: i64) -> (String, i64) {
    let days = ms.div_euclid(1000).div_euclid(86_400);
    let (y, m, _) = civil_from_days(days);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (
        format!("{y:04}-{m:02}"),
        days_from_civil(ny, nm, 1) * 86_400_000,
    )
}

/// A `YYYY-MM-DD` date (UTC) as the ms its day starts, or `None` if it is not one.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // 2026-02-31 is not a date: it must come back as itself.
    (civil_from_days(days) == (y, m, d)).then_some(days * 86_400_000)
}

/// When the UTC month of `ms` started (ms).
pub fn month_start(ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(ms.div_euclid(1000).div_euclid(86_400));
    days_from_civil(y, m, 1) * 86_400_000
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_to_the_start_of_their_day() {
        assert_eq!(
            parse_date("2026-12-03").map(format_utc),
            Some("2026-12-03 00:00 UTC".into())
        );
        assert_eq!(
            parse_date("2024-02-29").map(format_utc),
            Some("2024-02-29 00:00 UTC".into())
        );
        for bad in [
            "",
            "2026-02-30",
            "2026-13-01",
            "26-1-1x",
            "1969-12-31",
            "abc",
            "2026-12",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn months_and_their_ends() {
        // 2026-12-03T10:51:46Z
        assert_eq!(
            month_of(1_796_295_106_000),
            ("2026-12".into(), 1_798_761_600_000)
        );
        assert_eq!(format_utc(1_798_761_600_000), "2027-01-01 00:00 UTC");
        assert_eq!(
            format_utc(month_start(1_796_295_106_000)),
            "2026-12-01 00:00 UTC"
        );
        // February of a leap year, and the last millisecond of a month.
        let (feb, next) = month_of(1_709_251_199_999); // 2024-02-29T23:59:59.999Z
        assert_eq!(
            (feb.as_str(), format_utc(next).as_str()),
            ("2024-02", "2024-03-01 00:00 UTC")
        );
        assert_eq!(month_of(next).0, "2024-03");
        for days in [-800_000, -1, 0, 59, 365, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        // 2026-11-25T16:33:18Z
        assert_eq!(format_utc(1_795_624_398_000), "2026-11-25 16:33 UTC");
        // Leap day.
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00 UTC");
        // Before the epoch.
        assert_eq!(format_utc(-1), "1969-12-31 23:59 UTC");
    }
}
