//! IndexFile names: the creation time as `yyyyMMddHHmmssSSS` (17 digits).
//!
//! RocketMQ formats the JVM's local time; ferrimq formats UTC (brokers run in containers whose
//! zone is UTC). Names only need to be unique and to sort by creation time, which both do.

/// Formats milliseconds since the Unix epoch (UTC) as `yyyyMMddHHmmssSSS`.
pub fn format_millis(ms: i64) -> String {
    let ms = ms.max(0);
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// True when `name` has the shape of an index file name (17 ASCII digits).
pub fn is_index_name(name: &str) -> bool {
    name.len() == 17 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Hour of day (0..24, UTC) of milliseconds since the epoch; cleanup compares it with
/// `deleteWhen`.
pub fn hour_of_day(ms: i64) -> u32 {
    (ms.max(0) / 1000 % 86_400 / 3600) as u32
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_millis(0), "19700101000000000");
        // 2024-02-29T13:45:07.089Z
        assert_eq!(format_millis(1_709_214_307_089), "20240229134507089");
        // 2000-12-31T23:59:59.999Z
        assert_eq!(format_millis(978_307_199_999), "20001231235959999");
        assert!(is_index_name("20240229134507089"));
        assert!(!is_index_name("2024022913450708"));
        assert_eq!(hour_of_day(1_709_214_307_089), 13);
    }
}
