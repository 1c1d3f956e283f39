//! The `ferrimq` binary.
fn main() {
    println!("ferrimq");
}
