//! Prometheus versions as the operator compares them (semver, parsed
//! tolerantly: `v3.1`, `2.45.0-rc.1`).

use std::cmp::Ordering;

/// The operator release this crate follows.
pub const OPERATOR_VERSION: &str = "0.89.0";

/// The Prometheus version the operator assumes when `spec.version` is
/// unset (the newest entry of its compatibility matrix).
pub const DEFAULT_PROMETHEUS_VERSION: &str = "v3.9.1";

/// A semantic version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Pre-release identifiers (`rc.0`), empty for a release.
    pub pre: Vec<String>,
}

impl Version {
    /// Parses like semver's `ParseTolerant`: an optional `v`, missing minor
    /// and patch read as 0.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let (core, pre) = match t.split_once('-') {
            Some((c, p)) => (c, p.split('.').map(str::to_owned).collect()),
            None => (t, Vec::new()),
        };
        let core = core.split_once('+').map_or(core, |(c, _)| c);
        let mut parts = core.split('.');
        let mut number = |required: bool| -> Result<u64, String> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().map_err(|_| format!("invalid version {text:?}"))
                }
                None if !required => Ok(0),
                _ => Err(format!("invalid version {text:?}")),
            }
        };
        let v = Self {
            major: number(true)?,
            minor: number(false)?,
            patch: number(false)?,
            pre,
        };
        if parts.next().is_some() {
            return Err(format!("invalid version {text:?}"));
        }
        Ok(v)
    }

    /// `self >= other` (other given as text, known valid).
    pub fn at_least(&self, other: &str) -> bool {
        // Generation asks this a dozen times per job: release versions are
        // compared without building a `Version`.
        if !other.contains('-') {
            let mut parts = other.split('.').map(|p| p.parse::<u64>());
            if let (Some(Ok(major)), Some(Ok(minor)), Some(Ok(patch)), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            {
                let own = (self.major, self.minor, self.patch);
                return own > (major, minor, patch)
                    || (own == (major, minor, patch) && self.pre.is_empty());
            }
        }
        Self::parse(other).is_ok_and(|o| *self >= o)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let ord = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if ord != Ordering::Equal {
                            return ord;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre.join("."))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_parse_and_order() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(v("v2.45"), v("2.45.0"));
        assert!(v("3.0.0-rc.0") < v("3.0.0"));
        assert!(v("3.0.0-rc.0") > v("2.55.1"));
        assert!(v("3.0.0-beta.0") < v("3.0.0-rc.0"));
        assert!(v("2.9.0").at_least("2.9.0"));
        assert!(!v("2.8.9").at_least("2.9.0"));
        assert!(!v("3.0.0-rc.0").at_least("3.0.0"));
        assert!(v("3.0.0-rc.0").at_least("3.0.0-rc.0"));
        assert!(v("3.0.1").at_least("3.0.0-rc.0"));
        assert!(Version::parse("two").is_err());
        assert!(Version::parse("1.2.3.4").is_err());
    }
}
