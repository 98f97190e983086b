use std::sync::Arc;

use axum::Router;

use crate::Console;

pub fn router() -> Router<Arc<Console>> {
    Router::new()
}
