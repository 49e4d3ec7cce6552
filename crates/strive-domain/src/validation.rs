//! Field-level validation errors and the `Valid<T>` proof that a value passed its rules.

use serde::Serialize;

/// One rule one field broke, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every rule an input broke (not just the first), so a form can show them all at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct ValidationError {
    pub fields: Vec<FieldError>,
}

impl ValidationError {
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        Self {
            fields: vec![FieldError {
                field: field.to_string(),
                message: message.into(),
            }],
        }
    }

    fn summary(&self) -> String {
        match self.fields.as_slice() {
            [] => "invalid input".to_string(),
            [one] => format!("{}: {}", one.field, one.message),
            [first, rest @ ..] => format!(
                "{}: {} (and {} more)",
                first.field,
                first.message,
                rest.len()
            ),
        }
    }
}

/// Collects field errors while checking an input, then yields the checked value or all errors.
#[derive(Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `parse` on `value` and records its error under `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(field, e.to_string());
                None
            }
        }
    }

    /// Like [`check`](Self::check) for an optional input: `None` stays `None`.
    pub fn check_opt<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Option<Result<T, E>>,
    ) -> Option<T> {
        result.and_then(|r| self.check(field, r))
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// The checked value when nothing failed. `value` only runs then, so it can use `?` on the
    /// parts it checked (they are all `Some`).
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ValidationError> {
        if self.errors.is_empty() {
            value().ok_or_else(ValidationError::default)
        } else {
            Err(ValidationError {
                fields: self.errors,
            })
        }
    }
}

/// A value that passed its validation rules. Only this crate can make one, so a function that
/// takes `Valid<T>` cannot be handed unchecked input.
#[derive(Clone, Debug, PartialEq)]
pub struct Valid<T>(T);

impl<T> Valid<T> {
    pub(crate) fn new(value: T) -> Self {
        Valid(value)
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Valid<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
