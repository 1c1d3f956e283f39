//! The compiled form of a selector: the expression tree RocketMQ's `SelectorParser` builds,
//! with BETWEEN already rewritten to its AND/OR of comparisons and `<>` to NOT of `=`, as Java
//! does, so that evaluation follows the same three-valued rules.

use std::fmt;

/// A literal of the grammar.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'`.
    Str(String),
    /// A decimal literal within the 32-bit range (Java `Integer`).
    Int(i32),
    /// A decimal literal beyond the 32-bit range (Java `Long`).
    Long(i64),
    /// A floating literal (Java `Double`).
    Double(f64),
    /// TRUE or FALSE.
    Bool(bool),
    /// NULL.
    Null,
}

/// Ordering comparisons (and `=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CompareOp {
    fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        }
    }
}

/// The 5.x string tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    /// CONTAINS
    Contains,
    /// STARTSWITH
    StartsWith,
    /// ENDSWITH
    EndsWith,
}

/// A node of the expression tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant.
    Literal(Literal),
    /// A message property, by name (case-sensitive).
    Property(String),
    /// Unary minus.
    Negate(Box<Expr>),
    /// A property used where a boolean is expected (Java's boolean cast).
    BoolCast(Box<Expr>),
    /// NOT.
    Not(Box<Expr>),
    /// AND.
    And(Box<Expr>, Box<Expr>),
    /// OR.
    Or(Box<Expr>, Box<Expr>),
    /// `=`, `<`, `<=`, `>`, `>=`.
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    /// `IS NULL` (Java builds it as an equality with NULL; `IS NOT NULL` is its NOT).
    IsNull(Box<Expr>),
    /// `[NOT] IN ('a', 'b')` on a property.
    In {
        /// The property.
        property: String,
        /// The listed strings.
        list: Vec<String>,
        /// NOT IN.
        negated: bool,
    },
    /// `[NOT] CONTAINS | STARTSWITH | ENDSWITH 'text'`.
    Text {
        /// Which test.
        op: TextOp,
        /// The NOT form.
        negated: bool,
        /// The tested operand.
        operand: Box<Expr>,
        /// The literal searched for.
        pattern: String,
    },
}

impl Expr {
    /// True for the nodes Java types as `BooleanExpression` (including TRUE, FALSE, NULL).
    pub fn is_boolean(&self) -> bool {
        match self {
            Expr::Literal(l) => matches!(l, Literal::Bool(_) | Literal::Null),
            Expr::Property(_) | Expr::Negate(_) => false,
            _ => true,
        }
    }

    /// Depth of the tree (a leaf is 1).
    pub fn depth(&self) -> usize {
        match self {
            Expr::Literal(_) | Expr::Property(_) | Expr::In { .. } => 1,
            Expr::Negate(e) | Expr::BoolCast(e) | Expr::Not(e) | Expr::IsNull(e) => 1 + e.depth(),
            Expr::Text { operand, .. } => 1 + operand.depth(),
            Expr::And(l, r) | Expr::Or(l, r) | Expr::Compare(_, l, r) => {
                1 + l.depth().max(r.depth())
            }
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => f.write_str(&quote(s)),
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Long(v) => write!(f, "{v}"),
            Literal::Double(v) => write!(f, "{v:?}"),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Null => f.write_str("NULL"),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(l) => write!(f, "{l}"),
            Expr::Property(name) => f.write_str(name),
            Expr::Negate(e) => write!(f, "(- {e})"),
            Expr::BoolCast(e) => write!(f, "{e}"),
            Expr::Not(e) => write!(f, "(NOT {e})"),
            Expr::And(l, r) => write!(f, "({l} AND {r})"),
            Expr::Or(l, r) => write!(f, "({l} OR {r})"),
            Expr::Compare(op, l, r) => write!(f, "({l} {} {r})", op.symbol()),
            Expr::IsNull(e) => write!(f, "({e} IS NULL)"),
            Expr::In {
                property,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(|s| quote(s)).collect();
                let not = if *negated { "NOT " } else { "" };
                write!(f, "({property} {not}IN ({}))", items.join(", "))
            }
            Expr::Text {
                op,
                negated,
                operand,
                pattern,
            } => {
                let not = if *negated { "NOT " } else { "" };
                let word = format!("{op:?}").to_uppercase();
                write!(f, "({operand} {not}{word} {})", quote(pattern))
            }
        }
    }
}
