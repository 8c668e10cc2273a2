fn main() -> std::process::ExitCode {
    tiersim::cli::main_with(tiersim::Registry::new().protocol(our_cache::OurCache::default))
}
