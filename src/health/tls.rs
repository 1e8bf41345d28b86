//! TLS client set-up for `https` checks.
//!
//! By default the certificate is not verified: backends are usually addressed by IP with
//! self-signed or internal certificates, and the check asks "does it answer", not "is it who it
//! says". The handshake signatures are still checked. With `tls_verify = true` the chain is
//! verified against the system's root store, for `tls_server_name`, else the `host` name, else
//! the IP address; the same name goes in SNI.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Built once per process: loading the system root store reads hundreds of files.
pub(super) fn client_config(verify: bool) -> Result<Arc<ClientConfig>, String> {
    static VERIFYING: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    static TRUSTING: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    if verify {
        VERIFYING.get_or_init(verifying).clone()
    } else {
        TRUSTING.get_or_init(trusting).clone()
    }
}

/// The name sent in SNI and verified with `tls_verify`: `tls_server_name` when set, else the
/// `host` setting (without a port) when it is a valid name, else the IP address.
pub(super) fn server_name(
    tls_server_name: Option<&str>,
    host: Option<&str>,
    ip: IpAddr,
) -> ServerName<'static> {
    tls_server_name
        .or(host.map(strip_port))
        .and_then(|h| ServerName::try_from(h.to_string()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(ip.into()))
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.parse::<u16>().is_ok() => name,
        _ => host,
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn verifying() -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err("no trusted root certificates found on this system".into());
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn trusting() -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any certificate, but still checks that the server holds its key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_uses_the_host_without_its_port() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            server_name(None, Some("www.example.com:8443"), ip),
            ServerName::try_from("www.example.com").unwrap()
        );
        assert_eq!(
            server_name(None, None, ip),
            ServerName::IpAddress(ip.into())
        );
        assert_eq!(
            server_name(None, Some("[2001:db8::1]:443"), ip),
            ServerName::IpAddress("2001:db8::1".parse::<IpAddr>().unwrap().into())
        );
    }

    #[test]
    fn tls_server_name_overrides_the_host() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            server_name(Some("api.internal"), Some("www.example.com"), ip),
            ServerName::try_from("api.internal").unwrap()
        );
        assert_eq!(
            server_name(Some("10.9.9.9"), None, ip),
            ServerName::IpAddress("10.9.9.9".parse::<IpAddr>().unwrap().into())
        );
    }

    #[test]
    fn both_client_configs_build() {
        assert!(client_config(false).is_ok());
    }
}
