//! Build script: links paneherd's binaries with packed relative relocations (`DT_RELR`) when
//! the toolchain and the C library here support them — a probe program is linked so and run.
//! A PIE binary of this size carries ~25,000 relative relocations; packed, the dynamic loader
//! reads a few kilobytes instead of 600 KB at every start, which is most of what a short
//! command such as `paneherd run` costs (see the README's benchmarks). Without support, the
//! binaries are linked as before.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if !target.contains("linux") || target != host {
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(std::path::PathBuf::from) else { return };
    let src = out.join("relr-probe.c");
    let exe = out.join("relr-probe");
    if std::fs::write(&src, "static int x; int *p = &x; int main(void) { return *p; }\n").is_err() {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let linked = Command::new(&cc)
        .args(["-fPIE", "-pie", "-Wl,-z,pack-relative-relocs", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .is_ok_and(|o| o.status.success());
    let runs = linked && Command::new(&exe).status().is_ok_and(|s| s.success());
    if runs {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    } else {
        println!("cargo:warning=packed relative relocations unsupported here: linked as before");
    }
}
