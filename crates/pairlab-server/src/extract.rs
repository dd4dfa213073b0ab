//! Extractors whose rejections are [`ApiError`]s (JSON `{"kind","message"}`), so a bad id,
//! query or body reads like every other error.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::ApiError;
use pairlab_core::error::ErrorKind;

/// A positive integer id from the route's `{id}`; anything else (a path, a name, a
/// negative number) is refused with 400 before any handler runs.
pub struct Id(pub i64);

/// Parses an id: decimal digits only, greater than zero.
pub fn parse_id(raw: &str) -> Result<i64, ApiError> {
    Ok(pairlab_core::api::endpoint::parse_id(raw)?)
}

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(e.body_text()))?;
        parse_id(&raw).map(Id)
    }
}

/// `Json<T>` with a JSON rejection.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(ApiError::new(e.status(), ErrorKind::Invalid, e.body_text())),
        }
    }
}
