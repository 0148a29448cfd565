//! Secrets made here: API keys, client secrets, bearer tokens, passwords, session nonces, ids.
//! All from the OS's random source.

use base64::Engine;

use crate::error::ApiError;

/// `n` random bytes from the OS.
pub fn bytes(n: usize) -> Result<Vec<u8>, ApiError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| ApiError::internal(format!("OS randomness: {e}")))?;
    Ok(b)
}

/// `prefix` + 32 random bytes in URL-safe base64 without padding (43 characters).
pub fn secret(prefix: &str) -> Result<String, ApiError> {
    let b = bytes(32)?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    ))
}

/// A short random id (hex), safe in URLs and entity ids.
pub fn id(prefix: &str) -> Result<String, ApiError> {
    let b = bytes(6)?;
    let mut s = String::from(prefix);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    Ok(s)
}

/// A password for people to type once: 20 characters of letters and digits (~119 bits).
pub fn password() -> Result<String, ApiError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        for b in bytes(32)? {
            // Rejection sampling keeps the characters equally likely.
            let limit = 256 - 256 % ALPHABET.len();
            if (b as usize) < limit && out.len() < 20 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        let k = super::secret("gwk_").unwrap();
        assert_eq!(k.len(), 4 + 43);
        assert_ne!(k, super::secret("gwk_").unwrap());
        assert_eq!(super::password().unwrap().len(), 20);
        assert!(gatewatch_model::field::check_id("id", &super::id("key-").unwrap()).is_ok());
    }
}
