fn main() {
    std::process::exit(rimager::cli::main());
}
