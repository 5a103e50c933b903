//! Provider states and message producers written in Rust: [`Handlers`] holds them by name.
//!
//! The same [`Handlers`] can be registered on a [`crate::Verifier`] (verifying from
//! `cargo test`) or served over HTTP with [`crate::serve`] (Pact's standard state-change and
//! message endpoints, for the CLI and for verifiers in other languages).

use std::{collections::BTreeMap, fmt, future::Future, pin::Pin, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An error of user code (a state handler or a producer), shown as the interaction's error.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Values a state's setup hands back for the pact's `fromProviderState` expressions (for
/// example `{"orderId": "…"}` for a path `/orders/${orderId}`).
pub type StateValues = Map<String, Value>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Setting a provider state up, or tearing it down after the interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Setup,
    Teardown,
}

/// One state change: the state's name, its parameters from the pact, and the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub state: String,
    #[serde(default)]
    pub params: Map<String, Value>,
    pub action: Action,
}

impl StateChange {
    /// A parameter as a string (`None` when absent or not a string).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(Value::as_str)
    }
}

/// A provider state named in a message request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestedState {
    pub name: String,
    #[serde(default)]
    pub params: Map<String, Value>,
}

/// The verifier asking for a message (`POST` body of Pact's message endpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequest {
    pub description: String,
    #[serde(default)]
    pub provider_states: Vec<RequestedState>,
}

/// A message as the provider would publish it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The body (JSON).
    pub contents: Value,
    /// Message metadata (e.g. the routing key) compared with the pact's metadata.
    pub metadata: Map<String, Value>,
}

impl Message {
    /// A JSON message without metadata.
    pub fn json(contents: impl Serialize) -> Result<Self, HandlerError> {
        Ok(Self {
            contents: serde_json::to_value(contents)?,
            metadata: Map::new(),
        })
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }
}

/// Sets a provider state up or tears it down. Implemented for async closures
/// `Fn(StateChange) -> impl Future<Output = Result<StateValues, HandlerError>>`.
pub trait StateHandler: Send + Sync {
    fn change(&self, change: StateChange) -> BoxFuture<Result<StateValues, HandlerError>>;
}

impl<F, Fut> StateHandler for F
where
    F: Fn(StateChange) -> Fut + Send + Sync,
    Fut: Future<Output = Result<StateValues, HandlerError>> + Send + 'static,
{
    fn change(&self, change: StateChange) -> BoxFuture<Result<StateValues, HandlerError>> {
        Box::pin(self(change))
    }
}

/// Produces the message of one description. Implemented for async closures
/// `Fn(MessageRequest) -> impl Future<Output = Result<Message, HandlerError>>`.
pub trait MessageProducer: Send + Sync {
    fn produce(&self, request: MessageRequest) -> BoxFuture<Result<Message, HandlerError>>;
}

impl<F, Fut> MessageProducer for F
where
    F: Fn(MessageRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Message, HandlerError>> + Send + 'static,
{
    fn produce(&self, request: MessageRequest) -> BoxFuture<Result<Message, HandlerError>> {
        Box::pin(self(request))
    }
}

/// Provider states by name and message producers by description.
#[derive(Clone, Default)]
pub struct Handlers {
    states: BTreeMap<String, Arc<dyn StateHandler>>,
    messages: BTreeMap<String, Arc<dyn MessageProducer>>,
}

impl fmt::Debug for Handlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handlers")
            .field("states", &self.states.keys().collect::<Vec<_>>())
            .field("messages", &self.messages.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Handlers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler of the provider state `name` (replacing an earlier one).
    pub fn state(mut self, name: &str, handler: impl StateHandler + 'static) -> Self {
        self.states.insert(name.to_owned(), Arc::new(handler));
        self
    }

    /// Registers the producer of the message with this `description`.
    pub fn message(mut self, description: &str, producer: impl MessageProducer + 'static) -> Self {
        self.messages
            .insert(description.to_owned(), Arc::new(producer));
        self
    }

    /// Adds every handler of `other` (its entries win).
    pub fn merge(mut self, other: Handlers) -> Self {
        self.states.extend(other.states);
        self.messages.extend(other.messages);
        self
    }

    /// The names of the registered states.
    pub fn state_names(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// The descriptions of the registered messages.
    pub fn message_descriptions(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }

    pub fn has_messages(&self) -> bool {
        !self.messages.is_empty()
    }

    pub fn has_state(&self, name: &str) -> bool {
        self.states.contains_key(name)
    }

    /// Runs the handler of `change.state`. An unknown state is an error, never skipped:
    /// skipping would verify the interaction against whatever data happens to be there.
    pub async fn change_state(&self, change: StateChange) -> Result<StateValues, HandlerError> {
        let Some(handler) = self.states.get(&change.state) else {
            return Err(format!(
                "no handler for the provider state {:?} (known: {})",
                change.state,
                list(self.state_names())
            )
            .into());
        };
        handler.change(change).await
    }

    /// Runs the producer of `request.description`; unknown descriptions are errors.
    pub async fn produce(&self, request: MessageRequest) -> Result<Message, HandlerError> {
        let Some(producer) = self.messages.get(&request.description) else {
            return Err(format!(
                "no producer for the message {:?} (known: {})",
                request.description,
                list(self.message_descriptions())
            )
            .into());
        };
        producer.produce(request).await
    }
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
