//! Stream names derived from topic names.
//!
//! A topic is a NATS subject (`orders.kitchen`), but a stream name may not contain `.`. The
//! mapping must be injective — two topics sharing a stream would share messages — and stable
//! across processes and versions, since every process of a deployment derives the same name.
//!
//! The encoding is a prefix-free code over the characters a topic may hold: letters and digits
//! stand for themselves, `.` becomes `_`, `-` becomes `--` and `_` becomes `-_`. No code is a
//! prefix of another, so every encoded name decodes one way only. Common names stay readable:
//! `orders.kitchen` → `PIGEON_orders_kitchen`.
//!
//! Stream names are directory names in file storage, so a name that would exceed
//! [`MAX_STREAM_NAME`] is cut and suffixed with a 64-bit FNV-1a hash of the whole topic: not
//! injective in theory, but a collision needs two 200-byte topics with equal hashes.

/// Longest stream name this backend creates (file systems allow 255 bytes per path part).
pub(crate) const MAX_STREAM_NAME: usize = 200;

/// The stream that holds `topic`, under `prefix`.
pub(crate) fn stream_name(prefix: &str, topic: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + topic.len() + 4);
    name.push_str(prefix);
    for c in topic.chars() {
        match c {
            '.' => name.push('_'),
            '-' => name.push_str("--"),
            '_' => name.push_str("-_"),
            // Topics are validated before they get here; anything else is kept as hex so the
            // name stays a valid stream name whatever it is given.
            c if c.is_ascii_alphanumeric() => name.push(c),
            c => {
                name.push_str("-x");
                name.push_str(&format!("{:x}", u32::from(c)));
                name.push('-');
            }
        }
    }
    if name.len() > MAX_STREAM_NAME {
        let hash = format!("-h{:016x}", fnv1a64(topic.as_bytes()));
        let mut cut = MAX_STREAM_NAME - hash.len();
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        name.push_str(&hash);
    }
    name
}

/// 64-bit FNV-1a: tiny, and stable forever, unlike `std`'s hasher.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_for_common_names() {
        assert_eq!(stream_name("PIGEON_", "orders"), "PIGEON_orders");
        assert_eq!(
            stream_name("PIGEON_", "orders.kitchen"),
            "PIGEON_orders_kitchen"
        );
        assert_eq!(
            stream_name("P_", "order-validation.dlq"),
            "P_order--validation_dlq"
        );
    }

    #[test]
    fn distinct_topics_get_distinct_streams() {
        let topics = [
            "a.b", "a_b", "a-b", "a._b", "a_.b", "a-_b", "a--b", "a__b", "a.-b", "a-.b", "a.b.c",
            "a_b_c", "ab", "a.b_c", "a_b.c",
        ];
        let mut names: Vec<_> = topics.iter().map(|t| stream_name("P_", t)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), topics.len(), "{names:?}");
    }

    #[test]
    fn names_are_valid_stream_names() {
        for topic in ["a.b", "x-y_z.1", "ü"] {
            let name = stream_name("PIGEON_", topic);
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{name}"
            );
        }
    }

    #[test]
    fn long_names_are_cut_and_hashed() {
        let a = stream_name("PIGEON_", &"-".repeat(200));
        let b = stream_name("PIGEON_", &format!("{}_", "-".repeat(199)));
        assert!(a.len() <= MAX_STREAM_NAME);
        assert!(b.len() <= MAX_STREAM_NAME);
        assert_ne!(a, b);
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
