//! The inventory domain: products, validated reservation requests, reservations, and the
//! [`Repository`] trait with a PostgreSQL implementation ([`PgRepository`]) and an in-memory
//! one ([`InMemoryRepository`]) that keep the same rules:
//!
//! - a reservation is all-or-nothing: either every line's stock is taken or none is;
//! - stock never goes below zero, whatever the concurrency;
//! - one reservation per order: reserving again for the same order returns the existing
//!   reservation (whatever its status) and takes no stock;
//! - releasing returns the stock once; releasing again changes nothing.

mod memory;
mod postgres;
pub mod seed;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use memory::InMemoryRepository;
pub use postgres::{MIGRATOR, PgRepository};

/// Longest accepted SKU, in characters.
pub const MAX_SKU_LEN: usize = 64;
/// Most lines in one reservation request.
pub const MAX_ITEMS: usize = 100;
/// Largest quantity of one line.
pub const MAX_QUANTITY: i64 = 100_000;
/// Largest unit price accepted from a seed file (1 000 000 000.00 in the currency), which
/// keeps `MAX_ITEMS * MAX_QUANTITY * price` well inside `i64`.
pub const MAX_PRICE_CENTS: i64 = 100_000_000_000;

pub use service_kit::Invalid;

/// A stock-keeping unit: non-blank, at most [`MAX_SKU_LEN`] characters, no surrounding
/// whitespace, no control characters (PostgreSQL cannot store NUL in text).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

impl Sku {
    /// Validates a SKU; the error message says what is wrong (the caller names the field).
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be empty".to_owned());
        }
        if raw.trim() != raw {
            return Err(format!("{raw:?} has leading or trailing whitespace"));
        }
        if raw.chars().count() > MAX_SKU_LEN {
            return Err(format!("must be at most {MAX_SKU_LEN} characters"));
        }
        if raw.chars().any(char::is_control) {
            return Err(format!("{raw:?} contains control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A SKU read back from the store, taken as it is.
    pub(crate) fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    /// The SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product and its current stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub sku: Sku,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
    pub stock: i32,
}

/// One line of a validated reservation request: duplicate SKUs of the request are merged
/// into one line, and `index` is the position of the SKU's first line in the request (so
/// errors can name `items[index]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub index: usize,
    pub sku: Sku,
    pub quantity: i32,
}

/// A validated `POST /reservations`: lines merged by SKU and sorted by SKU, the order in
/// which stock rows are locked (so concurrent reservations cannot deadlock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReservation {
    pub order_id: Uuid,
    pub lines: Vec<Line>,
}

impl NewReservation {
    /// Validates the raw request; the first broken rule is reported with its field path.
    pub fn parse(order_id: Uuid, items: &[(String, i64)]) -> Result<Self, Invalid> {
        if order_id.is_nil() {
            return Err(Invalid::new("order_id", "must not be the nil UUID"));
        }
        if items.is_empty() {
            return Err(Invalid::new("items", "must contain at least one item"));
        }
        if items.len() > MAX_ITEMS {
            return Err(Invalid::new(
                "items",
                format!(
                    "must contain at most {MAX_ITEMS} items, got {}",
                    items.len()
                ),
            ));
        }
        let mut merged: BTreeMap<Sku, Line> = BTreeMap::new();
        for (index, (sku, quantity)) in items.iter().enumerate() {
            let sku =
                Sku::parse(sku).map_err(|m| Invalid::new(format!("items[{index}].sku"), m))?;
            if !(1..=MAX_QUANTITY).contains(quantity) {
                return Err(Invalid::new(
                    format!("items[{index}].quantity"),
                    format!("must be between 1 and {MAX_QUANTITY}, got {quantity}"),
                ));
            }
            // Bounded above: at most MAX_ITEMS * MAX_QUANTITY = 10^7, well inside i32.
            let quantity = i32::try_from(*quantity).unwrap_or(i32::MAX);
            merged
                .entry(sku.clone())
                .and_modify(|line| line.quantity = line.quantity.saturating_add(quantity))
                .or_insert(Line {
                    index,
                    sku,
                    quantity,
                });
        }
        Ok(Self {
            order_id,
            lines: merged.into_values().collect(),
        })
    }
}

/// The lifecycle of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    /// Holding stock.
    Active,
    /// Stock returned.
    Released,
}

impl ReservationStatus {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Released => "RELEASED",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "RELEASED" => Some(Self::Released),
            _ => None,
        }
    }
}

/// One reserved line with the unit price at the time of the reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedItem {
    pub sku: Sku,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

/// A reservation of stock for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: Uuid,
    pub order_id: Uuid,
    pub status: ReservationStatus,
    /// Sorted by SKU.
    pub items: Vec<ReservedItem>,
    pub total_cents: i64,
    pub created_at: DateTime<Utc>,
}

/// The total of some lines, or `None` if it does not fit an `i64`.
pub fn total_cents(items: &[ReservedItem]) -> Option<i64> {
    items.iter().try_fold(0i64, |acc, item| {
        i64::from(item.quantity)
            .checked_mul(item.unit_price_cents)
            .and_then(|line| acc.checked_add(line))
    })
}

/// What `reserve` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// Stock taken; a new reservation.
    Created(Reservation),
    /// The order already had this reservation; nothing taken.
    Replayed(Reservation),
}

/// Why a reservation was refused; nothing was taken.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// A line's SKU is not a product.
    #[error("unknown sku {sku} (items[{index}])")]
    UnknownSku { index: usize, sku: Sku },
    /// A line asks for more than is in stock.
    #[error("insufficient stock for {sku}: requested {requested}, available {available}")]
    InsufficientStock {
        index: usize,
        sku: Sku,
        requested: i32,
        available: i32,
    },
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// What `release` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// Stock returned; now `RELEASED`.
    Released,
    /// It was already released; nothing changed.
    AlreadyReleased,
    /// No such reservation.
    NotFound,
}

/// The store failed (connection lost, bad data, ...).
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The database could not be reached in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<sqlx::Error> for RepoError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(e.to_string())
            }
            other => Self::Other(other.to_string()),
        }
    }
}

/// Where products and reservations live.
#[async_trait::async_trait]
pub trait Repository: Send + Sync {
    /// All products, sorted by SKU.
    async fn list_products(&self) -> Result<Vec<Product>, RepoError>;
    /// One product.
    async fn get_product(&self, sku: &str) -> Result<Option<Product>, RepoError>;
    /// Inserts the products that do not exist yet (existing ones are left as they are);
    /// returns how many were inserted.
    async fn seed(&self, products: &[Product]) -> Result<u64, RepoError>;
    /// Takes the stock of every line, or none of it, and records the reservation; the same
    /// order again returns the existing reservation.
    async fn reserve(&self, request: &NewReservation) -> Result<Reserved, ReserveError>;
    /// One reservation.
    async fn get_reservation(&self, id: Uuid) -> Result<Option<Reservation>, RepoError>;
    /// Returns the stock of an active reservation and marks it `RELEASED`.
    async fn release(&self, id: Uuid) -> Result<Released, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
        pairs.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect()
    }

    #[test]
    fn lines_are_merged_by_sku_and_sorted() {
        let r = NewReservation::parse(
            Uuid::new_v4(),
            &items(&[("MS-002", 1), ("KB-001", 2), ("MS-002", 3)]),
        )
        .unwrap();
        let lines: Vec<_> = r
            .lines
            .iter()
            .map(|l| (l.index, l.sku.as_str(), l.quantity))
            .collect();
        assert_eq!(lines, [(1, "KB-001", 2), (0, "MS-002", 4)]);
    }

    #[test]
    fn bad_lines_name_their_field() {
        let id = Uuid::new_v4();
        let field =
            |pairs: &[(&str, i64)]| NewReservation::parse(id, &items(pairs)).unwrap_err().field;
        assert_eq!(field(&[]), "items");
        assert_eq!(field(&[("KB-001", 1), ("", 1)]), "items[1].sku");
        assert_eq!(field(&[("KB-001", 1), (" KB-001", 1)]), "items[1].sku");
        // PostgreSQL cannot store NUL: found by `harness contract openapi` as a 500.
        assert_eq!(field(&[("KB-001", 1), ("K\0B", 1)]), "items[1].sku");
        assert_eq!(field(&[("KB-001", 0)]), "items[0].quantity");
        assert_eq!(field(&[("KB-001", 1), ("MS-002", -3)]), "items[1].quantity");
        assert_eq!(field(&[("KB-001", MAX_QUANTITY + 1)]), "items[0].quantity");
        let too_many: Vec<(&str, i64)> = vec![("KB-001", 1); MAX_ITEMS + 1];
        assert_eq!(field(&too_many), "items");
        let nil = NewReservation::parse(Uuid::nil(), &items(&[("KB-001", 1)])).unwrap_err();
        assert_eq!(nil.field, "order_id");
    }

    #[test]
    fn totals_are_checked() {
        let item = |q, p| ReservedItem {
            sku: Sku::parse("A").unwrap(),
            quantity: q,
            unit_price_cents: p,
        };
        assert_eq!(total_cents(&[item(2, 100), item(3, 10)]), Some(230));
        assert_eq!(total_cents(&[item(2, i64::MAX)]), None);
    }
}
