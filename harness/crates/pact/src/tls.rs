//! The rustls crypto provider.
//!
//! The Pact crates turn on reqwest's `rustls-no-provider` backend, and Cargo unifies
//! features across a build: in any build that contains them, every `reqwest::Client` (the
//! verifier's, yours, a sample service's) panics at `build()` unless a process-wide rustls
//! provider is installed first. The verifier calls [`ensure_crypto_provider`] before it
//! builds a client; call it yourself before building clients in tests that share a build
//! with Harness's `pact` feature.

/// Installs rustls's `ring` provider as the process default, unless one is installed.
/// Cheap and idempotent; safe to call from many threads.
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing a provider is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_builds_after_the_provider_is_ensured() {
        super::ensure_crypto_provider();
        super::ensure_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        reqwest::Client::builder().build().unwrap();
    }
}
