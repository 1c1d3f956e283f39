//! Recursive descent over the token list, one function per production of RocketMQ's
//! `SelectorParser.jj`, lowest precedence first:
//!
//! ```text
//! or         := and (OR and)*
//! and        := equality (AND equality)*
//! equality   := comparison ( '=' comparison | '<>' comparison | IS NULL | IS NOT NULL )*
//! comparison := unary ( ('>'|'>='|'<'|'<=') unary
//!                     | [NOT] (CONTAINS|STARTSWITH|ENDSWITH) string
//!                     | [NOT] BETWEEN unary AND unary
//!                     | [NOT] IN '(' string (',' string)* ')' )*
//! unary      := '+' unary | '-' unary | NOT unary | primary
//! primary    := literal | property | '(' or ')'
//! ```
//!
//! So NOT binds tighter than comparisons (`NOT a = 1` is `(NOT a) = 1`, as in Java; write
//! `NOT (a = 1)`), comparisons tighter than AND, AND tighter than OR. The type checks Java's
//! expression factories make while building (operands of `<` must be numbers or properties, `=`
//! takes no NULL literal, BETWEEN bounds in order, IN only on a property, AND/OR/NOT operands
//! boolean) are made here too. Unlike Java, tokens left after a complete expression are an
//! error rather than silently ignored.

use std::cmp::Ordering;

use crate::ast::{CompareOp, Expr, Literal, TextOp};
use crate::error::{ParseError, ParseErrorKind as K};
use crate::lexer::{Keyword as Kw, Spanned, Token, tokenize};
use crate::value::{Value, compare};

/// Maximum nesting of parentheses and prefix operators.
pub const MAX_NESTING: usize = 64;
/// Maximum depth of the compiled tree (long AND/OR chains nest to the left).
pub const MAX_DEPTH: usize = 1000;

/// Parses a selector into its boolean expression tree.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(input)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        end: input.len(),
        nesting: 0,
    };
    let start = parser.position();
    let expr = parser.or_expr()?;
    if let Some(t) = parser.tokens.get(parser.pos) {
        return Err(ParseError::new(
            t.position,
            K::TrailingInput(t.token.to_string()),
        ));
    }
    as_boolean(expr, start)
}

struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
    end: usize,
    nesting: usize,
}

fn as_boolean(expr: Expr, position: usize) -> Result<Expr, ParseError> {
    match expr {
        e if e.is_boolean() => Ok(e),
        e @ Expr::Property(_) => Ok(Expr::BoolCast(Box::new(e))),
        e => Err(ParseError::new(position, K::NotBoolean(e.to_string()))),
    }
}

/// Java's `checkLessThanOperand`.
fn check_orderable(expr: &Expr, position: usize) -> Result<(), ParseError> {
    let ok = match expr {
        Expr::Literal(l) => matches!(l, Literal::Int(_) | Literal::Long(_) | Literal::Double(_)),
        e => !e.is_boolean(),
    };
    if ok {
        Ok(())
    } else {
        Err(ParseError::new(
            position,
            K::NotComparable(expr.to_string()),
        ))
    }
}

fn ordering(op: CompareOp, l: Expr, r: Expr, position: usize) -> Result<Expr, ParseError> {
    check_orderable(&l, position)?;
    check_orderable(&r, position)?;
    Ok(Expr::Compare(op, Box::new(l), Box::new(r)))
}

/// Java's `createEqual`: no NULL literal, no boolean literal against another literal type.
fn equality(l: Expr, r: Expr, position: usize) -> Result<Expr, ParseError> {
    let null = |e: &Expr| matches!(e, Expr::Literal(Literal::Null));
    if null(&l) || null(&r) {
        return Err(ParseError::new(position, K::NullEquality));
    }
    if let (Expr::Literal(_), Expr::Literal(_)) = (&l, &r) {
        if l.is_boolean() && !r.is_boolean() {
            let kind = K::IncompatibleEquality(l.to_string(), r.to_string());
            return Err(ParseError::new(position, kind));
        }
    }
    Ok(Expr::Compare(CompareOp::Eq, Box::new(l), Box::new(r)))
}

/// Java's `createBetween`: literal bounds must be non-null and ordered.
fn between(value: Expr, low: Expr, high: Expr, position: usize) -> Result<Expr, ParseError> {
    if let (Expr::Literal(lo), Expr::Literal(hi)) = (&low, &high) {
        let (Some(lo), Some(hi)) = (Value::of_literal(lo), Value::of_literal(hi)) else {
            return Err(ParseError::new(position, K::BetweenNull));
        };
        let order = compare(hi, lo)
            .map_err(|e| ParseError::new(position, K::BetweenBounds(e.to_string())))?;
        if order == Ordering::Less {
            let kind = K::BetweenOrder(low.to_string(), high.to_string());
            return Err(ParseError::new(position, kind));
        }
    }
    let ge = ordering(CompareOp::Ge, value.clone(), low, position)?;
    let le = ordering(CompareOp::Le, value, high, position)?;
    Ok(Expr::And(Box::new(ge), Box::new(le)))
}

fn not_between(value: Expr, low: Expr, high: Expr, position: usize) -> Result<Expr, ParseError> {
    let lt = ordering(CompareOp::Lt, value.clone(), low, position)?;
    let gt = ordering(CompareOp::Gt, value, high, position)?;
    Ok(Expr::Or(Box::new(lt), Box::new(gt)))
}

/// Depth of a node joining children of the given depths; fails past [`MAX_DEPTH`].
fn joined_depth(left: usize, right: &Expr, position: usize) -> Result<usize, ParseError> {
    let depth = 2 + left.max(right.depth());
    if depth > MAX_DEPTH {
        return Err(ParseError::new(position, K::TooDeep(MAX_DEPTH)));
    }
    Ok(depth)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|t| &t.token)
    }

    fn peek2(&self) -> Option<&Token> {
        self.tokens.get(self.pos + 1).map(|t| &t.token)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.position)
    }

    fn at_keyword(&self, k: Kw) -> bool {
        self.peek() == Some(&Token::Keyword(k))
    }

    fn at_symbol(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Token::Symbol(x)) if *x == s)
    }

    fn unexpected(&self, expected: &'static str) -> ParseError {
        match self.tokens.get(self.pos) {
            Some(t) => ParseError::new(
                t.position,
                K::Unexpected {
                    found: t.token.to_string(),
                    expected,
                },
            ),
            None => ParseError::new(self.end, K::UnexpectedEnd { expected }),
        }
    }

    fn expect_keyword(&mut self, k: Kw, expected: &'static str) -> Result<(), ParseError> {
        if !self.at_keyword(k) {
            return Err(self.unexpected(expected));
        }
        self.pos += 1;
        Ok(())
    }

    fn expect_symbol(&mut self, s: &str, expected: &'static str) -> Result<(), ParseError> {
        if !self.at_symbol(s) {
            return Err(self.unexpected(expected));
        }
        self.pos += 1;
        Ok(())
    }

    fn string_literal(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Some(Token::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected("a string literal")),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let start = self.position();
        let mut left = self.and_expr()?;
        let mut depth = left.depth();
        while self.at_keyword(Kw::Or) {
            let position = self.position();
            self.pos += 1;
            let right_start = self.position();
            let right = self.and_expr()?;
            depth = joined_depth(depth, &right, position)?;
            let l = as_boolean(left, start)?;
            let r = as_boolean(right, right_start)?;
            left = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let start = self.position();
        let mut left = self.equality_expr()?;
        let mut depth = left.depth();
        while self.at_keyword(Kw::And) {
            let position = self.position();
            self.pos += 1;
            let right_start = self.position();
            let right = self.equality_expr()?;
            depth = joined_depth(depth, &right, position)?;
            let l = as_boolean(left, start)?;
            let r = as_boolean(right, right_start)?;
            left = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(left)
    }

    fn equality_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.comparison_expr()?;
        let mut depth = left.depth();
        loop {
            let position = self.position();
            if self.at_symbol("=") || self.at_symbol("<>") {
                let negated = self.at_symbol("<>");
                self.pos += 1;
                let right = self.comparison_expr()?;
                depth = joined_depth(depth, &right, position)?;
                left = equality(left, right, position)?;
                if negated {
                    left = Expr::Not(Box::new(left));
                }
            } else if self.at_keyword(Kw::Is) {
                self.pos += 1;
                let negated = self.at_keyword(Kw::Not);
                self.pos += usize::from(negated);
                self.expect_keyword(Kw::Null, "NULL or NOT NULL after IS")?;
                depth = joined_depth(depth, &Expr::Literal(Literal::Null), position)?;
                left = Expr::IsNull(Box::new(left));
                if negated {
                    left = Expr::Not(Box::new(left));
                }
            } else {
                return Ok(left);
            }
        }
    }

    fn comparison_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary_expr()?;
        let mut depth = left.depth();
        loop {
            let position = self.position();
            let op = match self.peek() {
                Some(Token::Symbol(">")) => Some(CompareOp::Gt),
                Some(Token::Symbol(">=")) => Some(CompareOp::Ge),
                Some(Token::Symbol("<")) => Some(CompareOp::Lt),
                Some(Token::Symbol("<=")) => Some(CompareOp::Le),
                _ => None,
            };
            if let Some(op) = op {
                self.pos += 1;
                let right = self.unary_expr()?;
                depth = joined_depth(depth, &right, position)?;
                left = ordering(op, left, right, position)?;
                continue;
            }
            let negated = self.at_keyword(Kw::Not) && self.negatable_follows();
            self.pos += usize::from(negated);
            let next = match self.peek() {
                Some(Token::Keyword(k)) => *k,
                _ => return Ok(left),
            };
            left = match next {
                Kw::Contains | Kw::StartsWith | Kw::EndsWith => {
                    self.text_test(left, next, negated)?
                }
                Kw::Between => self.between_test(left, negated, position)?,
                Kw::In => self.in_test(left, negated, position)?,
                _ => return Ok(left),
            };
            depth = joined_depth(depth, &Expr::Literal(Literal::Null), position)?;
        }
    }

    /// NOT directly followed by a keyword that has a NOT form (Java's `LOOKAHEAD(2)`).
    fn negatable_follows(&self) -> bool {
        matches!(
            self.peek2(),
            Some(Token::Keyword(
                Kw::Contains | Kw::StartsWith | Kw::EndsWith | Kw::Between | Kw::In
            ))
        )
    }

    fn text_test(&mut self, operand: Expr, k: Kw, negated: bool) -> Result<Expr, ParseError> {
        self.pos += 1;
        let op = match k {
            Kw::Contains => TextOp::Contains,
            Kw::StartsWith => TextOp::StartsWith,
            _ => TextOp::EndsWith,
        };
        let pattern = self.string_literal()?;
        Ok(Expr::Text {
            op,
            negated,
            operand: Box::new(operand),
            pattern,
        })
    }

    fn between_test(&mut self, value: Expr, negated: bool, at: usize) -> Result<Expr, ParseError> {
        self.pos += 1;
        let low = self.unary_expr()?;
        self.expect_keyword(Kw::And, "AND between the bounds of BETWEEN")?;
        let high = self.unary_expr()?;
        if negated {
            not_between(value, low, high, at)
        } else {
            between(value, low, high, at)
        }
    }

    fn in_test(&mut self, value: Expr, negated: bool, at: usize) -> Result<Expr, ParseError> {
        self.pos += 1;
        self.expect_symbol("(", "( after IN")?;
        let mut list = vec![self.string_literal()?];
        while self.at_symbol(",") {
            self.pos += 1;
            list.push(self.string_literal()?);
        }
        self.expect_symbol(")", ", or ) in the IN list")?;
        match value {
            Expr::Property(property) => Ok(Expr::In {
                property,
                list,
                negated,
            }),
            other => Err(ParseError::new(at, K::InNeedsProperty(other.to_string()))),
        }
    }

    fn unary_expr(&mut self) -> Result<Expr, ParseError> {
        let position = self.position();
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(ParseError::new(position, K::TooDeep(MAX_NESTING)));
        }
        let result = self.unary_inner(position);
        self.nesting -= 1;
        result
    }

    fn unary_inner(&mut self, position: usize) -> Result<Expr, ParseError> {
        if self.at_symbol("+") {
            self.pos += 1;
            return self.unary_expr();
        }
        if self.at_symbol("-") {
            self.pos += 1;
            return Ok(Expr::Negate(Box::new(self.unary_expr()?)));
        }
        if self.at_keyword(Kw::Not) {
            self.pos += 1;
            let operand_at = self.position();
            let operand = as_boolean(self.unary_expr()?, operand_at)?;
            return Ok(Expr::Not(Box::new(operand)));
        }
        self.primary_expr(position)
    }

    fn primary_expr(&mut self, position: usize) -> Result<Expr, ParseError> {
        let token = match self.peek() {
            Some(t) => t.clone(),
            None => return Err(self.unexpected("an operand")),
        };
        let literal = match token {
            Token::Str(s) => Literal::Str(s),
            Token::Decimal(text) => decimal(&text, position)?,
            Token::Float(text) => float(&text, position)?,
            Token::Keyword(Kw::True) => Literal::Bool(true),
            Token::Keyword(Kw::False) => Literal::Bool(false),
            Token::Keyword(Kw::Null) => Literal::Null,
            Token::Ident(name) => {
                self.pos += 1;
                return Ok(Expr::Property(name));
            }
            Token::Symbol("(") => {
                self.pos += 1;
                let inner = self.or_expr()?;
                self.expect_symbol(")", ")")?;
                return Ok(inner);
            }
            _ => return Err(self.unexpected("an operand")),
        };
        self.pos += 1;
        Ok(Expr::Literal(literal))
    }
}

/// `ConstantExpression.createFromDecimal`: Integer when it fits, else Long.
fn decimal(text: &str, position: usize) -> Result<Literal, ParseError> {
    let value: i64 = text
        .parse()
        .map_err(|_| ParseError::new(position, K::IntegerOutOfRange(text.to_owned())))?;
    Ok(i32::try_from(value).map_or(Literal::Long(value), Literal::Int))
}

/// `ConstantExpression.createFloat`: finite and not below `Double.MIN_VALUE` (so not zero).
fn float(text: &str, position: usize) -> Result<Literal, ParseError> {
    let out_of_range = || ParseError::new(position, K::FloatOutOfRange(text.to_owned()));
    let value: f64 = text.parse().map_err(|_| out_of_range())?;
    if !value.is_finite() || value < f64::from_bits(1) {
        return Err(out_of_range());
    }
    Ok(Literal::Double(value))
}
