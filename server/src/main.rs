//! `peercache`: the command line (see `server::cli`).

/// A cache hit allocates a few dozen small objects (request and response
/// heads, keys, boxed bodies); mimalloc serves them with less work than
/// glibc's allocator (see BENCHMARKS.md, "Proxy HITs against nginx").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    server::cli::main()
}
