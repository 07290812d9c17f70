//! The HTTP proxy of a job (`proxy_url`): its address, the
//! `Proxy-Authorization` made from the URL's user info, and the `CONNECT`
//! tunnel https targets go through. Plain-http targets need no tunnel: the
//! client sends them to the proxy in absolute form, with the proxy's
//! credentials on the request.

use base64::Engine as _;
use http::header::HeaderValue;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::UpstreamError;

/// Longest `CONNECT` answer read from a proxy; a proxy that sends more
/// headers than this is broken.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// An HTTP proxy from `proxy_url`.
#[derive(Debug)]
pub(super) struct ProxyEndpoint {
    /// `host:port`.
    pub(super) address: String,
    /// `Proxy-Authorization` from the URL's user info.
    pub(super) authorization: Option<HeaderValue>,
}

impl ProxyEndpoint {
    pub(super) fn parse(url: &str) -> Result<Self, UpstreamError> {
        let bad = |reason: &str| UpstreamError::Settings(format!("proxy_url: {reason}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// proxies are supported"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        if host_port.is_empty() {
            return Err(bad("no host"));
        }
        let address = if host_port
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
            && !host_port.ends_with(']')
        {
            host_port.to_owned()
        } else {
            format!("{host_port}:80")
        };
        let authorization = match userinfo {
            Some(userinfo) => {
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(percent_decode(userinfo));
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| bad("user info is not a valid header"))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            address,
            authorization,
        })
    }
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Some(value) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Asks the proxy for a tunnel to the target (`CONNECT host:port`).
pub(super) async fn tunnel(
    tcp: &mut TcpStream,
    proxy: &ProxyEndpoint,
    authority: &str,
) -> Result<(), UpstreamError> {
    let fail = |reason: String| UpstreamError::Proxy {
        proxy: proxy.address.clone(),
        authority: authority.to_owned(),
        reason,
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(value) = &proxy.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(value.to_str().unwrap_or_default());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    // Read byte-wise up to the blank line so that nothing of the TLS stream
    // that follows is consumed.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_RESPONSE {
            return Err(fail("CONNECT answer too long".into()));
        }
        let byte = tcp
            .read_u8()
            .await
            .map_err(|e| fail(format!("reading CONNECT answer: {e}")))?;
        head.push(byte);
    }
    let status_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line).trim().to_owned();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if code.starts_with('2') {
        Ok(())
    } else {
        Err(fail(format!("CONNECT refused: {status_line}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_with_credentials() {
        let proxy = ProxyEndpoint::parse("http://u%40x:p@127.0.0.1:3128/").unwrap();
        assert_eq!(proxy.address, "127.0.0.1:3128");
        let auth = proxy.authorization.unwrap();
        let want = base64::engine::general_purpose::STANDARD.encode("u@x:p");
        assert_eq!(auth.to_str().unwrap(), format!("Basic {want}"));
        assert_eq!(
            ProxyEndpoint::parse("http://proxy.local").unwrap().address,
            "proxy.local:80"
        );
        assert!(ProxyEndpoint::parse("socks5://x:1").is_err());
    }
}
