// Records the tokio version (from Cargo.lock) and the rustc version for the JSON "version" field.
use std::process::Command;

fn main() {
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut tokio = String::from("?");
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "name = \"tokio\"" {
            if let Some(v) = lines.next() {
                tokio = v.trim().trim_start_matches("version = ").trim_matches('"').to_string();
            }
        }
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rv = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "rustc ?".into());
    println!("cargo:rustc-env=BENCH_TOKIO_VERSION={tokio}");
    println!("cargo:rustc-env=BENCH_RUSTC_VERSION={rv}");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rustc-check-cfg=cfg(tokio_unstable)");
}
