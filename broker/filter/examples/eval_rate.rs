//! Rough single-thread rates of compiling and evaluating a typical selector:
//! `cargo run --release -p ferrimq-filter --example eval_rate`.

use std::hint::black_box;
use std::time::Instant;

use ferrimq_filter::Selector;

const SQL: &str = "(a BETWEEN 5 AND 24 AND color IN ('red', 'blue')) OR (TAGS = 'TagC' AND a > 33)";

fn main() {
    let n = 200_000;
    let start = Instant::now();
    for _ in 0..n {
        black_box(Selector::compile(black_box(SQL)).is_ok());
    }
    let compile = start.elapsed();
    let selector = Selector::compile(SQL).expect("compiles");
    let messages: Vec<[(&str, String); 4]> = (0..1000)
        .map(|i| {
            [
                ("a", i.to_string()),
                ("color", ["red", "green", "blue"][i % 3].to_owned()),
                ("TAGS", ["TagA", "TagB", "TagC"][(i / 3) % 3].to_owned()),
                ("KEYS", format!("k{i}")),
            ]
        })
        .collect();
    let props: Vec<Vec<(&str, &str)>> = messages
        .iter()
        .map(|m| m.iter().map(|(k, v)| (*k, v.as_str())).collect())
        .collect();
    let rounds = 2_000;
    let start = Instant::now();
    let mut matched = 0usize;
    for _ in 0..rounds {
        for p in &props {
            matched += usize::from(selector.matches(black_box(&p[..])));
        }
    }
    let eval = start.elapsed();
    let evals = rounds * props.len();
    println!(
        "compile: {:.0}/s; evaluate: {:.0}/s ({matched} of {evals} matched)",
        n as f64 / compile.as_secs_f64(),
        evals as f64 / eval.as_secs_f64()
    );
}
