//! The API's routes, one module per resource.

pub mod audit;
pub mod auth;
pub mod contacts;
pub mod customers;
pub mod members;
pub mod settings;
pub mod system;
pub mod test_clock;
pub mod users;
