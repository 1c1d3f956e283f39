//! Errors of the fastjson crate: where parsing stopped (byte offset, line, column) and why, or
//! why a value could not be (de)serialized into the caller's type.

/// Why parsing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxKind {
    /// The input ended inside a value.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A character that cannot start or continue the current construct.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// A number that is not a JSON number or does not fit i64/u64/f64.
    #[error("invalid number")]
    InvalidNumber,
    /// A bad backslash escape in a string.
    #[error("invalid escape sequence")]
    InvalidEscape,
    /// A `\u` escape that does not form a valid character (lone surrogate).
    #[error("invalid unicode escape")]
    InvalidUnicode,
    /// A raw control character (below U+0020) inside a string.
    #[error("control character in string")]
    ControlCharacter,
    /// The input is not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// Something other than whitespace after the top-level value.
    #[error("trailing characters after the value")]
    TrailingCharacters,
    /// Arrays/objects nested deeper than the limit (guards the stack against hostile input).
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// An object key that is neither a string, a number nor an object.
    #[error("object key must be a string, a number or an object")]
    InvalidKey,
}

/// A syntax error and where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at line {line} column {column} (byte {offset})")]
pub struct SyntaxError {
    /// What went wrong.
    pub kind: SyntaxKind,
    /// Byte offset into the input.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in bytes).
    pub column: usize,
}

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not in the fastjson dialect.
    #[error("fastjson syntax error: {0}")]
    Syntax(#[from] SyntaxError),
    /// The text parsed but does not fit the requested type.
    #[error("fastjson value does not match the target type: {0}")]
    Data(#[source] serde_json::Error),
    /// A value could not be serialized (e.g. an array used as a map key).
    #[error("cannot serialize: {0}")]
    Serialize(String),
}

impl serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Serialize(msg.to_string())
    }
}
