//! The process-wide rustls crypto provider that `reqwest` clients need.
//!
//! The services build reqwest without TLS, but Cargo unifies features across a build: when
//! a build also contains the Pact crates (the contract tests, `cargo nextest run
//! --workspace`), reqwest is compiled with its `rustls-no-provider` backend, and every
//! `reqwest::Client` then panics at `build()` ("No rustls crypto provider is configured")
//! unless a provider was installed first. Call [`ensure_crypto_provider`] before building
//! a client; in a build without Pact it costs nothing and changes nothing.

/// Installs rustls's `ring` provider as the process default, unless one is installed
/// already. Idempotent and safe to call from many threads.
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread that installs a provider is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_provider_is_installed_once_and_stays() {
        super::ensure_crypto_provider();
        let first = rustls::crypto::CryptoProvider::get_default().cloned();
        assert!(first.is_some());
        super::ensure_crypto_provider();
        assert!(std::sync::Arc::ptr_eq(
            &first.unwrap(),
            rustls::crypto::CryptoProvider::get_default().unwrap()
        ));
    }
}
