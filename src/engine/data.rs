//! Generated test data. Every value comes from the virtual user's own seeded RNG, so the same
//! `--seed` yields the same names, passwords and objects. Entity identifiers also carry the run
//! tag, so that repeated runs against one database do not collide on unique emails.

use crate::ory::kratos::Traits;
use crate::secret::Secret;
use fake::faker::name::en::{FirstName, LastName};
use fake::Fake;
use rand::distributions::Alphanumeric;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A virtual user's RNG, derived from the run seed and the user's number.
pub fn vu_rng(seed: u64, vu_id: usize) -> SmallRng {
    // splitmix64 step so neighbouring ids get unrelated streams.
    let mut z = seed ^ (vu_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SmallRng::seed_from_u64(z ^ (z >> 31))
}

/// A short tag unique to this run (hex seconds since the epoch).
pub fn run_tag(started: std::time::SystemTime) -> String {
    let secs = started
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs:x}")
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub fn identity_traits(rng: &mut SmallRng, tag: &str, vu_id: usize, seq: u64) -> Traits {
    let first: String = FirstName().fake_with_rng(rng);
    let last: String = LastName().fake_with_rng(rng);
    let email = format!(
        "{}.{}.{tag}.{vu_id}.{seq}@example.org",
        slug(&first),
        slug(&last)
    );
    Traits { email, first, last }
}

pub fn first_name(rng: &mut SmallRng) -> String {
    FirstName().fake_with_rng(rng)
}

pub fn last_name(rng: &mut SmallRng) -> String {
    LastName().fake_with_rng(rng)
}

/// 20 random alphanumerics: passes Kratos's length and similarity rules, never a breached one.
pub fn password(rng: &mut SmallRng) -> Secret {
    Secret::new(
        (0..20)
            .map(|_| rng.sample(Alphanumeric) as char)
            .collect::<String>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_different_users_differ() {
        let a = identity_traits(&mut vu_rng(42, 1), "t", 1, 0);
        let b = identity_traits(&mut vu_rng(42, 1), "t", 1, 0);
        assert_eq!(a.email, b.email);
        assert_eq!(
            password(&mut vu_rng(42, 1)).expose(),
            password(&mut vu_rng(42, 1)).expose()
        );
        assert_ne!(
            password(&mut vu_rng(42, 1)).expose(),
            password(&mut vu_rng(42, 2)).expose()
        );
    }

    #[test]
    fn emails_are_unique_per_user_and_sequence_and_plain_ascii() {
        let mut rng = vu_rng(7, 3);
        let e1 = identity_traits(&mut rng, "abc", 3, 1).email;
        let e2 = identity_traits(&mut rng, "abc", 3, 2).email;
        assert_ne!(e1, e2);
        assert!(e1.ends_with(".abc.3.1@example.org"), "{e1}");
        assert!(e1.is_ascii() && e1 == e1.to_lowercase());
    }
}
