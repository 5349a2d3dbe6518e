//! [`Error`]: why a call failed, with the server's problem when it answered.

use nestor_model::{ErrorCode, Problem};

/// Why a call failed.
///
/// ```no_run
/// # async fn run(client: nestor_client::Client) {
/// use nestor_client::{Error, model::ErrorCode};
/// match client.latest("nope").await {
///     Err(e) if e.code() == Some(ErrorCode::ComponentNotFound) => println!("no such component"),
///     Err(Error::Transport { url, source }) => eprintln!("{url} unreachable: {source}"),
///     Err(e) => eprintln!("{e}"),
///     Ok(c) => println!("{}", c.spec.version),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL is not usable.
    #[error("invalid base URL {url:?}: {message}")]
    BaseUrl {
        /// What was given.
        url: String,
        /// Why it is unusable.
        message: String,
    },
    /// The request did not complete (connection refused, timeout, …).
    #[error("request to {url} failed: {source}")]
    Transport {
        /// Request URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a problem.
    #[error("{} {}: {}", .0.status, .0.code, .0.detail)]
    Api(Box<Problem>),
    /// The server answered something that is not what the API promises.
    #[error("unexpected response from {url} (HTTP {status}): {message}")]
    Unexpected {
        /// Request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        message: String,
    },
}

impl Error {
    /// The problem code, when the server answered with a problem.
    ///
    /// ```
    /// use nestor_client::{Error, model::{ErrorCode, Problem}};
    /// let e = Error::Api(Box::new(Problem::new(ErrorCode::VersionNotFound, "x")));
    /// assert_eq!(e.code(), Some(ErrorCode::VersionNotFound));
    /// ```
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api(p) => Some(p.code),
            _ => None,
        }
    }
}
