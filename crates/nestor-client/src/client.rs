//! [`Client`]: one typed method per REST endpoint, and [`ListOptions`] for lists.

use std::{sync::Once, time::Duration};

use nestor_model::{
    Component, ComponentFilter, ComponentPage, ComponentSpec, DependencyList, DependentList,
    OwnerList, OwnersRequest, PatchRequest, Problem, PublishResponse, SearchResults,
    ValidationReport, VersionList,
};
use serde::de::DeserializeOwned;

use crate::Error;

/// Filters and pagination for [`Client::list`]: the model's filter vocabulary
/// ([`ComponentFilter`]) and the list's own options.
///
/// ```
/// use nestor_client::{ListOptions, model::ComponentFilter};
/// let opts = ListOptions {
///     filter: ComponentFilter { provider: vec!["aws".into()], ..Default::default() },
///     limit: Some(10),
///     ..Default::default()
/// };
/// assert_eq!(opts.limit, Some(10));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Which components (provider, category, labels, …).
    pub filter: ComponentFilter,
    /// Words to look for (`q`); a list narrows by them, a search ranks by them.
    pub q: Option<String>,
    /// Consider pre-releases for "latest".
    pub include_prerelease: bool,
    /// Every version, not only each component's latest.
    pub all_versions: bool,
    /// The order; `None`: the server's default (relevance for searches, name for lists).
    pub sort: Option<SortOrder>,
    /// Facets to count over the whole result: `provider`, `category`, `resource_type`,
    /// `engine`, `maturity`, `support_level`, `label:<key>`.
    pub facets: Vec<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// Cursor from a previous page.
    pub cursor: Option<String>,
    /// Wait (up to 5 s, then a retriable 503) until the server's index has applied this
    /// revision: read-your-writes across replicas.
    pub min_revision: Option<u64>,
}

/// The order of a list or search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// By name, then version newest first.
    Name,
    /// Oldest publish first.
    PublishedAt,
    /// Newest publish first.
    PublishedAtDesc,
    /// Best match first (with a text query).
    Relevance,
}

impl SortOrder {
    fn as_str(self) -> &'static str {
        match self {
            SortOrder::Name => "name",
            SortOrder::PublishedAt => "published_at",
            SortOrder::PublishedAtDesc => "-published_at",
            SortOrder::Relevance => "relevance",
        }
    }
}

impl ListOptions {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = self.filter.to_query();
        if let Some(text) = &self.q {
            q.push(("q", text.clone()));
        }
        if let Some(c) = &self.cursor {
            q.push(("cursor", c.clone()));
        }
        if self.include_prerelease {
            q.push(("include_prerelease", "true".into()));
        }
        if self.all_versions {
            q.push(("all_versions", "true".into()));
        }
        if let Some(s) = self.sort {
            q.push(("sort", s.as_str().into()));
        }
        if !self.facets.is_empty() {
            q.push(("facets", self.facets.join(",")));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(r) = self.min_revision {
            q.push(("min_revision", r.to_string()));
        }
        q
    }
}

/// What [`Client::dependents_with`] asks for.
#[derive(Debug, Clone, Default)]
pub struct DependentsOptions {
    /// A proposed version: the answer's `blast_radius` and each direct dependent's `admits`.
    pub version: Option<String>,
    /// Also dependents of dependents (breadth first, each with its depth).
    pub transitive: bool,
    /// Consider pre-releases when picking each dependent's latest version.
    pub include_prerelease: bool,
    /// Page size.
    pub limit: Option<usize>,
    /// Cursor from a previous page.
    pub cursor: Option<String>,
    /// Wait until the server's index has applied this revision.
    pub min_revision: Option<u64>,
}

/// Longest wait for a TCP (and TLS) connection to be established.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// reqwest is built without a default rustls crypto provider (the default, aws-lc-rs, is a long
/// native build): install *ring* as the process default once, unless the application installed
/// one already.
fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: a provider is installed either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// A Nestor API client. Cheap to clone; clones share one connection pool.
///
/// ```
/// let client = nestor_client::Client::new("https://nestor.example.com").unwrap();
/// let copy = client.clone(); // same connection pool
/// assert_eq!(copy.base_url(), "https://nestor.example.com");
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    ///
    /// ```
    /// assert!(nestor_client::Client::new("http://127.0.0.1:8080").is_ok());
    /// assert!(nestor_client::Client::new("https://nestor.example.com").is_ok());
    /// assert!(nestor_client::Client::new("not a url").is_err());
    /// ```
    pub fn new(base_url: &str) -> Result<Self, Error> {
        Self::build(base_url, None)
    }

    /// A client that sends `token` as a bearer token on every request (servers with access
    /// control; reads may not need one, writes do).
    ///
    /// ```
    /// let client = nestor_client::Client::with_token("http://127.0.0.1:8080", "s3cret").unwrap();
    /// assert_eq!(client.base_url(), "http://127.0.0.1:8080");
    /// assert!(nestor_client::Client::with_token("http://127.0.0.1:8080", "bad\ntoken").is_err());
    /// ```
    pub fn with_token(base_url: &str, token: &str) -> Result<Self, Error> {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Error::BaseUrl {
                url: base_url.into(),
                message: "the token is not a valid header value".into(),
            })?;
        value.set_sensitive(true);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, value);
        Self::build(base_url, Some(headers))
    }

    fn build(base_url: &str, headers: Option<reqwest::header::HeaderMap>) -> Result<Self, Error> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 8 {
            return Err(Error::BaseUrl {
                url: base_url.into(),
                message: "must start with http:// or https://".into(),
            });
        }
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("nestor-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .default_headers(headers.unwrap_or_default())
            .build()
            .map_err(|e| Error::BaseUrl {
                url: base_url.into(),
                message: e.to_string(),
            })?;
        Ok(Client { http, base })
    }

    /// The base URL, without a trailing slash.
    ///
    /// ```
    /// let client = nestor_client::Client::new("http://127.0.0.1:8080/").unwrap();
    /// assert_eq!(client.base_url(), "http://127.0.0.1:8080");
    /// ```
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: String,
    ) -> Result<T, Error> {
        let res = req.send().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| Error::Unexpected {
                url,
                status,
                message: e.to_string(),
            });
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(p) => Err(Error::Api(Box::new(p))),
            Err(_) => Err(Error::Unexpected {
                url,
                status,
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let url = self.url(path);
        self.send(self.http.get(&url).query(query), url).await
    }

    /// One page of the latest version of each component.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let page = client.list(&nestor_client::ListOptions { limit: Some(10), ..Default::default() }).await?;
    /// println!("{} components, more: {}", page.items.len(), page.next_cursor.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, opts: &ListOptions) -> Result<ComponentPage, Error> {
        self.get("/api/v1/components", &opts.query()).await
    }

    /// Every page of [`Client::list`], followed to the end.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let aws = nestor_client::ListOptions {
    ///     filter: nestor_client::model::ComponentFilter { provider: vec!["aws".into()], ..Default::default() },
    ///     ..Default::default()
    /// };
    /// let all = client.list_all(&aws).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list_all(&self, opts: &ListOptions) -> Result<Vec<Component>, Error> {
        let mut opts = opts.clone();
        let mut all = Vec::new();
        loop {
            let page = self.list(&opts).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => opts.cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// The latest version of a component.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let vpc = client.latest("aws-vpc").await?;
    /// println!("aws-vpc is at {}", vpc.spec.version);
    /// # Ok(()) }
    /// ```
    pub async fn latest(&self, name: &str) -> Result<Component, Error> {
        self.get(&format!("/api/v1/components/{name}"), &[]).await
    }

    /// Every version of a component, newest first.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// for c in client.versions("aws-vpc").await?.items {
    ///     println!("{} yanked={}", c.spec.version, c.yanked);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn versions(&self, name: &str) -> Result<VersionList, Error> {
        self.get(&format!("/api/v1/components/{name}/versions"), &[])
            .await
    }

    /// One exact version.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let c = client.version("aws-vpc", "1.2.0").await?;
    /// # Ok(()) }
    /// ```
    pub async fn version(&self, name: &str, version: &str) -> Result<Component, Error> {
        self.get(
            &format!("/api/v1/components/{name}/versions/{version}"),
            &[],
        )
        .await
    }

    /// The highest version matching a requirement.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let c = client.resolve("aws-vpc", "^1.2").await?;
    /// # Ok(()) }
    /// ```
    pub async fn resolve(&self, name: &str, req: &str) -> Result<Component, Error> {
        self.get(
            &format!("/api/v1/components/{name}/resolve"),
            &[("req", req.to_owned())],
        )
        .await
    }

    /// Direct dependencies of a version, resolved.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// for d in client.dependencies("app", "1.0.0").await?.items {
    ///     println!("{} {} -> {:?}", d.name, d.version_req, d.resolved.map(|c| c.spec.version));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn dependencies(&self, name: &str, version: &str) -> Result<DependencyList, Error> {
        self.get(
            &format!("/api/v1/components/{name}/versions/{version}/dependencies"),
            &[],
        )
        .await
    }

    /// Components whose latest version depends on `name`.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let users = client.dependents("aws-vpc").await?.items;
    /// # Ok(()) }
    /// ```
    pub async fn dependents(&self, name: &str) -> Result<DependentList, Error> {
        self.dependents_with(name, &DependentsOptions::default())
            .await
    }

    /// The components that depend on `name`, with the options of [`DependentsOptions`]: the
    /// blast radius of a proposed version, the transitive walk, paging.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let opts = nestor_client::DependentsOptions { version: Some("2.0.0".into()), ..Default::default() };
    /// let impact = client.dependents_with("aws-vpc", &opts).await?;
    /// if let Some(radius) = impact.blast_radius {
    ///     println!("2.0.0 would need {} dependents to change", radius.must_change);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn dependents_with(
        &self,
        name: &str,
        opts: &DependentsOptions,
    ) -> Result<DependentList, Error> {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(v) = &opts.version {
            q.push(("version", v.clone()));
        }
        if opts.transitive {
            q.push(("transitive", "true".into()));
        }
        if opts.include_prerelease {
            q.push(("include_prerelease", "true".into()));
        }
        if let Some(l) = opts.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = &opts.cursor {
            q.push(("cursor", c.clone()));
        }
        if let Some(r) = opts.min_revision {
            q.push(("min_revision", r.to_string()));
        }
        self.get(&format!("/api/v1/components/{name}/dependents"), &q)
            .await
    }

    /// Ranked search.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// for hit in client.search("postgres").await?.items {
    ///     println!("{:.2} {}", hit.score, hit.component.spec.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn search(&self, query: &str) -> Result<SearchResults, Error> {
        self.get("/api/v1/search", &[("q", query.to_owned())]).await
    }

    /// Ranked search with filters, facets, sort and paging ([`ListOptions`]; its `q` is
    /// replaced by `query`).
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let opts = nestor_client::ListOptions { facets: vec!["provider".into()], ..Default::default() };
    /// let results = client.search_with("postgres", &opts).await?;
    /// println!("{} hits; by provider: {:?}", results.total, results.facets);
    /// # Ok(()) }
    /// ```
    pub async fn search_with(
        &self,
        query: &str,
        opts: &ListOptions,
    ) -> Result<SearchResults, Error> {
        let opts = ListOptions {
            q: Some(query.to_owned()),
            ..opts.clone()
        };
        self.get("/api/v1/search", &opts.query()).await
    }

    /// Publishes a definition.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client, spec: nestor_client::model::ComponentSpec) -> Result<(), nestor_client::Error> {
    /// let published = client.publish(&spec).await?;
    /// println!("{:?} at revision {}", published.outcome, published.component.revision);
    /// # Ok(()) }
    /// ```
    pub async fn publish(&self, spec: &ComponentSpec) -> Result<PublishResponse, Error> {
        let url = self.url("/api/v1/components");
        self.send(self.http.post(&url).json(spec), url).await
    }

    /// Validates a definition without publishing it.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client, spec: nestor_client::model::ComponentSpec) -> Result<(), nestor_client::Error> {
    /// let report = client.validate(&spec).await?;
    /// println!("valid: {}", report.valid);
    /// # Ok(()) }
    /// ```
    pub async fn validate(&self, spec: &ComponentSpec) -> Result<ValidationReport, Error> {
        self.validate_as(spec, None).await
    }

    /// Validates a definition (dry run) as if it came from the configured source `source`, so
    /// that name ownership is judged for that source: what a git author checks before pushing.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client, spec: nestor_client::model::ComponentSpec) -> Result<(), nestor_client::Error> {
    /// let report = client.validate_as(&spec, Some("platform-git")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn validate_as(
        &self,
        spec: &ComponentSpec,
        source: Option<&str>,
    ) -> Result<ValidationReport, Error> {
        let url = self.url("/api/v1/validate");
        let mut request = self.http.post(&url).json(spec);
        if let Some(source) = source {
            request = request.query(&[("source", source)]);
        }
        self.send(request, url).await
    }

    /// Changes descriptive fields, deprecates or yanks a version.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let yank = nestor_client::model::PatchRequest { yanked: Some(true), ..Default::default() };
    /// let c = client.patch("aws-vpc", "1.2.0", &yank).await?;
    /// assert!(c.yanked);
    /// # Ok(()) }
    /// ```
    pub async fn patch(
        &self,
        name: &str,
        version: &str,
        patch: &PatchRequest,
    ) -> Result<Component, Error> {
        let url = self.url(&format!("/api/v1/components/{name}/versions/{version}"));
        self.send(self.http.patch(&url).json(patch), url).await
    }

    /// Who owns a component name: the tokens that may publish and change it through the API,
    /// or the source that owns it.
    pub async fn owners(&self, name: &str) -> Result<OwnerList, Error> {
        self.get(&format!("/api/v1/components/{name}/owners"), &[])
            .await
    }

    /// Adds the tokens `owners` to the owners of `name` (the client's token must own the name
    /// or have the admin scope). Returns the owners after the change.
    ///
    /// ```no_run
    /// # async fn run(client: nestor_client::Client) -> Result<(), nestor_client::Error> {
    /// let list = client.add_owners("aws-vpc", &["platform-ci"]).await?;
    /// assert!(list.owners.iter().any(|o| o == "platform-ci"));
    /// # Ok(()) }
    /// ```
    pub async fn add_owners(&self, name: &str, owners: &[&str]) -> Result<OwnerList, Error> {
        let url = self.url(&format!("/api/v1/components/{name}/owners"));
        let body = owners_request(owners);
        self.send(self.http.put(&url).json(&body), url).await
    }

    /// Removes the tokens `owners` from the owners of `name`, as [`Client::add_owners`] adds
    /// them; a name keeps at least one owner.
    pub async fn remove_owners(&self, name: &str, owners: &[&str]) -> Result<OwnerList, Error> {
        let url = self.url(&format!("/api/v1/components/{name}/owners"));
        let body = owners_request(owners);
        self.send(self.http.delete(&url).json(&body), url).await
    }
}

fn owners_request(owners: &[&str]) -> OwnersRequest {
    OwnersRequest {
        owners: owners.iter().map(|o| (*o).to_owned()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_clients_build_without_network() {
        // Building the TLS configuration needs a crypto provider: installed by `Client::new`.
        let client = Client::new("https://example.invalid").expect("https client");
        assert_eq!(client.base_url(), "https://example.invalid");
        // Twice, from several threads: the provider is installed once.
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| Client::new("https://example.invalid/").is_ok()))
            .collect();
        for t in threads {
            assert!(t.join().unwrap());
        }
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
