//! The in-memory [`Repository`]: everything behind one mutex, so each operation is atomic
//! exactly like a PostgreSQL transaction. Used by the unit tests.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
};

use chrono::Utc;
use uuid::Uuid;

use super::{
    NewReservation, Product, Released, RepoError, Repository, Reservation, ReservationStatus,
    ReserveError, Reserved, ReservedItem, total_cents,
};

#[derive(Debug, Default)]
struct State {
    products: BTreeMap<String, Product>,
    reservations: HashMap<Uuid, Reservation>,
    by_order: HashMap<Uuid, Uuid>,
}

/// Products and reservations in memory.
#[derive(Debug, Default)]
pub struct InMemoryRepository {
    state: Mutex<State>,
}

impl InMemoryRepository {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, RepoError> {
        self.state
            .lock()
            .map_err(|_| RepoError::Other("in-memory store poisoned by an earlier panic".into()))
    }
}

#[async_trait::async_trait]
impl Repository for InMemoryRepository {
    async fn list_products(&self) -> Result<Vec<Product>, RepoError> {
        Ok(self.lock()?.products.values().cloned().collect())
    }

    async fn get_product(&self, sku: &str) -> Result<Option<Product>, RepoError> {
        Ok(self.lock()?.products.get(sku).cloned())
    }

    async fn seed(&self, products: &[Product]) -> Result<u64, RepoError> {
        let mut state = self.lock()?;
        let mut inserted = 0;
        for product in products {
            if !state.products.contains_key(product.sku.as_str()) {
                state
                    .products
                    .insert(product.sku.as_str().to_owned(), product.clone());
                inserted += 1;
            }
        }
        Ok(inserted)
    }

    async fn reserve(&self, request: &NewReservation) -> Result<Reserved, ReserveError> {
        let mut state = self.lock()?;
        if let Some(existing) = state
            .by_order
            .get(&request.order_id)
            .and_then(|id| state.reservations.get(id))
        {
            return Ok(Reserved::Replayed(existing.clone()));
        }
        // Check every line before touching any stock: all or nothing.
        let mut items = Vec::with_capacity(request.lines.len());
        for line in &request.lines {
            let Some(product) = state.products.get(line.sku.as_str()) else {
                return Err(ReserveError::UnknownSku {
                    index: line.index,
                    sku: line.sku.clone(),
                });
            };
            if product.stock < line.quantity {
                return Err(ReserveError::InsufficientStock {
                    index: line.index,
                    sku: line.sku.clone(),
                    requested: line.quantity,
                    available: product.stock,
                });
            }
            items.push(ReservedItem {
                sku: line.sku.clone(),
                quantity: line.quantity,
                unit_price_cents: product.price_cents,
            });
        }
        let total = total_cents(&items)
            .ok_or_else(|| RepoError::Other("reservation total overflows i64".into()))?;
        for line in &request.lines {
            if let Some(product) = state.products.get_mut(line.sku.as_str()) {
                product.stock -= line.quantity;
            }
        }
        let reservation = Reservation {
            id: Uuid::new_v4(),
            order_id: request.order_id,
            status: ReservationStatus::Active,
            items,
            total_cents: total,
            created_at: Utc::now(),
        };
        state.by_order.insert(reservation.order_id, reservation.id);
        state
            .reservations
            .insert(reservation.id, reservation.clone());
        Ok(Reserved::Created(reservation))
    }

    async fn get_reservation(&self, id: Uuid) -> Result<Option<Reservation>, RepoError> {
        Ok(self.lock()?.reservations.get(&id).cloned())
    }

    async fn release(&self, id: Uuid) -> Result<Released, RepoError> {
        let mut state = self.lock()?;
        let State {
            products,
            reservations,
            ..
        } = &mut *state;
        let Some(reservation) = reservations.get_mut(&id) else {
            return Ok(Released::NotFound);
        };
        if reservation.status == ReservationStatus::Released {
            return Ok(Released::AlreadyReleased);
        }
        if let Some(missing) = reservation
            .items
            .iter()
            .find(|item| !products.contains_key(item.sku.as_str()))
        {
            return Err(RepoError::Other(format!(
                "reserved product {} disappeared",
                missing.sku
            )));
        }
        for item in &reservation.items {
            if let Some(product) = products.get_mut(item.sku.as_str()) {
                product.stock += item.quantity;
            }
        }
        reservation.status = ReservationStatus::Released;
        Ok(Released::Released)
    }
}
