//! The in-memory [`Ledger`]: two maps behind one mutex, so each operation (the look-up by
//! order and the insert, the status check and the void) happens in one critical section,
//! as the PostgreSQL ledger's statements do. Used by the unit tests; forgotten on restart.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use uuid::Uuid;

use super::{Ledger, LedgerError, NewPayment, Payment, PaymentStatus, Recorded, Voided, now};

#[derive(Debug, Default)]
struct Entries {
    by_id: HashMap<Uuid, Payment>,
    by_order: HashMap<Uuid, Uuid>,
}

impl Entries {
    /// Voids the stored payment `id` (which exists) following the rules.
    fn void(&mut self, id: Uuid) -> Option<Voided> {
        let payment = self.by_id.get_mut(&id)?;
        Some(match payment.status {
            PaymentStatus::Authorized => {
                payment.status = PaymentStatus::Voided;
                payment.voided_at = Some(now());
                Voided::Voided(payment.clone())
            }
            PaymentStatus::Voided => Voided::AlreadyVoided(payment.clone()),
            PaymentStatus::Declined => Voided::Declined(payment.clone()),
        })
    }

    fn insert(&mut self, payment: Payment) {
        self.by_order.insert(payment.order_id, payment.id);
        self.by_id.insert(payment.id, payment);
    }
}

/// Payments in memory.
#[derive(Debug, Default)]
pub struct InMemoryLedger {
    entries: Mutex<Entries>,
}

impl InMemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many payments are stored.
    pub fn len(&self) -> usize {
        self.lock().map(|e| e.by_id.len()).unwrap_or(0)
    }

    /// Whether no payment is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> Result<MutexGuard<'_, Entries>, LedgerError> {
        // A poisoned lock means a panic inside a critical section; each section writes the
        // maps only after every check, so the data is never half-updated, but report it
        // rather than guess.
        self.entries
            .lock()
            .map_err(|_| LedgerError::Other("ledger lock poisoned by an earlier panic".into()))
    }
}

fn dangling(order_id: Uuid) -> LedgerError {
    LedgerError::Other(format!(
        "the order index of {order_id} points at a missing payment"
    ))
}

#[async_trait::async_trait]
impl Ledger for InMemoryLedger {
    async fn record(&self, candidate: Payment) -> Result<Recorded, LedgerError> {
        let mut entries = self.lock()?;
        if let Some(existing_id) = entries.by_order.get(&candidate.order_id) {
            let existing = entries
                .by_id
                .get(existing_id)
                .cloned()
                .ok_or_else(|| dangling(candidate.order_id))?;
            return Ok(if existing.same_terms(&candidate) {
                Recorded::Existing(existing)
            } else {
                Recorded::Mismatch(existing)
            });
        }
        entries.insert(candidate.clone());
        Ok(Recorded::Created(candidate))
    }

    async fn get(&self, id: Uuid) -> Result<Option<Payment>, LedgerError> {
        Ok(self.lock()?.by_id.get(&id).cloned())
    }

    async fn void(&self, id: Uuid) -> Result<Option<Voided>, LedgerError> {
        Ok(self.lock()?.void(id))
    }

    async fn void_order(&self, request: NewPayment) -> Result<Voided, LedgerError> {
        let mut entries = self.lock()?;
        if let Some(&id) = entries.by_order.get(&request.order_id) {
            return entries.void(id).ok_or_else(|| dangling(request.order_id));
        }
        let payment = Payment::voided_before_recorded(request);
        entries.insert(payment.clone());
        Ok(Voided::Recorded(payment))
    }

    async fn ping(&self) -> Result<(), LedgerError> {
        self.lock().map(|_| ())
    }
}
