//! `sqlx::migrate!` embeds the migration files at compile time, but on stable Rust the macro
//! cannot tell Cargo to watch them: without this, a new or edited migration is not picked up by
//! an incremental build (CI builds incrementally).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
