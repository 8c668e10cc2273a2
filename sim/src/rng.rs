//! Named random streams. Every random choice in a run comes from a ChaCha stream derived from the
//! run seed and a stream name, so that drawing more numbers from one stream (say, the workload
//! after a shrinker removed an operation) never shifts another (the fault plan, the network).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The stream named `name` of run `seed`. The derivation is a fixed FNV-1a mix, stable across
/// platforms and releases, so a seed means the same schedule everywhere.
pub fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&h.to_le_bytes());
    key[16..24].copy_from_slice(&(seed ^ h.rotate_left(17)).to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// True with probability `num / den`, exactly (integer ratio, no float rounding).
pub fn chance(rng: &mut impl rand::Rng, num: u32, den: u32) -> bool {
    debug_assert!(den > 0 && num <= den);
    rng.gen_range(0..den) < num
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a1: Vec<u64> = (0..4).map(|_| 0).scan(stream(7, "workload"), |r, _| Some(r.gen())).collect();
        let a2: Vec<u64> = (0..4).map(|_| 0).scan(stream(7, "workload"), |r, _| Some(r.gen())).collect();
        let b: Vec<u64> = (0..4).map(|_| 0).scan(stream(7, "faults"), |r, _| Some(r.gen())).collect();
        let c: Vec<u64> = (0..4).map(|_| 0).scan(stream(8, "workload"), |r, _| Some(r.gen())).collect();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }
}
