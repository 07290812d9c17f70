//! The configuration the operator itself generated: the gzipped
//! `prometheus.yaml.gz` key of its `prometheus-<name>` Secret, and the
//! `$(VAR)` references its config reloader expands before Prometheus reads
//! the file (`$(POD_NAME)` in external labels, `$(SHARD)` in the sharding
//! rules).

use std::collections::BTreeMap;
use std::io::Read;

/// The key of the operator's config Secret that holds the configuration.
pub const CONFIG_SECRET_KEY: &str = "prometheus.yaml.gz";

/// A bound for the inflated configuration, far above any real one (the
/// Secret itself is limited to 1 MiB compressed).
pub const DEFAULT_MAX_CONFIG_BYTES: usize = 64 << 20;

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Why the configuration cannot be read or expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigSecretError {
    /// The gzip stream is corrupt.
    #[error("read compressed config file: {0}")]
    Gzip(String),
    /// It inflates past the limit given.
    #[error("compressed config file inflates to more than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// It is not UTF-8 text.
    #[error("config file is not UTF-8 text: {0}")]
    NotUtf8(String),
    /// A `$(VAR)` names a variable the environment does not set.
    #[error("expand environment variables: found reference to unset environment variable {0:?}")]
    UnsetVariable(String),
}

/// The configuration text of `bytes`: inflated when gzipped (as the config
/// reloader detects it, by the gzip magic), as is otherwise. Inflating
/// stops with [`ConfigSecretError::TooLarge`] past `max_bytes`, so a hostile
/// Secret cannot exhaust memory.
pub fn decode_config(bytes: &[u8], max_bytes: usize) -> Result<String, ConfigSecretError> {
    let data = if bytes.starts_with(&GZIP_MAGIC) {
        let mut decoder = flate2::read::GzDecoder::new(bytes);
        let mut out = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = decoder
                .read(&mut chunk)
                .map_err(|e| ConfigSecretError::Gzip(e.to_string()))?;
            if n == 0 {
                break;
            }
            if out.len() + n > max_bytes {
                return Err(ConfigSecretError::TooLarge { limit: max_bytes });
            }
            out.extend_from_slice(&chunk[..n]);
        }
        out
    } else {
        if bytes.len() > max_bytes {
            return Err(ConfigSecretError::TooLarge { limit: max_bytes });
        }
        bytes.to_vec()
    };
    String::from_utf8(data).map_err(|e| ConfigSecretError::NotUtf8(e.to_string()))
}

/// Expands `$(NAME)` references (`NAME` of `[a-zA-Z_0-9]+`) from `env` in
/// one pass, as the config reloader does: values are not expanded again,
/// other `$` text is kept, and a name `env` lacks is an error.
pub fn expand_env(text: &str, env: &BTreeMap<String, String>) -> Result<String, ConfigSecretError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with(')') {
            let name = &after[..name_len];
            let value = env
                .get(name)
                .ok_or_else(|| ConfigSecretError::UnsetVariable(name.to_owned()))?;
            out.push_str(value);
            rest = &after[name_len + 1..];
        } else {
            out.push_str("$(");
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_gzip_and_passes_plain_text() {
        let text = "global:\n  scrape_interval: 30s\n";
        assert_eq!(decode_config(&gzip(text.as_bytes()), 1024).unwrap(), text);
        assert_eq!(decode_config(text.as_bytes(), 1024).unwrap(), text);
    }

    #[test]
    fn inflating_is_bounded() {
        // 4 MiB of zeros compress to a few KiB.
        let bomb = gzip(&vec![b'0'; 4 << 20]);
        assert!(bomb.len() < 64 << 10);
        assert_eq!(
            decode_config(&bomb, 1 << 20).unwrap_err(),
            ConfigSecretError::TooLarge { limit: 1 << 20 }
        );
        assert!(decode_config(&bomb, 4 << 20).is_ok());
    }

    #[test]
    fn corrupt_or_binary_input_is_an_error() {
        let mut broken = gzip(b"scrape_configs: []\n");
        let cut = broken.len() - 12;
        broken.truncate(cut);
        assert!(matches!(
            decode_config(&broken, 1024),
            Err(ConfigSecretError::Gzip(_))
        ));
        assert!(matches!(
            decode_config(&[0xff, 0xfe, 0x00], 1024),
            Err(ConfigSecretError::NotUtf8(_))
        ));
    }

    #[test]
    fn reads_the_operators_config_secret() {
        use base64::Engine as _;
        let config = "global:\n  external_labels:\n    prometheus_replica: $(POD_NAME)\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(gzip(config.as_bytes()));
        let manifest = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: prometheus-k8s, namespace: monitoring}}\ndata:\n  {CONFIG_SECRET_KEY}: {encoded}\n"
        );
        let loaded = crate::load::load_documents([("secret.yaml", manifest.as_str())]).unwrap();
        let secret = &loaded.resources.secrets[0];
        let text = decode_config(&secret.raw[CONFIG_SECRET_KEY], DEFAULT_MAX_CONFIG_BYTES).unwrap();
        assert_eq!(text, config);
        let env = BTreeMap::from([("POD_NAME".to_string(), "prometheus-k8s-1".to_string())]);
        assert!(
            expand_env(&text, &env)
                .unwrap()
                .contains("prometheus_replica: prometheus-k8s-1")
        );
    }

    #[test]
    fn expands_like_the_config_reloader() {
        let env = BTreeMap::from([
            ("POD_NAME".to_string(), "prometheus-k8s-0".to_string()),
            ("SHARD".to_string(), "0".to_string()),
            ("LOOP".to_string(), "$(SHARD)".to_string()),
        ]);
        let text = "replica: $(POD_NAME)\nregex: $(SHARD);|.+;.+\nkeep: $1 ${1} $(not-a-name) $() $(\nloop: $(LOOP)\n";
        assert_eq!(
            expand_env(text, &env).unwrap(),
            "replica: prometheus-k8s-0\nregex: 0;|.+;.+\nkeep: $1 ${1} $(not-a-name) $() $(\nloop: $(SHARD)\n"
        );
        assert_eq!(
            expand_env("a: $(NAMESPACE)", &env).unwrap_err().to_string(),
            "expand environment variables: found reference to unset environment variable \"NAMESPACE\""
        );
    }
}
