//! Names in the KV buckets: bucket names may hold `[A-Za-z0-9_-]`, keys also `.`, `/` and `=`.
//! The cluster prefix is free text (`blue.`), device ids are not ours to constrain, so both are
//! mapped onto those alphabets.

/// `PIGEON_{prefix}{what}`, with every character outside `[A-Za-z0-9_-]` as `_`.
pub(crate) fn bucket(prefix: &str, what: &str) -> String {
    let mut name = String::from("PIGEON_");
    for c in prefix.chars().chain(what.chars()) {
        name.push(if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '_'
        });
    }
    name
}

/// A KV key for `id`: itself when it is made of `[A-Za-z0-9_-]`, else `x=` and its bytes in
/// hex. Plain keys never hold `=`, so the two forms never meet.
pub(crate) fn key(id: &str) -> String {
    if is_plain(id) {
        id.to_owned()
    } else {
        let mut key = String::from("x=");
        for b in id.bytes() {
            key.push_str(&format!("{b:02x}"));
        }
        key
    }
}

/// True when `id` is non-empty and made of `[A-Za-z0-9_-]`.
pub(crate) fn is_plain(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_sanitized() {
        assert_eq!(bucket("blue.", "sessions"), "PIGEON_blue_sessions");
        assert_eq!(bucket("", "nodes"), "PIGEON_nodes");
    }

    #[test]
    fn keys_stay_plain_or_become_hex() {
        assert_eq!(key("dev-1_A"), "dev-1_A");
        assert_eq!(key("a.b"), "x=612e62");
        assert_ne!(key("x=612e62"), key("a.b"));
    }
}
