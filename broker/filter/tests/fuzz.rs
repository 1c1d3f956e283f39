//! Randomised inputs: compiling never panics (it returns a selector or a positioned error),
//! evaluating never panics, and every compiled tree prints back to text that compiles to the
//! same tree.

use ferrimq_filter::{ParseError, Selector};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FRAGMENTS: &[&str] = &[
    "a",
    "b",
    "TAGS",
    "KEYS",
    "x_1",
    "$p",
    "NOT",
    "not",
    "AND",
    "OR",
    "BETWEEN",
    "IN",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "CONTAINS",
    "STARTSWITH",
    "ENDSWITH",
    "=",
    "<>",
    ">",
    ">=",
    "<",
    "<=",
    "(",
    ")",
    ",",
    "+",
    "-",
    "'s'",
    "''",
    "'it''s'",
    "'",
    "0",
    "1",
    "42",
    "2147483648",
    "9L",
    "1.5",
    ".5",
    "5.",
    "1e3",
    "0.0",
    "1e999",
    "--c\n",
    "/*c*/",
    "/*",
    "*",
    "!",
    "é",
    "\u{0}",
    "  ",
    "\t",
];

const VALUES: &[&str] = &[
    "1",
    "0",
    "-1",
    "1.5",
    "abc",
    "true",
    "",
    "2147483648",
    "NaN",
    "s",
];

fn random_text(rng: &mut Rng) -> String {
    let n = 1 + rng.below(12);
    (0..n)
        .map(|_| rng.pick(FRAGMENTS))
        .collect::<Vec<_>>()
        .join(" ")
}

fn random_props(rng: &mut Rng) -> Vec<(&'static str, &'static str)> {
    let mut props = Vec::new();
    for key in ["a", "b", "TAGS", "KEYS", "x_1", "$p"] {
        if rng.below(3) != 0 {
            props.push((key, rng.pick(VALUES)));
        }
    }
    props
}

fn check(text: &str, rng: &mut Rng, compiled: &mut usize) {
    match Selector::compile(text) {
        Ok(selector) => {
            *compiled += 1;
            for _ in 0..4 {
                let props = random_props(rng);
                let verdict = selector.evaluate(&props[..]);
                assert_eq!(
                    selector.matches(&props[..]),
                    matches!(verdict, Ok(Some(true)))
                );
            }
            let printed = selector.root().to_string();
            let again = Selector::compile(&printed)
                .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}: {e}"));
            assert_eq!(
                again.root(),
                selector.root(),
                "{text:?} printed as {printed:?}"
            );
        }
        Err(ParseError { position, .. }) => {
            assert!(position <= text.len(), "{text:?}: position {position}");
            assert!(
                text.is_char_boundary(position),
                "{text:?}: position {position}"
            );
        }
    }
}

#[test]
fn token_soup_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut compiled = 0;
    for _ in 0..50_000 {
        let text = random_text(&mut rng);
        check(&text, &mut rng, &mut compiled);
    }
    // The soup must exercise the evaluator too, not only the error paths.
    assert!(compiled > 500, "only {compiled} expressions compiled");
}

#[test]
fn mutated_valid_expressions_never_panic() {
    let seeds = [
        "a BETWEEN 1 AND 3 AND TAGS IN ('x', 'y') OR b IS NOT NULL",
        "NOT (a CONTAINS 'it''s') AND b NOT STARTSWITH 'p' OR KEYS ENDSWITH 'k'",
        "(a > 1.5 OR a <= -2) AND (b = 'x' OR b <> 'y') AND x_1 NOT BETWEEN 2 AND 5",
    ];
    let mut rng = Rng(42);
    let mut compiled = 0;
    for round in 0..20_000 {
        let mut bytes = seeds[round % seeds.len()].as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(3) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 if at < bytes.len() => bytes[at] = b" ()'=<>-+,.eE0aZ"[rng.below(16)],
                _ => bytes.insert(at, b" ()'=<>-+,.eE9bN"[rng.below(16)]),
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        check(&text, &mut rng, &mut compiled);
    }
    assert!(compiled > 1_000, "only {compiled} mutants compiled");
}
