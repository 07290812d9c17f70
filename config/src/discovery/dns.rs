//! `dns_sd_configs`: SRV, A, AAAA and MX lookups through hickory-resolver,
//! re-queried every `refresh_interval`. One group per name (source = the
//! name); a failed lookup keeps that name's last groups, a name without
//! records has no targets.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::{
    BoxFuture, Discoverer, ProviderMessage, ProviderSender, SdError, groups_unless_all_failed,
    poll_interval, wait_unless_closed,
};
use crate::config::{DnsRecordType, DnsSdConfig};
use crate::labels::LabelSet;
use crate::target_group::TargetGroup;

/// One answer record, as the mapping to targets needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsRecord {
    /// SRV: target name (as returned, usually with a final dot) and port.
    Srv {
        /// Target host name.
        target: String,
        /// Port.
        port: u16,
    },
    /// MX exchanger name.
    Mx(String),
    /// An address (A or AAAA).
    Addr(IpAddr),
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The group Prometheus builds for `name` from its answer records.
pub fn records_to_group(name: &str, records: &[DnsRecord], port: u16) -> TargetGroup {
    let mut group = TargetGroup {
        source: name.to_owned(),
        ..TargetGroup::default()
    };
    for record in records {
        let (address, srv_target, srv_port, mx_target) = match record {
            DnsRecord::Srv { target, port } => (
                join_host_port(target.trim_end_matches('.'), *port),
                target.clone(),
                port.to_string(),
                String::new(),
            ),
            DnsRecord::Mx(exchange) => (
                join_host_port(exchange.trim_end_matches('.'), port),
                String::new(),
                String::new(),
                exchange.clone(),
            ),
            DnsRecord::Addr(ip) => (
                join_host_port(&ip.to_string(), port),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        group.targets.push(LabelSet::from_pairs([
            ("__address__", address.as_str()),
            ("__meta_dns_name", name),
            ("__meta_dns_srv_record_target", srv_target.as_str()),
            ("__meta_dns_srv_record_port", srv_port.as_str()),
            ("__meta_dns_mx_record_target", mx_target.as_str()),
        ]));
    }
    group
}

/// One `dns_sd_configs` entry.
#[derive(Debug, Clone)]
pub struct DnsDiscoverer {
    name: String,
    config: DnsSdConfig,
    nameserver: Option<SocketAddr>,
}

impl DnsDiscoverer {
    /// A provider using the system resolver configuration.
    pub fn new(name: String, config: DnsSdConfig) -> Self {
        Self {
            name,
            config,
            nameserver: None,
        }
    }

    /// A provider asking `nameserver` (UDP) only.
    pub fn with_nameserver(name: String, config: DnsSdConfig, nameserver: SocketAddr) -> Self {
        Self {
            name,
            config,
            nameserver: Some(nameserver),
        }
    }

    fn resolver(&self) -> Result<TokioResolver, String> {
        match self.nameserver {
            None => TokioResolver::builder_tokio()
                .map_err(|e| e.to_string())?
                .build()
                .map_err(|e| e.to_string()),
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                    addr.ip(),
                    true,
                    vec![udp],
                )]);
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
                    .build()
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Looks up every name; failed names are returned as errors.
    async fn lookup_all(&self, resolver: &TokioResolver) -> (Vec<TargetGroup>, Vec<String>) {
        let record_type = match self.config.record_type {
            DnsRecordType::Srv => RecordType::SRV,
            DnsRecordType::A => RecordType::A,
            DnsRecordType::Aaaa => RecordType::AAAA,
            DnsRecordType::Mx => RecordType::MX,
        };
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        for name in &self.config.names {
            match resolver.lookup(name.as_str(), record_type).await {
                Ok(lookup) => {
                    let records: Vec<DnsRecord> = lookup
                        .answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::SRV(srv) => Some(DnsRecord::Srv {
                                target: srv.target.to_ascii(),
                                port: srv.port,
                            }),
                            RData::MX(mx) => Some(DnsRecord::Mx(mx.exchange.to_ascii())),
                            RData::A(a) => Some(DnsRecord::Addr(IpAddr::V4(a.0))),
                            RData::AAAA(a) => Some(DnsRecord::Addr(IpAddr::V6(a.0))),
                            // CNAMEs come with A answers; other types are ignored like Prometheus does.
                            _ => None,
                        })
                        .collect();
                    groups.push(records_to_group(name, &records, self.config.port));
                }
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                    groups.push(records_to_group(name, &[], self.config.port));
                }
                Err(e) => errors.push(format!("looking up {name}: {e}")),
            }
        }
        (groups, errors)
    }
}

impl Discoverer for DnsDiscoverer {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Vec<TargetGroup>, SdError>> {
        Box::pin(async move {
            let resolver = self.resolver().map_err(|message| SdError {
                provider: self.name.clone(),
                message,
            })?;
            let (groups, errors) = self.lookup_all(&resolver).await;
            groups_unless_all_failed(&self.name, groups, errors)
        })
    }

    fn run(self: Arc<Self>, tx: ProviderSender) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let interval = poll_interval(self.config.refresh_interval);
            let resolver = match self.resolver() {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(ProviderMessage::Error(e)).await;
                    return;
                }
            };
            loop {
                let (groups, errors) = self.lookup_all(&resolver).await;
                // Only names that answered are updated; failed ones keep their groups.
                if tx.send(ProviderMessage::Update(groups)).await.is_err() {
                    return;
                }
                for e in errors {
                    if tx.send(ProviderMessage::Error(e)).await.is_err() {
                        return;
                    }
                }
                if !wait_unless_closed(interval, &tx).await {
                    return;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_and_a_records_map_like_prometheus() {
        let g = records_to_group(
            "_x._tcp.example.org",
            &[
                DnsRecord::Srv {
                    target: "node1.example.org.".into(),
                    port: 9100,
                },
                DnsRecord::Addr("::1".parse().unwrap()),
            ],
            80,
        );
        assert_eq!(g.source, "_x._tcp.example.org");
        assert_eq!(
            g.targets[0].get("__address__"),
            Some("node1.example.org:9100")
        );
        assert_eq!(
            g.targets[0].get("__meta_dns_srv_record_target"),
            Some("node1.example.org.")
        );
        assert_eq!(g.targets[0].get("__meta_dns_srv_record_port"), Some("9100"));
        assert_eq!(g.targets[1].get("__address__"), Some("[::1]:80"));
        assert_eq!(g.targets[1].get("__meta_dns_srv_record_target"), Some(""));
    }
}
