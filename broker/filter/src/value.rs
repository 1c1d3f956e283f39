//! Runtime values and RocketMQ's comparison rules (`ComparisonExpression.__compare` with string
//! conversion on, as `SelectorParser.parse` always sets it): numeric widening
//! Integer → Long → Double, a string operand converted to the other side's type (and failing the
//! evaluation when it is not a number), and `-1` ("less") for types that do not meet.

use std::cmp::Ordering;

use crate::ast::Literal;
use crate::error::EvalError;

/// A non-null value during evaluation. Message properties are always strings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A string (property value or literal).
    Str(&'a str),
    /// Java `Integer`.
    Int(i32),
    /// Java `Long`.
    Long(i64),
    /// Java `Double`.
    Double(f64),
    /// Java `Boolean`.
    Bool(bool),
}

impl<'a> Value<'a> {
    /// The value of a literal; `None` for NULL.
    pub fn of_literal(literal: &'a Literal) -> Option<Value<'a>> {
        Some(match literal {
            Literal::Str(s) => Value::Str(s),
            Literal::Int(v) => Value::Int(*v),
            Literal::Long(v) => Value::Long(*v),
            Literal::Double(v) => Value::Double(*v),
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Null => return None,
        })
    }
}

/// Java `Double.compareTo`: numeric order, `-0.0 < 0.0`, NaN equal to itself and above all.
pub fn compare_doubles(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(Ordering::Equal) | None => {
            let bits = |v: f64| {
                if v.is_nan() {
                    0x7ff8_0000_0000_0000
                } else {
                    v.to_bits() as i64
                }
            };
            bits(a).cmp(&bits(b))
        }
        Some(order) => order,
    }
}

/// Java `Integer.valueOf(String)`.
pub fn parse_int(s: &str) -> Result<i32, EvalError> {
    s.parse::<i32>().map_err(|_| not_a_number(s, "Integer"))
}

/// Java `Long.valueOf(String)`.
pub fn parse_long(s: &str) -> Result<i64, EvalError> {
    s.parse::<i64>().map_err(|_| not_a_number(s, "Long"))
}

/// Java `Double.valueOf(String)` for decimal notation: surrounding control characters and
/// spaces trimmed, optional sign, `NaN`, `Infinity`, an optional `f`/`d` suffix. Hexadecimal
/// floating strings (`0x1p3`) are not accepted.
pub fn parse_double(s: &str) -> Result<f64, EvalError> {
    let fail = || not_a_number(s, "Double");
    let t = s.trim_matches(|c: char| c <= ' ');
    let (negative, unsigned) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let magnitude = match unsigned {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let body = unsigned
                .strip_suffix(['f', 'F', 'd', 'D'])
                .unwrap_or(unsigned);
            if !is_decimal_float(body) {
                return Err(fail());
            }
            body.parse::<f64>().map_err(|_| fail())?
        }
    };
    Ok(if negative { -magnitude } else { magnitude })
}

/// `digits? ('.' digits?)? ([eE] [+-]? digits)?` with at least one mantissa digit.
fn is_decimal_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = all_digits(int) && all_digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && all_digits(digits)
    });
    mantissa_ok && exponent_ok
}

/// Java `Boolean.valueOf(String)`.
fn parse_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

fn not_a_number(s: &str, target: &'static str) -> EvalError {
    EvalError::NotANumber {
        value: s.to_owned(),
        target,
    }
}

/// `__compare(lv, rv, convertStringExpressions = true)`.
pub fn compare(left: Value<'_>, right: Value<'_>) -> Result<Ordering, EvalError> {
    use Value as V;
    Ok(match (left, right) {
        (V::Str(a), V::Str(b)) => a.cmp(b),
        (V::Int(a), V::Int(b)) => a.cmp(&b),
        (V::Long(a), V::Long(b)) => a.cmp(&b),
        (V::Double(a), V::Double(b)) => compare_doubles(a, b),
        (V::Bool(a), V::Bool(b)) => a.cmp(&b),
        (V::Int(a), V::Long(b)) => i64::from(a).cmp(&b),
        (V::Long(a), V::Int(b)) => a.cmp(&i64::from(b)),
        (V::Int(a), V::Double(b)) => compare_doubles(f64::from(a), b),
        (V::Long(a), V::Double(b)) => compare_doubles(a as f64, b),
        (V::Double(a), V::Int(b)) => compare_doubles(a, f64::from(b)),
        (V::Double(a), V::Long(b)) => compare_doubles(a, b as f64),
        (V::Int(a), V::Str(b)) => a.cmp(&parse_int(b)?),
        (V::Long(a), V::Str(b)) => a.cmp(&parse_long(b)?),
        (V::Double(a), V::Str(b)) => compare_doubles(a, parse_double(b)?),
        (V::Str(a), V::Int(b)) => parse_int(a)?.cmp(&b),
        (V::Str(a), V::Long(b)) => parse_long(a)?.cmp(&b),
        (V::Str(a), V::Double(b)) => compare_doubles(parse_double(a)?, b),
        (V::Str(a), V::Bool(b)) => parse_bool(a).cmp(&b),
        // Java casts the Boolean itself to String here and fails.
        (V::Bool(a), V::Str(b)) => return Err(EvalError::BooleanWithString(a, b.to_owned())),
        // Numbers against booleans: Java answers -1 without converting.
        (V::Bool(_), _) | (V::Int(_) | V::Long(_) | V::Double(_), V::Bool(_)) => Ordering::Less,
    })
}
