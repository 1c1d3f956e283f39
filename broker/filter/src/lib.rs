//! RocketMQ SQL92 message selectors (`MessageSelector.bySql`): the subset of SQL92 the
//! `rocketmq-filter` module accepts, compiled once per subscription and evaluated against each
//! candidate message's properties (user properties plus system ones such as `TAGS`, `KEYS`).
//!
//! Grammar, literal typing, comparison conversions and three-valued logic follow RocketMQ's
//! `SelectorParser` and `ComparisonExpression` (see [`parser`] and [`value`] for the rules and
//! the two deliberate differences: trailing tokens and hexadecimal floating strings).
//!
//! ```
//! use ferrimq_filter::Selector;
//! let s = Selector::compile("a BETWEEN 1 AND 3 AND TAGS IN ('x', 'y')").unwrap();
//! let props = [("a", "3"), ("TAGS", "y")];
//! assert!(s.matches(&props[..]));
//! assert!(!s.matches(&[("a", "4"), ("TAGS", "y")][..]));
//! ```

pub mod ast;
pub mod error;
pub mod eval;
pub mod lexer;
pub mod parser;
pub mod value;

pub use error::{EvalError, ParseError, ParseErrorKind};
pub use eval::PropertySource;

/// Expression type of SQL92 subscriptions (`ExpressionType.SQL92`).
pub const SQL92: &str = "SQL92";
/// Expression type of tag subscriptions (`ExpressionType.TAG`).
pub const TAG: &str = "TAG";

/// Java's `ExpressionType.isTagType`: no type, an empty one, or `TAG`.
pub fn is_tag_type(expression_type: Option<&str>) -> bool {
    expression_type.is_none_or(|t| t.is_empty() || t == TAG)
}

/// A compiled SQL92 selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    source: String,
    root: ast::Expr,
}

impl Selector {
    /// Compiles `expression`; the error carries the byte position at fault.
    pub fn compile(expression: &str) -> Result<Selector, ParseError> {
        Ok(Selector {
            source: expression.to_owned(),
            root: parser::parse(expression)?,
        })
    }

    /// The expression as the client wrote it.
    pub fn expression(&self) -> &str {
        &self.source
    }

    /// The compiled tree.
    pub fn root(&self) -> &ast::Expr {
        &self.root
    }

    /// The three-valued result for one message: `Some(true)`, `Some(false)` or unknown.
    pub fn evaluate<P: PropertySource + ?Sized>(
        &self,
        properties: &P,
    ) -> Result<Option<bool>, EvalError> {
        eval::truth(&self.root, properties)
    }

    /// True only when the selector is definitely true for the message; unknown and evaluation
    /// errors (e.g. a non-numeric string compared with a number) do not match, as in RocketMQ.
    pub fn matches<P: PropertySource + ?Sized>(&self, properties: &P) -> bool {
        matches!(self.evaluate(properties), Ok(Some(true)))
    }
}

impl std::str::FromStr for Selector {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::compile(s)
    }
}
