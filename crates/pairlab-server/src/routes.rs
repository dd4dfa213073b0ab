//! The JSON routes, one per endpoint that core declares (`pairlab_core::api::endpoints`):
//! a single generic handler reads the path's `{id}` and the query (GET) or body (POST) into
//! the endpoint's arguments and makes its one call into core on a blocking thread.

use std::any::TypeId;

use axum::Json;
use axum::extract::{FromRequest, RawPathParams, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, Router, on};
use axum::{Extension, extract::Query};
use pairlab_core::Error;
use pairlab_core::api::requests::JobStarted;
use pairlab_core::api::{Call, Endpoint, Visit};

use crate::auth::CurrentUser;
use crate::extract::{ApiJson, parse_id};
use crate::{ApiError, AppState, blocking};

/// The largest label file a browser may upload.
pub const UPLOAD_LIMIT: usize = 256 << 20;

/// Builds the JSON part of the router, one route per endpoint.
#[derive(Default)]
pub struct Routes(pub Router<AppState>);

impl Visit for Routes {
    fn endpoint<E: Endpoint>(&mut self) {
        let method = match E::ROUTE.method {
            "POST" => MethodFilter::POST,
            _ => MethodFilter::GET,
        };
        let router = std::mem::take(&mut self.0);
        let mut route = on(method, handle::<E>);
        if E::ROUTE.name == "start_import_labels" {
            // A label file uploaded from a browser (CheXpert's train.csv is 25 MB); every
            // other body keeps axum's 2 MB limit.
            route = route.layer(axum::extract::DefaultBodyLimit::max(UPLOAD_LIMIT));
        }
        self.0 = router.route(E::ROUTE.path, route);
    }
}

/// One call of `E`: `200` with its answer (`202` when it started a job), or the error.
async fn handle<E: Endpoint>(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    params: RawPathParams,
    req: Request,
) -> Result<Response, ApiError> {
    let id = match params.iter().find(|(k, _)| *k == "id") {
        Some((_, raw)) => Some(parse_id(raw)?),
        None => None,
    };
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let empty = req
        .headers()
        .get(CONTENT_LENGTH)
        .is_some_and(|n| n.as_bytes() == b"0");
    let args: E::Args = if method == Method::GET {
        Query::<E::Args>::try_from_uri(req.uri())
            .map(|Query(v)| v)
            .map_err(|e| ApiError::invalid(e.body_text()))?
    } else if empty {
        // A POST without a body (`curl -X POST …/cancel`) has no arguments: `{}`.
        serde_json::from_value(serde_json::json!({}))
            .map_err(|e| ApiError::invalid(e.to_string()))?
    } else {
        ApiJson::<E::Args>::from_request(req, &state).await?.0
    };
    let jobs = state.jobs.clone();
    let user = user.map(|Extension(CurrentUser(u))| u);
    let answer = blocking(move || Ok(E::call(&Call::new(&jobs, user.as_ref()), id, args)?)).await;
    match answer {
        Ok(a) => {
            let started = TypeId::of::<E::Answer>() == TypeId::of::<JobStarted>();
            let status = if started {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(a)).into_response())
        }
        Err(ApiError::Core(Error::Forbidden(why))) => {
            eprintln!("pairlab serve: denied {method} {path}: {why}");
            Err(ApiError::Core(Error::Forbidden(why)))
        }
        Err(e) => Err(e),
    }
}
