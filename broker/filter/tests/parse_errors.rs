//! Expressions that do not compile: the exact error kind and the byte position reported.

use ferrimq_filter::parser::{MAX_DEPTH, MAX_NESTING};
use ferrimq_filter::{ParseError, ParseErrorKind as K, Selector};

fn error(sql: &str) -> ParseError {
    match Selector::compile(sql) {
        Ok(s) => panic!("{sql} compiled to {}", s.root()),
        Err(e) => e,
    }
}

fn unexpected(found: &str, expected: &'static str) -> K {
    K::Unexpected {
        found: found.to_owned(),
        expected,
    }
}

#[test]
fn lexical_errors() {
    assert_eq!(
        error("a # 1"),
        ParseError {
            position: 2,
            kind: K::UnexpectedChar('#')
        }
    );
    assert_eq!(
        error("a = 'abc"),
        ParseError {
            position: 4,
            kind: K::UnterminatedString
        }
    );
    assert_eq!(
        error("a = 1 /* x"),
        ParseError {
            position: 6,
            kind: K::UnterminatedComment
        }
    );
    assert_eq!(
        error("a != 1"),
        ParseError {
            position: 2,
            kind: K::UnexpectedChar('!')
        }
    );
    assert_eq!(
        error("a.b = 1"),
        ParseError {
            position: 1,
            kind: K::UnexpectedChar('.')
        }
    );
    assert_eq!(
        error("é = 1"),
        ParseError {
            position: 0,
            kind: K::UnexpectedChar('é')
        }
    );
}

#[test]
fn grammar_errors() {
    assert_eq!(
        error(""),
        ParseError {
            position: 0,
            kind: K::UnexpectedEnd {
                expected: "an operand"
            }
        }
    );
    assert_eq!(
        error("a = "),
        ParseError {
            position: 4,
            kind: K::UnexpectedEnd {
                expected: "an operand"
            }
        }
    );
    assert_eq!(
        error("a = 1 b"),
        ParseError {
            position: 6,
            kind: K::TrailingInput("\"b\"".into())
        }
    );
    assert_eq!(
        error("a = 1)"),
        ParseError {
            position: 5,
            kind: K::TrailingInput("\")\"".into())
        }
    );
    assert_eq!(
        error("(a = 1"),
        ParseError {
            position: 6,
            kind: K::UnexpectedEnd { expected: ")" }
        }
    );
    assert_eq!(
        error("a IN (1)"),
        ParseError {
            position: 6,
            kind: unexpected("\"1\"", "a string literal")
        }
    );
    assert_eq!(
        error("a IN ('x' 'y')"),
        ParseError {
            position: 10,
            kind: unexpected("'y'", ", or ) in the IN list")
        }
    );
    assert_eq!(
        error("a IN 'x'"),
        ParseError {
            position: 5,
            kind: unexpected("'x'", "( after IN")
        }
    );
    assert_eq!(
        error("a IS 5"),
        ParseError {
            position: 5,
            kind: unexpected("\"5\"", "NULL or NOT NULL after IS")
        }
    );
    assert_eq!(
        error("a BETWEEN 1 OR 2"),
        ParseError {
            position: 12,
            kind: unexpected("OR", "AND between the bounds of BETWEEN")
        }
    );
    assert_eq!(
        error("a CONTAINS b"),
        ParseError {
            position: 11,
            kind: unexpected("\"b\"", "a string literal")
        }
    );
    assert_eq!(
        error("a = AND"),
        ParseError {
            position: 4,
            kind: unexpected("AND", "an operand")
        }
    );
    assert_eq!(
        error("a NOT b"),
        ParseError {
            position: 2,
            kind: K::TrailingInput("NOT".into())
        }
    );
    assert_eq!(
        error("a = 012"),
        ParseError {
            position: 5,
            kind: K::TrailingInput("\"12\"".into())
        }
    );
}

#[test]
fn type_errors_of_the_expression_factories() {
    assert_eq!(
        error("1"),
        ParseError {
            position: 0,
            kind: K::NotBoolean("1".into())
        }
    );
    assert_eq!(
        error("'x' AND a = 1"),
        ParseError {
            position: 0,
            kind: K::NotBoolean("'x'".into())
        }
    );
    assert_eq!(
        error("a = 1 OR -b"),
        ParseError {
            position: 9,
            kind: K::NotBoolean("(- b)".into())
        }
    );
    assert_eq!(
        error("NOT 1"),
        ParseError {
            position: 4,
            kind: K::NotBoolean("1".into())
        }
    );
    assert_eq!(
        error("a > 'x'"),
        ParseError {
            position: 2,
            kind: K::NotComparable("'x'".into())
        }
    );
    assert_eq!(
        error("a < TRUE"),
        ParseError {
            position: 2,
            kind: K::NotComparable("TRUE".into())
        }
    );
    assert_eq!(
        error("(a = 1) > 2"),
        ParseError {
            position: 8,
            kind: K::NotComparable("(a = 1)".into())
        }
    );
    assert_eq!(
        error("a = NULL"),
        ParseError {
            position: 2,
            kind: K::NullEquality
        }
    );
    assert_eq!(
        error("NULL <> a"),
        ParseError {
            position: 5,
            kind: K::NullEquality
        }
    );
    assert_eq!(
        error("TRUE = 1"),
        ParseError {
            position: 5,
            kind: K::IncompatibleEquality("TRUE".into(), "1".into())
        }
    );
    assert_eq!(
        error("a BETWEEN 3 AND 1"),
        ParseError {
            position: 2,
            kind: K::BetweenOrder("3".into(), "1".into())
        }
    );
    assert_eq!(
        error("a BETWEEN NULL AND 1"),
        ParseError {
            position: 2,
            kind: K::BetweenNull
        }
    );
    assert_eq!(
        error("a BETWEEN 'x' AND 1"),
        ParseError {
            position: 2,
            kind: K::BetweenBounds("cannot convert \"x\" to Integer".into())
        }
    );
    assert_eq!(
        error("a BETWEEN 1 AND 'x'"),
        ParseError {
            position: 2,
            kind: K::BetweenBounds("cannot convert \"x\" to Integer".into())
        }
    );
    assert_eq!(
        error("1 IN ('1')"),
        ParseError {
            position: 2,
            kind: K::InNeedsProperty("1".into())
        }
    );
    assert_eq!(
        error("a = 0.0"),
        ParseError {
            position: 4,
            kind: K::FloatOutOfRange("0.0".into())
        }
    );
    assert_eq!(
        error("a = 1e999"),
        ParseError {
            position: 4,
            kind: K::FloatOutOfRange("1e999".into())
        }
    );
    assert_eq!(
        error("a = 9223372036854775808"),
        ParseError {
            position: 4,
            kind: K::IntegerOutOfRange("9223372036854775808".into())
        }
    );
    // NOT BETWEEN does not check the order of its bounds (as in Java).
    assert!(Selector::compile("a NOT BETWEEN 3 AND 1").is_ok());
}

#[test]
fn messages_name_the_position() {
    assert_eq!(
        error("a > 'x'").to_string(),
        "Invalid MessageSelector: value ''x'' cannot be compared at position 2"
    );
}

#[test]
fn nesting_and_depth_are_bounded() {
    let ok = format!(
        "{}a = 1{}",
        "(".repeat(MAX_NESTING - 1),
        ")".repeat(MAX_NESTING - 1)
    );
    assert!(Selector::compile(&ok).is_ok());
    let deep = format!(
        "{}a = 1{}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    assert_eq!(error(&deep).kind, K::TooDeep(MAX_NESTING));
    let nots = format!("{}TRUE", "NOT ".repeat(MAX_NESTING + 1));
    assert_eq!(error(&nots).kind, K::TooDeep(MAX_NESTING));
    let chain = |n: usize| vec!["a = 1"; n].join(" AND ");
    let longest = Selector::compile(&chain(MAX_DEPTH / 2 - 2)).expect("compiles");
    assert!(longest.matches(&[("a", "1")][..]));
    assert!(!longest.matches(&[("a", "2")][..]));
    assert_eq!(error(&chain(MAX_DEPTH)).kind, K::TooDeep(MAX_DEPTH));
    let ors = vec!["a IN ('x')"; 5 * MAX_DEPTH].join(" OR ");
    assert_eq!(error(&ors).kind, K::TooDeep(MAX_DEPTH));
}

#[test]
fn reserved_words_are_not_property_names() {
    for (word, found) in [
        ("in", "IN"),
        ("IS", "IS"),
        ("between", "BETWEEN"),
        ("contains", "CONTAINS"),
        ("STARTSWITH", "STARTSWITH"),
        ("endswith", "ENDSWITH"),
        ("And", "AND"),
        ("or", "OR"),
    ] {
        let e = error(&format!("{word} = '1'"));
        assert_eq!(
            e,
            ParseError {
                position: 0,
                kind: unexpected(found, "an operand")
            },
            "{word}"
        );
    }
    // NOT is a prefix operator, NULL a literal.
    assert_eq!(
        error("Not = '1'"),
        ParseError {
            position: 4,
            kind: unexpected("\"=\"", "an operand")
        }
    );
    assert_eq!(
        error("null = '1'"),
        ParseError {
            position: 5,
            kind: K::NullEquality
        }
    );
    // A longer identifier that starts with a reserved word is a property.
    let s = Selector::compile("notes = '1' AND index IS NULL AND isx <> 'y'").expect("compiles");
    assert!(s.matches(&[("notes", "1"), ("isx", "z")][..]));
}
