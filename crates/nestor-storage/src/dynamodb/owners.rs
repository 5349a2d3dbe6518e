//! DynamoStore: the owners of component names, one item per name that has an owners list
//! (`pk = OWNERS`, `sk = <name>`, `owners`: the list as JSON). A name without such an item is
//! owned by its first publisher alone (the `owner` of its `NAMES` item). Kept apart from the name
//! item on purpose: every version write puts the whole name item back, conditional on its
//! revision only, and would undo an owners change committed in between.

use aws_sdk_dynamodb::error::SdkError;

use super::{
    DynamoStore, OWNERS,
    error::sdk_error,
    item::{self, Item, Record, json, s, values},
};
use crate::StoreResult;

/// What the store holds for a name's owners.
enum Stored {
    /// The name is unknown.
    Unknown,
    /// No owners item: the first publisher alone.
    FirstPublisher(String),
    /// An owners item with this list (as stored, JSON).
    List(Vec<String>, String),
}

impl Stored {
    fn owners(&self) -> Option<Vec<String>> {
        match self {
            Stored::Unknown => None,
            Stored::FirstPublisher(owner) => Some(vec![owner.clone()]),
            Stored::List(owners, _) => Some(owners.clone()),
        }
    }
}

impl DynamoStore {
    async fn stored_owners(&self, operation: &'static str, name: &str) -> StoreResult<Stored> {
        let item = self
            .get(
                operation,
                &self.inner.catalog,
                vec![("pk", s(OWNERS)), ("sk", s(name))],
            )
            .await?;
        if let Some(item) = item {
            let what = format!("catalog {OWNERS}/{name}");
            let r = Record::new(&item, &what);
            let raw = r.str("owners")?.to_owned();
            return Ok(Stored::List(r.json("owners")?, raw));
        }
        Ok(match self.name_entry(operation, name).await? {
            Some(entry) => Stored::FirstPublisher(entry.owner),
            None => Stored::Unknown,
        })
    }

    pub(super) async fn read_name_owners(&self, name: &str) -> StoreResult<Option<Vec<String>>> {
        Ok(self.stored_owners("name owners", name).await?.owners())
    }

    pub(super) async fn write_name_owners(
        &self,
        name: &str,
        expected: &[String],
        owners: &[String],
    ) -> StoreResult<bool> {
        const OP: &str = "set name owners";
        let stored = self.stored_owners(OP, name).await?;
        if stored.owners().as_deref() != Some(expected) {
            return Ok(false);
        }
        let item: Item = values(vec![
            ("pk", s(OWNERS)),
            ("sk", s(name)),
            ("owners", json(&owners)?),
        ]);
        // Conditional on the item being as read: absent, or with the same list.
        let (condition, vals) = match &stored {
            Stored::List(_, raw) => ("#owners = :expected", vec![(":expected", s(raw))]),
            _ => ("attribute_not_exists(#pk)", vec![]),
        };
        let names: &[(&str, &str)] = match &stored {
            Stored::List(..) => &[("#owners", "owners")],
            _ => &[("#pk", "pk")],
        };
        let table = &self.inner.catalog;
        match self
            .client()
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(item::names(names)))
            .set_expression_attribute_values(item::condition_values(vals))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(sdk_error(OP, table, e)),
        }
    }
}
