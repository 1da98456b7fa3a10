//! Build script: records the git commit the binary is built from (`lastgood --version`), or
//! `unknown` outside a git checkout.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=LASTGOOD_COMMIT={commit}");
    // Rebuild the stamp when the commit moves: HEAD, the branch file it names, packed refs.
    // Only existing paths are watched (cargo reruns a script whose watched path is missing).
    let mut watched = vec![".git/HEAD".to_string(), ".git/packed-refs".to_string()];
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(branch) = head.trim().strip_prefix("ref: ")
    {
        watched.push(format!(".git/{branch}"));
    }
    for w in watched.iter().filter(|w| std::path::Path::new(w).exists()) {
        println!("cargo:rerun-if-changed={w}");
    }
}
