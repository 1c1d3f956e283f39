//! Evaluation of a compiled tree against one message's properties, with RocketMQ's
//! three-valued logic: a comparison involving a missing property is unknown (`None`), AND/OR
//! follow SQL's truth tables, and only a definite `true` selects the message.

use std::cmp::Ordering;

use crate::ast::{CompareOp, Expr, Literal, TextOp};
use crate::error::EvalError;
use crate::value::{Value, compare, compare_doubles, parse_double};

/// Where property values come from (a message's property map).
pub trait PropertySource {
    /// The value of the property `name`, `None` when the message does not carry it.
    fn property(&self, name: &str) -> Option<&str>;
}

impl<S: std::hash::BuildHasher> PropertySource for std::collections::HashMap<String, String, S> {
    fn property(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl PropertySource for std::collections::BTreeMap<String, String> {
    fn property(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl PropertySource for [(&str, &str)] {
    fn property(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// The truth of a boolean node: `Some(true)`, `Some(false)` or unknown (`None`).
pub fn truth<P: PropertySource + ?Sized>(e: &Expr, p: &P) -> Result<Option<bool>, EvalError> {
    Ok(match e {
        Expr::Literal(Literal::Bool(b)) => Some(*b),
        Expr::Literal(_) | Expr::Property(_) | Expr::Negate(_) => match value(e, p)? {
            Some(Value::Bool(b)) => Some(b),
            _ => None,
        },
        Expr::BoolCast(inner) => value(inner, p)?.map(|v| v == Value::Bool(true)),
        Expr::Not(inner) => truth(inner, p)?.map(|b| !b),
        Expr::And(l, r) => {
            let lv = truth(l, p)?;
            if lv == Some(false) {
                return Ok(Some(false));
            }
            let rv = truth(r, p)?;
            if rv == Some(false) {
                Some(false)
            } else {
                lv.and(rv)
            }
        }
        Expr::Or(l, r) => {
            let lv = truth(l, p)?;
            if lv == Some(true) {
                return Ok(Some(true));
            }
            let rv = truth(r, p)?;
            if rv == Some(true) {
                Some(true)
            } else {
                lv.and(rv)
            }
        }
        Expr::Compare(CompareOp::Eq, l, r) => equals(l, r, p)?,
        Expr::Compare(op, l, r) => order(*op, l, r, p)?,
        Expr::IsNull(inner) => Some(value(inner, p)?.is_none()),
        Expr::In {
            property,
            list,
            negated,
        } => p
            .property(property)
            .map(|v| list.iter().any(|item| item == v) != *negated),
        Expr::Text {
            op,
            negated,
            operand,
            pattern,
        } => Some(text(*op, *negated, operand, pattern, p)?),
    })
}

/// The value of any node; boolean nodes give `Value::Bool`.
fn value<'a, P: PropertySource + ?Sized>(
    e: &'a Expr,
    p: &'a P,
) -> Result<Option<Value<'a>>, EvalError> {
    Ok(match e {
        Expr::Literal(l) => Value::of_literal(l),
        Expr::Property(name) => p.property(name).map(Value::Str),
        Expr::Negate(inner) => match value(inner, p)? {
            Some(Value::Int(v)) => Some(Value::Int(v.wrapping_neg())),
            Some(Value::Long(v)) => Some(Value::Long(v.wrapping_neg())),
            Some(Value::Double(v)) => Some(Value::Double(-v)),
            _ => None,
        },
        other => truth(other, p)?.map(Value::Bool),
    })
}

/// `=`: both missing is true, a missing left side unknown, a missing right side false.
fn equals<P: PropertySource + ?Sized>(
    l: &Expr,
    r: &Expr,
    p: &P,
) -> Result<Option<bool>, EvalError> {
    let (lv, rv) = (value(l, p)?, value(r, p)?);
    Ok(match (lv, rv) {
        (None, None) => Some(true),
        (None, Some(_)) => None,
        (Some(_), None) => Some(false),
        (Some(a), Some(b)) => Some(compare(a, b)? == Ordering::Equal),
    })
}

/// `<`, `<=`, `>`, `>=`: unknown when a side is missing; two strings compare as doubles.
fn order<P: PropertySource + ?Sized>(
    op: CompareOp,
    l: &Expr,
    r: &Expr,
    p: &P,
) -> Result<Option<bool>, EvalError> {
    let Some(lv) = value(l, p)? else {
        return Ok(None);
    };
    let Some(rv) = value(r, p)? else {
        return Ok(None);
    };
    let ordering = match (lv, rv) {
        (Value::Str(a), Value::Str(b)) => compare_doubles(parse_double(a)?, parse_double(b)?),
        (a, b) => compare(a, b)?,
    };
    Ok(Some(match op {
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Eq => ordering == Ordering::Equal,
    }))
}

/// CONTAINS / STARTSWITH / ENDSWITH and their NOT forms: false (never unknown) for an empty
/// pattern, a missing operand or a non-string operand.
fn text<P: PropertySource + ?Sized>(
    op: TextOp,
    negated: bool,
    operand: &Expr,
    pattern: &str,
    p: &P,
) -> Result<bool, EvalError> {
    if pattern.is_empty() {
        return Ok(false);
    }
    let Some(Value::Str(s)) = value(operand, p)? else {
        return Ok(false);
    };
    let found = match op {
        TextOp::Contains => s.contains(pattern),
        TextOp::StartsWith => s.starts_with(pattern),
        TextOp::EndsWith => s.ends_with(pattern),
    };
    Ok(found != negated)
}
