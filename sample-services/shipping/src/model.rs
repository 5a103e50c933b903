//! Domain: shipments, the `order.confirmed` event they come from, the carrier rule, and the
//! repository (a trait with a PostgreSQL implementation and an in-memory one for tests).

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// The migrations in `sample-services/shipping/migrations`, run at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The carriers a shipment can be assigned to.
pub const CARRIERS: [&str; 4] = ["DHL", "UPS", "FedEx", "GLS"];

/// The carrier of an order's shipment, chosen deterministically: the 64-bit FNV-1a hash of
/// the order id's 16 bytes, modulo the number of [`CARRIERS`]. The same order always gets
/// the same carrier, on every replica and across restarts and Rust versions (unlike
/// `std`'s `DefaultHasher`, FNV-1a is a fixed algorithm).
pub fn carrier_for(order_id: Uuid) -> &'static str {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = order_id
        .as_bytes()
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME));
    // The remainder is below CARRIERS.len(), so the cast cannot truncate.
    CARRIERS[(hash % CARRIERS.len() as u64) as usize]
}

/// Where a shipment is in its life. New shipments are `PENDING`; this sample goes no further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentStatus {
    Pending,
}

impl ShipmentStatus {
    /// The stored and serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            _ => None,
        }
    }
}

/// A shipment: created once per confirmed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub customer_id: String,
    pub status: ShipmentStatus,
    pub carrier: String,
    pub created_at: DateTime<Utc>,
}

impl Shipment {
    /// The shipment a confirmed order calls for: a new id, `PENDING`, its carrier.
    pub fn for_order(event: &OrderConfirmed, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            order_id: event.order_id,
            customer_id: event.customer_id.clone(),
            status: ShipmentStatus::Pending,
            carrier: carrier_for(event.order_id).to_owned(),
            created_at: now,
        }
    }
}

/// The `order.confirmed` event and its line items (`sample_events`, the one definition
/// orders publishes), and why an event can never be processed (it is dead-lettered, not
/// retried): [`OrderConfirmed::parse`] checks the body and names the offending field.
pub use sample_events::{Item as EventItem, Malformed as RejectReason, OrderConfirmed};

/// What inserting a shipment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The shipment is new (and committed).
    Created(Shipment),
    /// The order already has a shipment; nothing was written.
    AlreadyExists,
}

/// A storage failure (worth retrying later).
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored shipment {id} has an unknown status {status:?}")]
    Corrupt { id: Uuid, status: String },
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Where shipments live.
#[async_trait::async_trait]
pub trait ShipmentRepository: Send + Sync {
    /// Inserts `shipment` unless its order already has one, and records `event_id` as
    /// processed, atomically (one transaction).
    async fn insert_for_event(
        &self,
        event_id: &str,
        shipment: &Shipment,
    ) -> Result<Inserted, RepoError>;
    /// One shipment by id (whoever's it is: callers check the customer).
    async fn get(&self, id: Uuid) -> Result<Option<Shipment>, RepoError>;
    /// The shipments of an order (at most one), oldest first.
    async fn by_order(&self, order_id: Uuid) -> Result<Vec<Shipment>, RepoError>;
    /// A customer's shipments, newest first; only those of `order_id` when given.
    async fn of_customer(
        &self,
        customer_id: &str,
        order_id: Option<Uuid>,
    ) -> Result<Vec<Shipment>, RepoError>;
}

#[derive(sqlx::FromRow)]
struct ShipmentRow {
    id: Uuid,
    order_id: Uuid,
    customer_id: String,
    status: String,
    carrier: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<ShipmentRow> for Shipment {
    type Error = RepoError;

    fn try_from(row: ShipmentRow) -> Result<Self, RepoError> {
        let status = ShipmentStatus::parse(&row.status).ok_or_else(|| RepoError::Corrupt {
            id: row.id,
            status: row.status.clone(),
        })?;
        Ok(Self {
            id: row.id,
            order_id: row.order_id,
            customer_id: row.customer_id,
            status,
            carrier: row.carrier,
            created_at: row.created_at,
        })
    }
}

const COLUMNS: &str = "id, order_id, customer_id, status, carrier, created_at";

/// Shipments in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgShipmentRepository {
    pool: PgPool,
}

impl PgShipmentRepository {
    /// Uses a migrated pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl ShipmentRepository for PgShipmentRepository {
    async fn insert_for_event(
        &self,
        event_id: &str,
        shipment: &Shipment,
    ) -> Result<Inserted, RepoError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<ShipmentRow> = sqlx::query_as(&format!(
            "INSERT INTO shipments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (order_id) DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(shipment.id)
        .bind(shipment.order_id)
        .bind(&shipment.customer_id)
        .bind(shipment.status.as_str())
        .bind(&shipment.carrier)
        .bind(shipment.created_at)
        .fetch_optional(&mut *tx)
        .await?;
        let inserted = match row {
            Some(row) => Inserted::Created(row.try_into()?),
            None => Inserted::AlreadyExists,
        };
        let outcome = match inserted {
            Inserted::Created(_) => "created",
            Inserted::AlreadyExists => "duplicate",
        };
        sqlx::query(
            "INSERT INTO processed_events (event_id, order_id, outcome) VALUES ($1, $2, $3) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(shipment.order_id)
        .bind(outcome)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Shipment>, RepoError> {
        let row: Option<ShipmentRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM shipments WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(Shipment::try_from).transpose()
    }

    async fn by_order(&self, order_id: Uuid) -> Result<Vec<Shipment>, RepoError> {
        let rows: Vec<ShipmentRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM shipments WHERE order_id = $1 ORDER BY created_at, id"
        ))
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Shipment::try_from).collect()
    }

    async fn of_customer(
        &self,
        customer_id: &str,
        order_id: Option<Uuid>,
    ) -> Result<Vec<Shipment>, RepoError> {
        let rows: Vec<ShipmentRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM shipments \
             WHERE customer_id = $1 AND ($2::uuid IS NULL OR order_id = $2) \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(customer_id)
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Shipment::try_from).collect()
    }
}

#[derive(Debug, Default)]
struct Memory {
    shipments: Vec<Shipment>,
    processed_events: HashMap<String, Uuid>,
    unavailable: Option<String>,
}

/// Shipments in memory, with the same rules as the PostgreSQL implementation (one per
/// order). For unit tests; [`InMemoryShipmentRepository::set_unavailable`] simulates a
/// database outage.
#[derive(Debug, Default)]
pub struct InMemoryShipmentRepository {
    inner: Mutex<Memory>,
}

impl InMemoryShipmentRepository {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `Some(reason)`, every call fails with [`RepoError::Unavailable`].
    pub fn set_unavailable(&self, reason: Option<&str>) {
        self.lock().unavailable = reason.map(str::to_owned);
    }

    /// All stored shipments.
    pub fn all(&self) -> Vec<Shipment> {
        self.lock().shipments.clone()
    }

    /// The event ids recorded as processed.
    pub fn processed_events(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().processed_events.keys().cloned().collect();
        ids.sort();
        ids
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn available(&self) -> Result<std::sync::MutexGuard<'_, Memory>, RepoError> {
        let guard = self.lock();
        match &guard.unavailable {
            Some(reason) => Err(RepoError::Unavailable(reason.clone())),
            None => Ok(guard),
        }
    }
}

#[async_trait::async_trait]
impl ShipmentRepository for InMemoryShipmentRepository {
    async fn insert_for_event(
        &self,
        event_id: &str,
        shipment: &Shipment,
    ) -> Result<Inserted, RepoError> {
        let mut memory = self.available()?;
        memory
            .processed_events
            .entry(event_id.to_owned())
            .or_insert(shipment.order_id);
        if memory
            .shipments
            .iter()
            .any(|s| s.order_id == shipment.order_id)
        {
            return Ok(Inserted::AlreadyExists);
        }
        memory.shipments.push(shipment.clone());
        Ok(Inserted::Created(shipment.clone()))
    }

    async fn get(&self, id: Uuid) -> Result<Option<Shipment>, RepoError> {
        Ok(self
            .available()?
            .shipments
            .iter()
            .find(|s| s.id == id)
            .cloned())
    }

    async fn by_order(&self, order_id: Uuid) -> Result<Vec<Shipment>, RepoError> {
        Ok(self
            .available()?
            .shipments
            .iter()
            .filter(|s| s.order_id == order_id)
            .cloned()
            .collect())
    }

    async fn of_customer(
        &self,
        customer_id: &str,
        order_id: Option<Uuid>,
    ) -> Result<Vec<Shipment>, RepoError> {
        let mut list: Vec<Shipment> = self
            .available()?
            .shipments
            .iter()
            .filter(|s| s.customer_id == customer_id && order_id.is_none_or(|o| s.order_id == o))
            .cloned()
            .collect();
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(list)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn event_json(order_id: Uuid) -> String {
        serde_json::json!({
            "event_id": Uuid::new_v4().to_string(),
            "order_id": order_id.to_string(),
            "customer_id": "cust-1",
            "items": [{"sku": "KB-001", "quantity": 2}],
            "total_cents": 9998,
            "confirmed_at": "2025-01-02T03:04:05Z",
        })
        .to_string()
    }

    #[test]
    fn parses_a_good_event() {
        let order_id = Uuid::new_v4();
        let event = OrderConfirmed::parse(event_json(order_id).as_bytes()).unwrap();
        assert_eq!(event.order_id, order_id);
        assert_eq!(event.customer_id, "cust-1");
        assert_eq!(
            event.items,
            vec![EventItem {
                sku: "KB-001".into(),
                quantity: 2
            }]
        );
        assert_eq!(event.total_cents, 9998);
        assert_eq!(event.confirmed_at.to_rfc3339(), "2025-01-02T03:04:05+00:00");
    }

    #[test]
    fn malformed_json_is_rejected() {
        let reason = OrderConfirmed::parse(b"{\"event_id\": ").unwrap_err();
        assert_eq!(reason.field, None);
        assert!(reason.detail.contains("not valid JSON"), "{reason}");
        let reason = OrderConfirmed::parse(br#""just text""#).unwrap_err();
        assert!(reason.to_string().contains("expected struct"), "{reason}");
    }

    #[test]
    fn missing_or_bad_fields_are_named() {
        let mut value: serde_json::Value =
            serde_json::from_str(&event_json(Uuid::new_v4())).unwrap();
        value.as_object_mut().unwrap().remove("customer_id");
        let reason = OrderConfirmed::parse(value.to_string().as_bytes()).unwrap_err();
        assert!(reason.detail.contains("customer_id"), "{reason}");

        let mut value: serde_json::Value =
            serde_json::from_str(&event_json(Uuid::new_v4())).unwrap();
        value["order_id"] = "not-a-uuid".into();
        let reason = OrderConfirmed::parse(value.to_string().as_bytes()).unwrap_err();
        assert_eq!(reason.field.as_deref(), Some("order_id"), "{reason}");

        let mut value: serde_json::Value =
            serde_json::from_str(&event_json(Uuid::new_v4())).unwrap();
        value["items"][0]["quantity"] = "two".into();
        let reason = OrderConfirmed::parse(value.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            reason.field.as_deref(),
            Some("items[0].quantity"),
            "{reason}"
        );

        let mut value: serde_json::Value =
            serde_json::from_str(&event_json(Uuid::new_v4())).unwrap();
        value["customer_id"] = " ".into();
        let reason = OrderConfirmed::parse(value.to_string().as_bytes()).unwrap_err();
        assert_eq!(reason.field.as_deref(), Some("customer_id"), "{reason}");
    }

    #[test]
    fn carrier_is_deterministic_and_spread() {
        let id = Uuid::parse_str("6f1c2a8e-3b9d-4c1e-9a7f-2d5e8b0c4a11").unwrap();
        assert_eq!(carrier_for(id), carrier_for(id));
        assert_eq!(carrier_for(Uuid::nil()), CARRIERS[fnv_nil_index()]);
        let used: std::collections::HashSet<&str> =
            (0..200).map(|_| carrier_for(Uuid::new_v4())).collect();
        assert_eq!(
            used.len(),
            CARRIERS.len(),
            "200 random orders should hit every carrier"
        );
    }

    /// FNV-1a of sixteen zero bytes, computed independently of `carrier_for`.
    fn fnv_nil_index() -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for _ in 0..16 {
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        (h % 4) as usize
    }

    #[tokio::test]
    async fn in_memory_repository_keeps_one_shipment_per_order() {
        let repo = InMemoryShipmentRepository::new();
        let event = OrderConfirmed::parse(event_json(Uuid::new_v4()).as_bytes()).unwrap();
        let first = Shipment::for_order(&event, Utc::now());
        assert_eq!(
            repo.insert_for_event(&event.event_id.to_string(), &first)
                .await
                .unwrap(),
            Inserted::Created(first.clone())
        );
        let second = Shipment::for_order(&event, Utc::now());
        assert_eq!(
            repo.insert_for_event("another-event", &second)
                .await
                .unwrap(),
            Inserted::AlreadyExists
        );
        assert_eq!(
            repo.by_order(event.order_id).await.unwrap(),
            vec![first.clone()]
        );
        assert_eq!(repo.get(first.id).await.unwrap(), Some(first));
        assert_eq!(repo.get(second.id).await.unwrap(), None);
        assert_eq!(repo.processed_events().len(), 2);
    }
}
