//! Checks of request inputs against the limits, one set for every route. An input from the
//! query string that fails is `invalid_query`; one from a JSON body is `bad_request`.

use super::error::{ApiError, ErrorCode};

/// Where an input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Query,
    Body,
}

impl Origin {
    fn error(self, message: String) -> ApiError {
        let code = match self {
            Origin::Query => ErrorCode::InvalidQuery,
            Origin::Body => ErrorCode::BadRequest,
        };
        ApiError::new(code, message)
    }
}

/// `value` trimmed: not empty and at most `max_chars` characters.
pub fn text<'a>(
    from: Origin,
    field: &str,
    value: &'a str,
    max_chars: usize,
) -> Result<&'a str, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(from.error(format!("`{field}` must not be empty")));
    }
    if value.chars().count() > max_chars {
        return Err(from.error(format!("`{field}` is longer than {max_chars} characters")));
    }
    Ok(value)
}

/// A `limit`: `default` when absent, otherwise within 1..=`max`.
pub fn limit(
    from: Origin,
    value: Option<usize>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default.min(max)),
        Some(l) if (1..=max).contains(&l) => Ok(l),
        Some(_) => Err(from.error(format!("`limit` must be between 1 and {max}"))),
    }
}

/// A number within `range` (`field` names it in the error).
pub fn within<T: PartialOrd + std::fmt::Display + Copy>(
    from: Origin,
    field: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ApiError> {
    if range.contains(&value) {
        return Ok(value);
    }
    Err(from.error(format!(
        "`{field}` must be between {} and {}",
        range.start(),
        range.end()
    )))
}
