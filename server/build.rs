//! Tells `http::assets` where the built dashboard bundle is, so a release
//! binary carries it inside: `PEERCACHE_SITE_ROOT/pkg` when that is set (the
//! Makefile sets it), else `site/pkg` in the build directory (where `make
//! wasm` writes it). Rebuilds when a file of the bundle changes. A missing
//! bundle is not an error: the binary then says that it has no dashboard
//! (`make` writes the bundle before it builds the server).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=PEERCACHE_SITE_ROOT");
    let site = match std::env::var_os("PEERCACHE_SITE_ROOT") {
        Some(root) => PathBuf::from(root),
        None => {
            // OUT_DIR is <target>/<profile>/build/server-<hash>/out.
            let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
            out.ancestors().nth(4).expect("OUT_DIR is inside the build directory").join("site")
        }
    };
    let pkg = site.join("pkg");
    // Watching a path that does not exist would rebuild every time: watch
    // the nearest one that does (the bundle appears inside it).
    match [&pkg, &site].into_iter().find(|dir| dir.is_dir()) {
        Some(dir) => println!("cargo:rerun-if-changed={}", dir.display()),
        None => println!("cargo:rerun-if-changed=build.rs"),
    }
    if let Ok(files) = std::fs::read_dir(&pkg) {
        for file in files.flatten() {
            println!("cargo:rerun-if-changed={}", file.path().display());
        }
    }
    println!("cargo:rustc-env=PEERCACHE_PKG_DIR={}", pkg.display());
}
