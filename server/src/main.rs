//! `peercache`: the command line (see `server::cli`).

/// A cache hit allocates a few dozen small objects (request and response
/// heads, keys, boxed bodies); mimalloc serves them with less work than
/// glibc's allocator (see BENCHMARKS.md, "Proxy HITs against nginx").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // mimalloc asks for transparent huge pages where the kernel offers them
    // (`madvise` mode): each 2 MiB page counts whole in a node's RSS however
    // little of it is used, about 12-18 MiB of an idle node's 48 (see
    // BENCHMARKS.md, "What a node costs"). A node's heap is small; 4 KiB
    // pages it is.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    server::cli::main()
}
