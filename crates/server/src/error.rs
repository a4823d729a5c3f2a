//! The HTTP adapter's answers when a request fails: every error is JSON,
//! `{"error": ...}`, naming the problem; the core's typed [`app::Error`]
//! becomes its status here and nowhere else.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A refused request, as answered.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = crate::wire::ErrorBody {
            error: self.message,
            code: None,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<app::Error> for ApiError {
    fn from(e: app::Error) -> ApiError {
        use app::Error as E;
        use routing::RoutingError as R;
        let status = match &e {
            E::Invalid(_) => StatusCode::BAD_REQUEST,
            E::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::Unauthorised(_) => StatusCode::UNAUTHORIZED,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            E::Refused(
                R::UnknownContact(_) | R::UnknownAgent(_) | R::UnknownQueue(_) | R::UnknownSite(_),
            ) => StatusCode::NOT_FOUND,
            E::Refused(R::InvalidContact { .. } | R::Config(_) | R::LimitReached { .. }) => {
                StatusCode::BAD_REQUEST
            }
            E::Refused(_) => StatusCode::CONFLICT,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Response {
        e.into_response()
    }
}

/// A refusal with this status and message.
pub(crate) fn error(status: StatusCode, message: String) -> Response {
    ApiError { status, message }.into_response()
}

/// A refusal with a machine-readable `code` beside the message.
pub(crate) fn coded(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(crate::wire::ErrorBody {
            error: message,
            code: Some(code.into()),
        }),
    )
        .into_response()
}

/// The core's error as an answer.
pub(crate) fn api(e: app::Error) -> Response {
    ApiError::from(e).into_response()
}

/// The answer to an input made durable: its events, and the id the server
/// chose for a new contact.
pub(crate) fn submitted(ok: StatusCode, r: Result<app::Submitted, app::Error>) -> Response {
    match r {
        Ok(app::Submitted { id, events }) => {
            let body = crate::wire::Submitted {
                id: id.map(|c| c.0),
                events: events.iter().map(crate::wire::Record::from).collect(),
            };
            (ok, Json(body)).into_response()
        }
        Err(e) => api(e),
    }
}

/// Anything a handler can answer a failure with.
pub(crate) trait Answer {
    fn answer(self) -> Response;
}

impl Answer for Response {
    fn answer(self) -> Response {
        self
    }
}

impl Answer for ApiError {
    fn answer(self) -> Response {
        self.into_response()
    }
}

impl Answer for app::Error {
    fn answer(self) -> Response {
        api(self)
    }
}

/// A JSON body as the extractor gave it.
pub(crate) type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// A body the extractor refused: its status and text (400 syntax, 422
/// shape, 413 size, 415 type).
pub(crate) fn body<T>(b: Body<T>) -> Result<T, Response> {
    b.map(|Json(v)| v)
        .map_err(|e| error(e.status(), e.body_text()))
}

macro_rules! tryr {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return $crate::error::Answer::answer(r),
        }
    };
}
pub(crate) use tryr;
