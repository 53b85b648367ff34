fn main() {
    rimager::resources::tune_allocator();
    std::process::exit(rimager::cli::main());
}
