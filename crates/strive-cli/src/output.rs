//! Printing: aligned tables for people, JSON for scripts, errors as one readable paragraph.

use serde::Serialize;

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints `rows` under `headers`, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Money in cents as dollars with thousands separators.
pub fn dollars(cents: i64) -> String {
    let whole = (cents.abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}${grouped}.{:02}", cents.abs() % 100)
}

/// The last 8 characters of an id: enough to name it in other commands (UUIDv7s begin with
/// their creation time, so their beginnings look alike).
pub fn short(id: impl ToString) -> String {
    let id = id.to_string();
    id[id.len().saturating_sub(8)..].to_string()
}

pub fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// An RFC 3339 instant as people read it: "2026-11-25 16:46 UTC (3 min ago)".
pub fn when(rfc3339: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return rfc3339.to_string();
    };
    let t = t.with_timezone(&chrono::Utc);
    let secs = (chrono::Utc::now() - t).num_seconds().max(0);
    let ago = match secs {
        0..60 => "just now".to_string(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86400),
    };
    format!("{} ({ago})", t.format("%Y-%m-%d %H:%M UTC"))
}

pub fn error(e: &anyhow::Error) {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  because: {cause}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_group_thousands_and_keep_cents() {
        assert_eq!(dollars(0), "$0.00");
        assert_eq!(dollars(123456789), "$1,234,567.89");
        assert_eq!(dollars(-100050), "-$1,000.50");
        assert_eq!(dollars(99999), "$999.99");
    }
}
