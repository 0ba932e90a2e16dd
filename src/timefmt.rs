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
