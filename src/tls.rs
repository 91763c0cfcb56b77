//! TLS for outgoing HTTPS (the LLM and remote embedding endpoints): rustls with the `ring`
//! crypto provider. (reqwest's default provider, aws-lc-rs, is a large C build that would
//! add minutes to every clean build for no difference here.)

use std::sync::Once;

/// Installs the process-wide rustls crypto provider. Call before building any HTTP client;
/// safe to call many times.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error means another provider was installed first; that one is then used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn https_clients_can_be_built() {
        super::init();
        super::init();
        assert!(reqwest::Client::builder().https_only(true).build().is_ok());
    }
}
