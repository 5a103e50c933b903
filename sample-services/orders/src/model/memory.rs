//! An in-memory [`OrderRepository`] with the same semantics as the PostgreSQL one, for
//! unit tests.

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Cancellation, Cancelling, Confirmation, IdempotencyClaim, Inserted, Order, OrderRepository,
    OrderStatus, Rejection, RepoError,
};

#[derive(Debug, Clone)]
struct Stored {
    order: Order,
    request: serde_json::Value,
    enqueued_at: Option<DateTime<Utc>>,
    intake_dead_at: Option<DateTime<Utc>>,
}

/// Orders in a map guarded by one lock (which plays the unique constraint's part).
#[derive(Debug, Default)]
pub struct InMemoryOrderRepository {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    orders: HashMap<Uuid, Stored>,
    /// (customer, key) -> the order and when the key expires.
    by_key: HashMap<(String, String), (Uuid, DateTime<Utc>)>,
}

impl InMemoryOrderRepository {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored orders.
    pub fn len(&self) -> usize {
        self.lock().orders.len()
    }

    /// Whether no order is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces a stored order as is (tests set up crash states with it).
    pub fn put(&self, order: Order) {
        let mut inner = self.lock();
        let request = serde_json::json!({ "customer_id": order.customer_id, "items": order.items });
        inner.orders.insert(
            order.id,
            Stored {
                order,
                request,
                enqueued_at: None,
                intake_dead_at: None,
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl OrderRepository for InMemoryOrderRepository {
    async fn insert(
        &self,
        order: &Order,
        key: Option<&IdempotencyClaim>,
        request: &serde_json::Value,
    ) -> Result<Inserted, RepoError> {
        let mut inner = self.lock();
        if let Some(claim) = key {
            let scoped = (order.customer_id.clone(), claim.key.as_str().to_owned());
            if let Some((id, expires_at)) = inner.by_key.get(&scoped)
                && *expires_at > order.created_at
                && let Some(stored) = inner.orders.get(id)
            {
                return Ok(Inserted::Existing {
                    order: stored.order.clone(),
                    request: stored.request.clone(),
                });
            }
            inner.by_key.insert(scoped, (order.id, claim.expires_at));
        }
        inner.orders.insert(
            order.id,
            Stored {
                order: order.clone(),
                request: request.clone(),
                enqueued_at: None,
                intake_dead_at: None,
            },
        );
        Ok(Inserted::New(order.clone()))
    }

    async fn get(&self, id: Uuid) -> Result<Option<Order>, RepoError> {
        Ok(self.lock().orders.get(&id).map(|s| s.order.clone()))
    }

    async fn list_by_customer(&self, customer_id: &str) -> Result<Vec<Order>, RepoError> {
        let mut list: Vec<Order> = self
            .lock()
            .orders
            .values()
            .filter(|s| s.order.customer_id == customer_id)
            .map(|s| s.order.clone())
            .collect();
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(list)
    }

    async fn confirm(&self, id: Uuid, c: &Confirmation) -> Result<Order, RepoError> {
        let mut inner = self.lock();
        let stored = inner.orders.get_mut(&id).ok_or(RepoError::NotFound(id))?;
        let o = &mut stored.order;
        if o.status == OrderStatus::Pending && o.cancel_reason.is_none() {
            o.status = OrderStatus::Confirmed;
            o.reason = None;
            o.total_cents = Some(c.total_cents);
            o.reservation_id = Some(c.reservation_id.clone());
            o.payment_id = Some(c.payment_id.clone());
            o.event_id = Some(c.event_id);
            o.confirmed_at = Some(c.at);
            o.updated_at = c.at;
        }
        Ok(o.clone())
    }

    async fn reject(&self, id: Uuid, r: &Rejection) -> Result<Order, RepoError> {
        let mut inner = self.lock();
        let stored = inner.orders.get_mut(&id).ok_or(RepoError::NotFound(id))?;
        let o = &mut stored.order;
        if o.status == OrderStatus::Pending && o.cancel_reason.is_none() {
            o.status = OrderStatus::Rejected;
            o.reason = Some(r.reason.clone());
            o.total_cents = r.total_cents;
            o.reservation_id.clone_from(&r.reservation_id);
            o.payment_id.clone_from(&r.payment_id);
            o.updated_at = r.at;
        }
        Ok(o.clone())
    }

    async fn begin_cancel(&self, id: Uuid, c: &Cancelling) -> Result<Order, RepoError> {
        let mut inner = self.lock();
        let stored = inner.orders.get_mut(&id).ok_or(RepoError::NotFound(id))?;
        let o = &mut stored.order;
        if o.status == OrderStatus::Pending && o.cancel_reason.is_none() {
            o.cancel_reason = Some(c.reason.code().to_owned());
            o.total_cents = Some(c.total_cents);
            o.reservation_id = Some(c.reservation_id.clone());
            o.updated_at = c.at;
        }
        Ok(o.clone())
    }

    async fn cancel(&self, id: Uuid, c: &Cancellation) -> Result<Order, RepoError> {
        let mut inner = self.lock();
        let stored = inner.orders.get_mut(&id).ok_or(RepoError::NotFound(id))?;
        let o = &mut stored.order;
        if o.status == OrderStatus::Pending && o.cancel_reason.is_some() {
            o.status = OrderStatus::Cancelled;
            o.reason.clone_from(&o.cancel_reason);
            o.payment_id.clone_from(&c.payment_id);
            o.updated_at = c.at;
        }
        Ok(o.clone())
    }

    async fn mark_event_published(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), RepoError> {
        let mut inner = self.lock();
        let stored = inner.orders.get_mut(&id).ok_or(RepoError::NotFound(id))?;
        stored.order.event_published_at.get_or_insert(at);
        Ok(())
    }

    async fn unsettled(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<Vec<Uuid>, RepoError> {
        let inner = self.lock();
        let mut due: Vec<&Stored> = inner
            .orders
            .values()
            .filter(|s| s.intake_dead_at.is_none())
            .filter(|s| match s.order.status {
                OrderStatus::Pending => s.enqueued_at.unwrap_or(s.order.created_at) < cutoff,
                OrderStatus::Confirmed => {
                    s.order.event_published_at.is_none()
                        && s.enqueued_at
                            .into_iter()
                            .chain(s.order.confirmed_at)
                            .max()
                            .unwrap_or(s.order.updated_at)
                            < cutoff
                }
                OrderStatus::Rejected | OrderStatus::Cancelled => false,
            })
            .collect();
        due.sort_by_key(|s| s.order.created_at);
        Ok(due
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|s| s.order.id)
            .collect())
    }

    async fn mark_enqueued(&self, ids: &[Uuid], at: DateTime<Utc>) -> Result<(), RepoError> {
        let mut inner = self.lock();
        for id in ids {
            if let Some(s) = inner.orders.get_mut(id) {
                s.enqueued_at = Some(at);
                s.intake_dead_at = None;
            }
        }
        Ok(())
    }

    async fn mark_intake_dead(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), RepoError> {
        if let Some(s) = self.lock().orders.get_mut(&id) {
            s.intake_dead_at = Some(at);
        }
        Ok(())
    }
}
