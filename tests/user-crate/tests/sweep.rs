use our_cache::OurCache;
use tiersim::prelude::*;

#[test]
fn our_cache_survives_the_fill_race() {
    Sweep::of(catalog::fill_race(), OurCache::default).seeds(0..200).assert_clean();
}

#[test]
fn regressions_reproduce() {
    Registry::new().protocol(OurCache::default).assert_replays("tiersim-regressions");
}
