//! Validated values: each constructor is the one place its rule is written.

use serde::{Deserialize, Serialize};

/// Why a value was refused; the message is shown to the user next to the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// Trimmed text of `MIN..=MAX` characters (Unicode scalar values, not bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let n = s.chars().count();
        if n < MIN {
            return Err(if n == 0 {
                invalid("is required")
            } else {
                invalid(format!("must be at least {MIN} characters"))
            });
        }
        if n > MAX {
            return Err(invalid(format!("must be at most {MAX} characters")));
        }
        if s.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(invalid("must not contain control characters"));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Optional free text: blank means absent.
pub fn optional_text<const MAX: usize>(raw: &str) -> Result<Option<Text<0, MAX>>, Invalid> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        Text::<0, MAX>::parse(raw).map(Some)
    }
}

/// An email address, lower-cased. Deliberately modest: one `@`, a dotted domain, no spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_lowercase();
        let bad = || invalid(format!("'{}' is not a valid email address", raw.trim()));
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(bad());
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number as people type it: digits with optional `+`, spaces, dots, dashes, parentheses;
/// 7 to 15 digits (E.164's maximum).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let allowed = |c: char| c.is_ascii_digit() || " +-.()".contains(c);
        let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
        if s.is_empty() || !s.chars().all(allowed) || !(7..=15).contains(&digits) {
            return Err(invalid(format!(
                "'{s}' is not a valid phone number (7 to 15 digits, optionally with + ( ) - . and spaces)"
            )));
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount of money in cents: exact, never a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(i64);

/// The platform's ceiling for a price: one billion dollars.
pub const MAX_PRICE_CENTS: i64 = 1_000_000_000 * 100;

impl Cents {
    /// A strictly positive amount no larger than [`MAX_PRICE_CENTS`].
    pub fn positive(cents: i64) -> Result<Self, Invalid> {
        if cents <= 0 {
            Err(invalid("must be greater than zero"))
        } else if cents > MAX_PRICE_CENTS {
            Err(invalid("must be at most $1,000,000,000"))
        } else {
            Ok(Self(cents))
        }
    }
    pub fn get(&self) -> i64 {
        self.0
    }
}

/// A percentage 0..=100.
pub fn percent(value: i32) -> Result<i32, Invalid> {
    if (0..=100).contains(&value) {
        Ok(value)
    } else {
        Err(invalid("must be between 0 and 100"))
    }
}

/// Tags: at most 20, each 1–50 characters, trimmed, duplicates dropped.
pub fn tags(raw: &[String]) -> Result<Vec<String>, Invalid> {
    if raw.len() > 20 {
        return Err(invalid("at most 20 tags"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for t in raw {
        let t = Text::<1, 50>::parse(t)
            .map_err(|e| invalid(format!("tag '{}' {}", t.trim(), e.0)))?
            .into_string();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bounds_are_enforced_on_trimmed_characters() {
        assert_eq!(Text::<2, 5>::parse("  ab ").unwrap().as_str(), "ab");
        assert_eq!(Text::<2, 5>::parse("").unwrap_err().0, "is required");
        assert!(Text::<2, 5>::parse("a")
            .unwrap_err()
            .0
            .contains("at least 2"));
        assert!(
            Text::<2, 5>::parse("ééééé").is_ok(),
            "counts characters, not bytes"
        );
        assert!(Text::<2, 5>::parse("abcdef")
            .unwrap_err()
            .0
            .contains("at most 5"));
        assert!(Text::<2, 5>::parse("a\u{0}b").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "ann@x",
            "a b@x.com",
            "a@x..com",
            "a@@x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn phones() {
        assert!(Phone::parse("+1 (555) 010-9999").is_ok());
        assert!(Phone::parse("555-12").is_err());
        assert!(Phone::parse("call me").is_err());
    }

    #[test]
    fn money_is_positive_and_bounded() {
        assert!(Cents::positive(1).is_ok());
        assert!(Cents::positive(0).is_err());
        assert!(Cents::positive(-5).is_err());
        assert!(Cents::positive(MAX_PRICE_CENTS).is_ok());
        assert!(Cents::positive(MAX_PRICE_CENTS + 1).is_err());
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        let t = tags(&[" vip ".into(), "vip".into(), "buyer".into()]).unwrap();
        assert_eq!(t, vec!["vip", "buyer"]);
        assert!(tags(&vec!["x".to_string(); 21]).is_err());
        assert!(tags(&["".to_string()]).is_err());
    }
}
