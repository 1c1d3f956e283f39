//! Exact truth tables of the evaluator: three-valued logic, NULL handling, BETWEEN bounds, IN
//! lists, precedence, numeric widening and string conversion, escapes, 5.x string tests.

use ferrimq_filter::{EvalError, Selector};

fn eval(sql: &str, props: &[(&str, &str)]) -> Result<Option<bool>, EvalError> {
    Selector::compile(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .evaluate(props)
}

fn truth(sql: &str, props: &[(&str, &str)]) -> Option<bool> {
    eval(sql, props).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const U: Option<bool> = None;

/// `x = '1'` is true for "1", false for "0" and unknown when x is missing.
fn operand(v: Option<bool>) -> Option<&'static str> {
    match v {
        Some(true) => Some("1"),
        Some(false) => Some("0"),
        None => None,
    }
}

fn props2(a: Option<bool>, b: Option<bool>) -> Vec<(&'static str, &'static str)> {
    let mut p = Vec::new();
    if let Some(v) = operand(a) {
        p.push(("a", v));
    }
    if let Some(v) = operand(b) {
        p.push(("b", v));
    }
    p
}

#[test]
fn and_or_not_follow_three_valued_logic() {
    let and = [
        (T, T, T),
        (T, F, F),
        (T, U, U),
        (F, T, F),
        (F, F, F),
        (F, U, F),
        (U, T, U),
        (U, F, F),
        (U, U, U),
    ];
    for (a, b, want) in and {
        assert_eq!(
            truth("a = '1' AND b = '1'", &props2(a, b)),
            want,
            "{a:?} AND {b:?}"
        );
    }
    let or = [
        (T, T, T),
        (T, F, T),
        (T, U, T),
        (F, T, T),
        (F, F, F),
        (F, U, U),
        (U, T, T),
        (U, F, U),
        (U, U, U),
    ];
    for (a, b, want) in or {
        assert_eq!(
            truth("a = '1' OR b = '1'", &props2(a, b)),
            want,
            "{a:?} OR {b:?}"
        );
    }
    for (a, want) in [(T, F), (F, T), (U, U)] {
        assert_eq!(truth("NOT (a = '1')", &props2(a, None)), want, "NOT {a:?}");
    }
}

#[test]
fn missing_properties_are_unknown_or_null() {
    let none: &[(&str, &str)] = &[];
    assert_eq!(truth("a = 1", none), U);
    assert_eq!(truth("a <> 1", none), U);
    assert_eq!(truth("a > 1", none), U);
    assert_eq!(truth("a <= 1", none), U);
    assert_eq!(truth("a IN ('x')", none), U);
    assert_eq!(truth("a NOT IN ('x')", none), U);
    assert_eq!(truth("a IS NULL", none), T);
    assert_eq!(truth("a IS NOT NULL", none), F);
    assert_eq!(truth("a IS NULL", &[("a", "")]), F);
    assert_eq!(truth("a IS NOT NULL", &[("a", "")]), T);
    // Java's equality: a missing left side is unknown, a missing right side false.
    assert_eq!(truth("a = b", &[("a", "1")]), F);
    assert_eq!(truth("a = b", &[("b", "1")]), U);
    assert_eq!(truth("a = b", none), T);
    // The string tests answer false, never unknown.
    assert_eq!(truth("a CONTAINS 'x'", none), F);
    assert_eq!(truth("a NOT CONTAINS 'x'", none), F);
    assert_eq!(truth("NOT (a CONTAINS 'x')", none), T);
    // A bare property is a boolean cast: unknown when missing, false unless a Boolean.
    assert_eq!(truth("a", none), U);
    assert_eq!(truth("a", &[("a", "true")]), F);
    let s = Selector::compile("a = 1").expect("compiles");
    assert!(!s.matches(none));
}

#[test]
fn between_bounds_are_inclusive() {
    let rows = [
        ("0", F, T),
        ("1", T, F),
        ("2", T, F),
        ("3", T, F),
        ("4", F, T),
    ];
    for (a, between, not_between) in rows {
        assert_eq!(truth("a BETWEEN 1 AND 3", &[("a", a)]), between, "a={a}");
        assert_eq!(
            truth("a NOT BETWEEN 1 AND 3", &[("a", a)]),
            not_between,
            "a={a}"
        );
    }
    assert_eq!(truth("a BETWEEN 1 AND 3", &[]), U);
    assert_eq!(truth("a NOT BETWEEN 1 AND 3", &[]), U);
    assert_eq!(truth("a BETWEEN 1 AND 1", &[("a", "1")]), T);
    for (a, want) in [("1.5", T), ("2.5", T), ("2.51", F), ("1.49", F)] {
        assert_eq!(truth("a BETWEEN 1.5 AND 2.5", &[("a", a)]), want, "a={a}");
    }
    assert_eq!(truth("a between -2 and -1", &[("a", "-1")]), T);
}

#[test]
fn in_lists_match_exact_strings() {
    let sql = "a IN ('x', 'y', 'it''s')";
    for (a, want) in [
        ("x", T),
        ("y", T),
        ("it's", T),
        ("X", F),
        ("xy", F),
        ("", F),
    ] {
        assert_eq!(truth(sql, &[("a", a)]), want, "a={a}");
    }
    let not = "a NOT IN ('x', 'y')";
    for (a, want) in [("x", F), ("y", F), ("z", T)] {
        assert_eq!(truth(not, &[("a", a)]), want, "a={a}");
    }
    let long = "TAGS IN ('t1','t2','t3','t4','t5','t6')";
    assert_eq!(truth(long, &[("TAGS", "t6")]), T);
    assert_eq!(truth(long, &[("TAGS", "t7")]), F);
}

#[test]
fn precedence_is_not_then_comparison_then_and_then_or() {
    let s = Selector::compile("a = 1 OR b = 2 AND c = 3").expect("compiles");
    assert_eq!(s.root().to_string(), "((a = 1) OR ((b = 2) AND (c = 3)))");
    assert_eq!(
        truth(
            "a = 1 OR b = 2 AND c = 3",
            &[("a", "1"), ("b", "0"), ("c", "0")]
        ),
        T
    );
    assert_eq!(
        truth(
            "(a = 1 OR b = 2) AND c = 3",
            &[("a", "1"), ("b", "0"), ("c", "0")]
        ),
        F
    );
    let s = Selector::compile("NOT a = 1 AND b > 2").expect("compiles");
    // As in Java, NOT applies to the unary operand: (NOT a) = 1.
    assert_eq!(s.root().to_string(), "(((NOT a) = 1) AND (b > 2))");
    assert_eq!(truth("NOT a = 1", &[("a", "1")]), F);
    assert_eq!(truth("NOT (a = 1)", &[("a", "2")]), T);
    let s = Selector::compile("NOT NOT a IS NULL OR b IS NOT NULL").expect("compiles");
    assert_eq!(
        s.root().to_string(),
        "(((NOT (NOT a)) IS NULL) OR (NOT (b IS NULL)))"
    );
}

#[test]
fn numbers_widen_and_strings_convert_to_the_other_side() {
    assert_eq!(truth("a = 1", &[("a", "1")]), T);
    assert_eq!(truth("a = 1", &[("a", "+1")]), T);
    assert_eq!(truth("a = 1.0", &[("a", "1")]), T);
    // The literal's type decides the conversion: Integer literals read the string as Integer.
    assert_eq!(truth("a > 2147483648", &[("a", "2147483649")]), T);
    assert_eq!(
        eval("a > 2147483647", &[("a", "2147483648")]),
        Err(EvalError::NotANumber {
            value: "2147483648".into(),
            target: "Integer"
        })
    );
    assert_eq!(truth("a < 10", &[("a", "9")]), T);
    assert_eq!(truth("a >= 1e2", &[("a", "100")]), T);
    assert_eq!(truth("a > -1", &[("a", "0")]), T);
    assert_eq!(truth("1 = 1.0", &[]), T);
    assert_eq!(truth("2147483648 = 2147483648.0", &[]), T);
    assert_eq!(truth("1 < 2147483648", &[]), T);
    assert_eq!(truth("10L = 10", &[]), T);
    // Two strings order as doubles ("10" > "9"), but equal only as strings.
    assert_eq!(truth("a > b", &[("a", "10"), ("b", "9")]), T);
    assert_eq!(truth("a = b", &[("a", "10"), ("b", "10.0")]), F);
    assert_eq!(truth("a > 1.5", &[("a", " 2.5 ")]), T);
    // Unary minus applies to numbers only: a negated property is NULL.
    assert_eq!(truth("-a = -5", &[("a", "5")]), U);
    // Conversion failures make the evaluation fail (the message does not match).
    let err = eval("a = 1", &[("a", "1.0")]).expect_err("not an Integer");
    assert_eq!(
        err,
        EvalError::NotANumber {
            value: "1.0".into(),
            target: "Integer"
        }
    );
    let err = eval("a > 1", &[("a", "abc")]).expect_err("not an Integer");
    assert_eq!(
        err,
        EvalError::NotANumber {
            value: "abc".into(),
            target: "Integer"
        }
    );
    let err = eval("a > b", &[("a", "x"), ("b", "1")]).expect_err("not a Double");
    assert_eq!(
        err,
        EvalError::NotANumber {
            value: "x".into(),
            target: "Double"
        }
    );
    let s = Selector::compile("a > 1 OR b = 'x'").expect("compiles");
    assert!(!s.matches(&[("a", "abc"), ("b", "x")][..]));
    assert!(s.matches(&[("a", "2"), ("b", "x")][..]));
    // Short-circuit: the failing side is not reached.
    assert_eq!(truth("b = 'x' OR a > 1", &[("a", "abc"), ("b", "x")]), T);
}

#[test]
fn booleans_compare_with_strings_on_the_right_only() {
    for (a, want) in [("true", T), ("TRUE", T), ("false", F), ("yes", F)] {
        assert_eq!(truth("a = TRUE", &[("a", a)]), want, "a={a}");
    }
    assert_eq!(
        eval("TRUE = a", &[("a", "true")]),
        Err(EvalError::BooleanWithString(true, "true".into()))
    );
    assert_eq!(truth("TRUE", &[]), T);
    assert_eq!(truth("FALSE", &[]), F);
    assert_eq!(truth("NULL", &[]), U);
    assert_eq!(truth("1 = TRUE", &[]), F);
    assert_eq!(truth("(a = 1) = TRUE", &[("a", "1")]), T);
    assert_eq!(truth("(a = 1) <> FALSE", &[("a", "1")]), T);
}

#[test]
fn string_literals_unescape_doubled_quotes() {
    assert_eq!(truth("a = 'it''s'", &[("a", "it's")]), T);
    assert_eq!(truth("a = ''''", &[("a", "'")]), T);
    assert_eq!(truth("a = ''", &[("a", "")]), T);
    assert_eq!(truth("a = 'x y'", &[("a", "x y")]), T);
    assert_eq!(truth("a = 'é中'", &[("a", "é中")]), T);
    assert_eq!(truth("a = 'A'", &[("a", "a")]), F);
}

#[test]
fn string_tests_of_5x() {
    let p = &[("a", "hello world")];
    assert_eq!(truth("a CONTAINS 'lo w'", p), T);
    assert_eq!(truth("a CONTAINS 'LO'", p), F);
    assert_eq!(truth("a NOT CONTAINS 'xyz'", p), T);
    assert_eq!(truth("a STARTSWITH 'hell'", p), T);
    assert_eq!(truth("a NOT STARTSWITH 'hell'", p), F);
    assert_eq!(truth("a ENDSWITH 'world'", p), T);
    assert_eq!(truth("a NOT ENDSWITH 'xyz'", p), T);
    // An empty pattern is false in both forms.
    assert_eq!(truth("a CONTAINS ''", p), F);
    assert_eq!(truth("a NOT CONTAINS ''", p), F);
    // A non-string operand is false.
    assert_eq!(truth("1 CONTAINS '1'", p), F);
}

#[test]
fn keywords_ignore_case_and_property_names_do_not() {
    let p = &[("a", "2"), ("TAGS", "x")];
    assert_eq!(truth("a between 1 and 3 and tags is null", p), T);
    assert_eq!(truth("a BeTwEeN 1 AnD 3 aNd TAGS iN ('x')", p), T);
    assert_eq!(truth("A = 2", p), U);
    assert_eq!(truth("$a_1 IS NULL and _x is null", p), T);
}

#[test]
fn comments_and_whitespace_are_skipped() {
    let p = &[("a", "1"), ("b", "2")];
    assert_eq!(truth("a = 1 -- first\n AND b = 2", p), T);
    assert_eq!(
        truth("/* lead */ a = 1 /* mid ** */ AND\tb\r\n=\x0c2", p),
        T
    );
    assert_eq!(truth("a = 1 -- trailing comment without newline", p), T);
}

#[test]
fn numeric_literal_forms() {
    let p = &[("a", "5")];
    for sql in [
        "a = 5",
        "a = 5L",
        "a = 5.",
        "a = 5.0",
        "a = .5e1",
        "a = 5E0",
        "a = 0.5e+1",
        "a = 500e-2",
    ] {
        assert_eq!(truth(sql, p), T, "{sql}");
    }
    assert_eq!(truth("a > 0", p), T);
}
