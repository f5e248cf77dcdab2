//! The hosts a download's redirect may lead to: GitHub's asset and archive
//! hosts by default, or a GitHub Enterprise Server's (and the tests'
//! stand-in's) when named with `--asset-hosts`. A redirect anywhere else is
//! not followed: it could lead the node to any address.

use std::str::FromStr;
use std::sync::Arc;

/// GitHub's own: release assets (old and new) and source archives.
pub const DEFAULT_ASSET_HOSTS: &str =
    "objects.githubusercontent.com,release-assets.githubusercontent.com,codeload.github.com";

/// `host` (HTTPS on its default port) or `host:port` (any scheme, that port).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Host {
    name: String,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetHosts(Arc<[Host]>);

impl FromStr for AssetHosts {
    type Err = String;

    fn from_str(text: &str) -> Result<AssetHosts, String> {
        let mut hosts = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let (name, port) = match item.rsplit_once(':') {
                Some((name, port)) => {
                    (name, Some(port.parse::<u16>().map_err(|_| format!("{item:?}: the port is not a number"))?))
                }
                None => (item, None),
            };
            let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
            if !ok {
                return Err(format!("{item:?} is not a host or host:port"));
            }
            hosts.push(Host { name: name.to_ascii_lowercase(), port });
        }
        Ok(AssetHosts(hosts.into()))
    }
}

impl AssetHosts {
    /// Whether a download may be fetched from `url`.
    pub fn allows(&self, url: &reqwest::Url) -> bool {
        let Some(name) = url.host_str().map(str::to_ascii_lowercase) else { return false };
        self.0.iter().any(|host| {
            host.name == name
                && match host.port {
                    Some(port) => url.port_or_known_default() == Some(port),
                    None => url.scheme() == "https" && url.port_or_known_default() == Some(443),
                }
        })
    }

    /// Whether `authority` (a `Host` header) names one of the hosts, as `gh`
    /// sends it down its socket.
    pub fn names(&self, authority: &str) -> bool {
        let authority = authority.to_ascii_lowercase();
        let (name, port) = match authority.rsplit_once(':') {
            Some((name, port)) => (name, port.parse::<u16>().ok()),
            None => (authority.as_str(), None),
        };
        self.0.iter().any(|host| host.name == name && (host.port.is_none() || host.port == port))
    }

    /// Why a download is not fetched from `url`, in words.
    pub fn refusal(&self, url: &reqwest::Url) -> String {
        let named: Vec<String> = self
            .0
            .iter()
            .map(|h| match h.port {
                Some(port) => format!("{}:{port}", h.name),
                None => h.name.clone(),
            })
            .collect();
        format!(
            "GitHub sent the download to {}, which is not one of the asset hosts peercache follows redirects to \
             ({}; set --asset-hosts / CACHE_ASSET_HOSTS to name a GitHub Enterprise Server's)",
            url.host_str().unwrap_or("?"),
            named.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap()
    }

    #[test]
    fn redirects_lead_only_to_the_named_hosts() {
        let hosts: AssetHosts = DEFAULT_ASSET_HOSTS.parse().unwrap();
        assert!(hosts.allows(&url("https://release-assets.githubusercontent.com/x?sig=1")));
        assert!(hosts.allows(&url("https://codeload.github.com/o/r/legacy.tar.gz/main")));
        assert!(!hosts.allows(&url("http://objects.githubusercontent.com/x")), "not over plain HTTP");
        assert!(!hosts.allows(&url("https://objects.githubusercontent.com:8443/x")));
        assert!(!hosts.allows(&url("https://objects.githubusercontent.com.evil.example/x")));
        assert!(!hosts.allows(&url("https://169.254.169.254/latest/meta-data")));
        let test: AssetHosts = "127.0.0.1:4000, GHE.example".parse().unwrap();
        assert!(test.allows(&url("http://127.0.0.1:4000/a")));
        assert!(!test.allows(&url("http://127.0.0.1:4001/a")));
        assert!(test.allows(&url("https://ghe.example/a")));
        assert!(test.names("ghe.example") && test.names("127.0.0.1:4000") && !test.names("127.0.0.1"));
        assert!(hosts.refusal(&url("https://evil.example/")).contains("evil.example"));
        assert!("a b".parse::<AssetHosts>().is_err());
        assert!("host:x".parse::<AssetHosts>().is_err());
    }
}
