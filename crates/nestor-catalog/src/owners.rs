//! Who may change a name published through the API: its owners (tokens), the first publisher
//! first, and administrators. A name a configured source published belongs to that source
//! instead (see [`Catalog::patch_as`]); the catalog stays readable by everyone.
//!
//! Owners are stored as the owner strings of [`Origin::owner`] (`api:<token>`); the API shows
//! and takes token names.

use nestor_model::{
    OwnerList,
    limits::{MAX_LIST, MAX_OWNER_NAME, is_owner_name},
};
use nestor_storage::StoreError;

use crate::{Catalog, CatalogError, Origin};

/// How many times an owners change is retried when another change of the same list came first.
const MAX_OWNER_ATTEMPTS: usize = 5;

/// The stored owner string of token `name`.
fn api_owner(name: &str) -> String {
    Origin::Api {
        identity: name.to_owned(),
    }
    .owner()
}

/// The token names among stored owner strings.
fn token_names(owners: &[String]) -> Vec<String> {
    owners
        .iter()
        .filter_map(|o| o.strip_prefix("api:"))
        .map(str::to_owned)
        .collect()
}

/// The source owning a name, when its owners say a source published it.
fn owning_source(owners: &[String]) -> Option<&str> {
    owners.iter().find_map(|o| o.strip_prefix("source:"))
}

/// Checks the token names of an owners change.
fn check_names(names: &[String]) -> Result<(), CatalogError> {
    if names.is_empty() {
        return Err(CatalogError::InvalidParameter {
            parameter: "owners",
            message: "name at least one token".into(),
        });
    }
    if names.len() > MAX_LIST {
        return Err(CatalogError::InvalidParameter {
            parameter: "owners",
            message: format!(
                "{} token names; at most {MAX_LIST} are allowed",
                names.len()
            ),
        });
    }
    for n in names {
        if !is_owner_name(n) {
            return Err(CatalogError::InvalidParameter {
                parameter: "owners",
                message: format!(
                    "{n:?} is not a token name (1 to {MAX_OWNER_NAME} characters, no spaces or control characters)"
                ),
            });
        }
    }
    Ok(())
}

impl Catalog {
    /// Refuses a write by `origin` through the API to `name` unless the name is new, is not the
    /// API's (a source's name is refused elsewhere, as a name conflict or a 403), or `origin`
    /// is among its owners. `action` says what was refused. Administrators skip this check.
    ///
    /// `owners` are the name's owners as just read from the store (`None`: a new name).
    pub(crate) fn check_api_owner(
        &self,
        name: &str,
        owners: Option<&[String]>,
        origin: &Origin,
        action: &'static str,
    ) -> Result<(), CatalogError> {
        if !matches!(origin, Origin::Api { .. }) {
            return Ok(());
        }
        let Some(owners) = owners else {
            return Ok(());
        };
        if owning_source(owners).is_some() || owners.contains(&origin.owner()) {
            return Ok(());
        }
        Err(CatalogError::NotOwner {
            name: name.to_owned(),
            owners: token_names(owners),
            action,
        })
    }

    /// Who owns `name`.
    pub async fn owners(&self, name: &str) -> Result<OwnerList, CatalogError> {
        let owners =
            self.store
                .name_owners(name)
                .await?
                .ok_or_else(|| CatalogError::ComponentNotFound {
                    name: name.to_owned(),
                })?;
        Ok(list(name, &owners))
    }

    /// Adds the tokens `names` to the owners of `name`, on behalf of `actor` (a token name),
    /// who must be an owner or have `privileged` rights (the admin scope). Adding an owner
    /// already there changes nothing.
    pub async fn add_owners(
        &self,
        name: &str,
        names: &[String],
        actor: &str,
        privileged: bool,
    ) -> Result<OwnerList, CatalogError> {
        self.add_owners_checked(name, names, actor, privileged, |_| Ok(()))
            .await
    }

    /// [`Catalog::add_owners`], with `check` judging the names once the name is known to exist
    /// and the actor may change its owners (the server's: are they configured tokens?), so
    /// that an unknown name is 404 and a refused actor 403 whatever the body names.
    pub async fn add_owners_checked(
        &self,
        name: &str,
        names: &[String],
        actor: &str,
        privileged: bool,
        check: impl Fn(&[String]) -> Result<(), CatalogError>,
    ) -> Result<OwnerList, CatalogError> {
        check_names(names)?;
        self.change_owners(name, actor, privileged, |current| {
            check(names)?;
            let mut next = current.to_vec();
            for n in names {
                let owner = api_owner(n);
                if !next.contains(&owner) {
                    next.push(owner);
                }
            }
            Ok(next)
        })
        .await
    }

    /// Removes the tokens `names` from the owners of `name`, as [`Catalog::add_owners`] adds
    /// them. A name keeps at least one owner; removing a token that is not an owner changes
    /// nothing.
    pub async fn remove_owners(
        &self,
        name: &str,
        names: &[String],
        actor: &str,
        privileged: bool,
    ) -> Result<OwnerList, CatalogError> {
        check_names(names)?;
        self.change_owners(name, actor, privileged, |current| {
            let removed: Vec<String> = names.iter().map(|n| api_owner(n)).collect();
            let next: Vec<String> = current
                .iter()
                .filter(|o| !removed.contains(o))
                .cloned()
                .collect();
            if next.is_empty() {
                return Err(CatalogError::InvalidParameter {
                    parameter: "owners",
                    message: format!(
                        "{name} must keep at least one owner: add the new owner before removing the last one"
                    ),
                });
            }
            Ok(next)
        })
        .await
    }

    async fn change_owners(
        &self,
        name: &str,
        actor: &str,
        privileged: bool,
        change: impl Fn(&[String]) -> Result<Vec<String>, CatalogError>,
    ) -> Result<OwnerList, CatalogError> {
        let acting = api_owner(actor);
        for _ in 0..MAX_OWNER_ATTEMPTS {
            let current = self.store.name_owners(name).await?.ok_or_else(|| {
                CatalogError::ComponentNotFound {
                    name: name.to_owned(),
                }
            })?;
            if let Some(source) = owning_source(&current) {
                return Err(CatalogError::Forbidden(format!(
                    "{name} is owned by source {source}: its versions come from that source, and it has no API owners to change"
                )));
            }
            if !privileged && !current.contains(&acting) {
                return Err(CatalogError::NotOwner {
                    name: name.to_owned(),
                    owners: token_names(&current),
                    action: "change its owners",
                });
            }
            let next = change(&current)?;
            if next == current {
                return Ok(list(name, &current));
            }
            if self.store.set_name_owners(name, &current, &next).await? {
                tracing::info!(
                    component = name,
                    actor,
                    owners = ?token_names(&next),
                    "owners changed through the API"
                );
                return Ok(list(name, &next));
            }
            // Another change of the list came first: read it again and decide again.
        }
        Err(StoreError::Unavailable {
            operation: "change owners",
            message: "too much write contention; retry".into(),
        }
        .into())
    }
}

fn list(name: &str, owners: &[String]) -> OwnerList {
    OwnerList {
        name: name.to_owned(),
        owners: token_names(owners),
        source: owning_source(owners).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_strings_map_to_token_names_and_sources() {
        let owners = vec!["api:alice".to_owned(), "api:bob".to_owned()];
        assert_eq!(token_names(&owners), ["alice", "bob"]);
        assert_eq!(owning_source(&owners), None);
        assert_eq!(
            owning_source(&["source:platform".to_owned()]),
            Some("platform")
        );
        assert_eq!(api_owner("ci"), "api:ci");
    }

    #[test]
    fn token_names_are_checked() {
        assert!(check_names(&[]).is_err());
        assert!(check_names(&["ci".into()]).is_ok());
        for bad in ["", "two words", "nul\0", &"x".repeat(MAX_OWNER_NAME + 1)] {
            assert!(check_names(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refusals_name_the_owners() {
        let e = CatalogError::NotOwner {
            name: "pg".into(),
            owners: vec!["alice".into(), "bob".into()],
            action: "publish its versions",
        };
        assert_eq!(
            e.to_string(),
            r#"pg is owned by tokens "alice", "bob"; only its owners or an admin may publish its versions"#
        );
        assert_eq!(e.code(), nestor_model::ErrorCode::Forbidden);
    }
}
