//! Errors of the two phases: [`ParseError`] when an expression does not compile (with the byte
//! position in the expression), [`EvalError`] when a compiled expression cannot be evaluated
//! against one message (RocketMQ treats such a message as not matching).

/// An expression that does not compile: what went wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Invalid MessageSelector: {kind} at position {position}")]
pub struct ParseError {
    /// Byte offset in the expression of the token (or character) at fault.
    pub position: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(position: usize, kind: ParseErrorKind) -> Self {
        ParseError { position, kind }
    }
}

/// The reasons an expression does not compile. Lexical and grammar errors mirror the JavaCC
/// grammar of RocketMQ's `SelectorParser`; the type errors mirror the checks its expression
/// factories make while building the tree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseErrorKind {
    /// A character no token starts with.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// A `'` literal without its closing quote.
    #[error("unterminated string literal")]
    UnterminatedString,
    /// A `/*` comment without `*/`.
    #[error("unterminated comment")]
    UnterminatedComment,
    /// An integer literal beyond the 64-bit range.
    #[error("integer literal {0} is out of range")]
    IntegerOutOfRange(String),
    /// A floating literal that is infinite, or zero (RocketMQ rejects literals below
    /// `Double.MIN_VALUE`, which includes `0.0`).
    #[error("floating literal {0} is out of range")]
    FloatOutOfRange(String),
    /// A token where the grammar wants something else.
    #[error("encountered {found}, expected {expected}")]
    Unexpected {
        /// The token found.
        found: String,
        /// What the grammar accepts there.
        expected: &'static str,
    },
    /// The expression ended where the grammar wants more.
    #[error("unexpected end of expression, expected {expected}")]
    UnexpectedEnd {
        /// What the grammar accepts there.
        expected: &'static str,
    },
    /// Tokens after a complete expression.
    #[error("unexpected {0} after the end of the expression")]
    TrailingInput(String),
    /// An operand of AND, OR, NOT or the whole selector that cannot be a boolean.
    #[error("expression will not result in a boolean value: {0}")]
    NotBoolean(String),
    /// An operand of `<`, `<=`, `>`, `>=` or BETWEEN that is a string, boolean or NULL literal,
    /// or a boolean expression.
    #[error("value '{0}' cannot be compared")]
    NotComparable(String),
    /// `NULL` as an operand of `=` or `<>` (use IS NULL).
    #[error("'NULL' cannot be compared, use IS [NOT] NULL")]
    NullEquality,
    /// A boolean literal compared with a non-boolean literal.
    #[error("'{0}' cannot be compared with '{1}'")]
    IncompatibleEquality(String, String),
    /// A NULL bound of BETWEEN.
    #[error("illegal values of between, values can not be null")]
    BetweenNull,
    /// BETWEEN bounds in the wrong order.
    #[error(
        "illegal values of between, left value ({0}) must be less than or equal to right value ({1})"
    )]
    BetweenOrder(String, String),
    /// Literal BETWEEN bounds that cannot be compared with each other.
    #[error("illegal values of between: {0}")]
    BetweenBounds(String),
    /// `IN` applied to something else than a property.
    #[error("expected a property for IN expression, got: {0}")]
    InNeedsProperty(String),
    /// Parentheses or NOT/sign prefixes nested deeper than the parser allows.
    #[error("expression nested deeper than {0} levels")]
    TooDeep(usize),
}

/// Why one message could not be evaluated. RocketMQ's broker catches the exception and treats the
/// message as not matching; [`crate::Selector::matches`] does the same.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A string that had to be read as a number is not one (e.g. `a > 3` with `a = 'x'`).
    #[error("cannot convert {value:?} to {target}")]
    NotANumber {
        /// The string value.
        value: String,
        /// The Java type it had to become (`Integer`, `Long`, `Double`).
        target: &'static str,
    },
    /// A boolean on the left of `=` compared with a string (Java fails with a
    /// `ClassCastException` there).
    #[error("cannot compare boolean {0} with string {1:?}")]
    BooleanWithString(bool, String),
}
