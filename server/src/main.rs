//! `peercache`: the command line (see `server::cli`).

fn main() {
    server::cli::main()
}
