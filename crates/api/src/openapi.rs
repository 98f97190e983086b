//! The error half of the OpenAPI document (SPEC §2, Errors). A handler declares the answers of
//! its own rules (403, 404, 409, 422 …); the answers every request can get from the shared
//! layers are added here to every operation, so that generated clients and contract fuzzers
//! agree with the server:
//!
//! - 401 and 403 on every operation that takes a bearer token (an API key is refused with 403
//!   on any route its scopes do not name);
//! - 400, 413, 415 and 422 where a JSON body is read;
//! - 400 where path or query parameters are parsed, 404 where they name a resource;
//! - 429 (rate limit, with `Retry-After`) and 503 (time-out, database unreachable) everywhere;
//!
//! and every problem answer is `application/problem+json`, the media type the server sends.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};

const PROBLEM: &str = "application/problem+json";
const PROBLEM_SCHEMA: &str = "#/components/schemas/Problem";

/// Declares the shared error answers on every operation of `doc`.
pub fn declare_errors(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let item_params = item.parameters.clone().unwrap_or_default();
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            let params = op.parameters.iter().flatten().chain(&item_params);
            let (mut path, mut query, mut names_resource) = (false, false, false);
            for p in params {
                match p.parameter_in {
                    ParameterIn::Path => (path, names_resource) = (true, true),
                    ParameterIn::Query => {
                        query = true;
                        // A filter by a customer (or another resource) outside the caller's
                        // reach is 404, like the resource itself.
                        names_resource |= p.name.ends_with("_id");
                    }
                    _ => {}
                }
            }
            declare_on(op, path || query, names_resource);
        }
    }
}

fn declare_on(op: &mut Operation, parameters: bool, names_resource: bool) {
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            problem_media_type(response);
        }
    }
    let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let body = op.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem(status, description)));
    };
    if body || parameters {
        add("400", "Malformed JSON, path or query parameters");
    }
    if authenticated {
        add("401", "Missing, invalid, expired or revoked credentials");
        // An API key is refused on every route its scopes do not name.
        add("403", "Not allowed to the caller's roles or API key scopes");
    }
    if names_resource {
        add("404", "Not found, or outside the caller's reach");
    }
    if body {
        add("413", "The request body is too large");
        add("415", "The body is not declared as JSON");
        add("422", "The request has invalid fields");
    }
    add("429", "Too many requests; see Retry-After");
    add(
        "503",
        "The request took too long, or the database is unreachable",
    );
}

/// A handler's `body = Problem` is rendered as `application/json`; the server sends
/// `application/problem+json`.
fn problem_media_type(response: &mut Response) {
    let is_problem = |content: &utoipa::openapi::Content| matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location == PROBLEM_SCHEMA);
    if let Some(content) = response.content.get("application/json")
        && is_problem(content)
    {
        let content = response
            .content
            .shift_remove("application/json")
            .expect("just found");
        response.content.insert(PROBLEM.to_owned(), content);
    }
}

fn problem(status: &str, description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        PROBLEM,
        ContentBuilder::new()
            .schema(Some(Ref::new(PROBLEM_SCHEMA)))
            .build(),
    );
    if status == "429" {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds to wait before trying again"))
                .build(),
        );
    }
    response.build()
}
