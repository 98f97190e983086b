//! The API's routes, one module per resource.

pub mod audit;
pub mod auth;
pub mod plans;
pub mod subscriptions;
pub mod system;
pub mod test_clock;
pub mod users;
