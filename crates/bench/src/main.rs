//! Satang's benchmark runner (being written).
fn main() {
    println!("satang-bench: nothing to run yet");
}
