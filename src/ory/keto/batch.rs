//! Keto's batch check (v0.14.0+): `POST /relation-tuples/batch/check` with `{"tuples":[…]}`,
//! answered with one `{"allowed":bool,"error":"…"}` per tuple, in the order sent. A batch larger
//! than the server's `limit.max_batch_check_size` is refused whole with 400.

use super::{http, status_err, KetoClient, RelationTuple, TupleBody};
use crate::ground::{ErrorClass, Verdict};
use crate::ory::http::QueryBuf;
use crate::ory::wire::Body;
use crate::ory::Call;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

/// The answer for one tuple of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TupleVerdict {
    Allowed,
    Denied,
    /// Keto could not check it (e.g. an unknown namespace): `allowed:false` with an `error`.
    Failed,
}

impl TupleVerdict {
    /// The verdict a single check would have given; `None` for a failed tuple.
    pub fn verdict(self) -> Option<Verdict> {
        match self {
            TupleVerdict::Allowed => Some(Verdict::Allowed),
            TupleVerdict::Denied => Some(Verdict::Denied),
            TupleVerdict::Failed => None,
        }
    }
}

#[derive(Serialize)]
struct BatchBody<'a> {
    tuples: Vec<TupleBody<'a>>,
}

#[derive(Deserialize)]
struct BatchResult {
    results: Vec<TupleResult>,
}

#[derive(Deserialize)]
struct TupleResult {
    allowed: bool,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
}

/// The server's batch limit, from the 400 it answers a batch over it with
/// (`batch exceeds max size of 10`).
pub fn batch_limit_of(status: StatusCode, body: &[u8]) -> Option<usize> {
    if status != StatusCode::BAD_REQUEST {
        return None;
    }
    let e = serde_json::from_slice::<ErrorBody>(body).ok()?;
    e.error
        .message
        .strip_prefix("batch exceeds max size of ")?
        .trim()
        .parse()
        .ok()
}

impl KetoClient {
    /// `POST /relation-tuples/batch/check[?max-depth=]`. 200 with one result per tuple → `Ok`
    /// and the tuples' verdicts in order; a result count other than the tuples' →
    /// `UnexpectedBody`; any other status → its class.
    pub async fn batch_check(
        &self,
        tuples: &[RelationTuple],
        max_depth: Option<u32>,
    ) -> Call<Vec<TupleVerdict>> {
        Call::attempt(async {
            Ok(match self.batch_check_raw(tuples, max_depth).await? {
                (StatusCode::OK, body) => match http::decode::<BatchResult>(&body)? {
                    r if r.results.len() == tuples.len() => Call::ok_with(
                        Verdict::Ok,
                        r.results
                            .iter()
                            .map(|t| match (t.allowed, t.error.as_deref()) {
                                (_, Some(e)) if !e.is_empty() => TupleVerdict::Failed,
                                (true, _) => TupleVerdict::Allowed,
                                (false, _) => TupleVerdict::Denied,
                            })
                            .collect(),
                    ),
                    _ => Call::err(ErrorClass::UnexpectedBody),
                },
                (status, _) => status_err(status),
            })
        })
        .await
    }

    /// The batch call's status and body, for `batch_check` and for the preflight's look at
    /// the server's limit.
    pub async fn batch_check_raw(
        &self,
        tuples: &[RelationTuple],
        max_depth: Option<u32>,
    ) -> Result<(StatusCode, Vec<u8>), ErrorClass> {
        let mut url = QueryBuf::new(&self.inner.batch_check, 16);
        if let Some(d) = max_depth {
            url.s.push('?');
            url.pair_u32("max-depth", d);
        }
        let body = Body::json(&BatchBody {
            tuples: tuples.iter().map(TupleBody::from).collect(),
        })?;
        let headers = self.inner.headers.admin()?;
        let answer = self
            .inner
            .read
            .send(Method::POST, &url.s, headers, Some(body));
        let (status, body) = answer.await?.whole()?;
        Ok((status, body.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::Outcome;
    use crate::ory::keto::Subject;
    use crate::ory::test_server::clients_for;
    use crate::ory::test_server::{CannedServer, Reply};

    fn tuple(object: &str) -> RelationTuple {
        RelationTuple {
            namespace: "documents".into(),
            object: object.into(),
            relation: "viewer".into(),
            subject: Subject::Id("user:a".into()),
        }
    }

    fn client(srv: &CannedServer) -> KetoClient {
        clients_for(srv, None, false).keto.unwrap()
    }

    #[tokio::test]
    async fn each_tuple_gets_its_verdict_in_order() {
        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/relation-tuples/batch/check",
            200,
            r#"{"results":[{"allowed":true},{"allowed":false},{"allowed":false,"error":"The requested resource could not be found"}]}"#,
        )])
        .await;
        let call = client(&srv)
            .batch_check(&[tuple("a"), tuple("b"), tuple("c")], Some(3))
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        assert_eq!(
            call.value.unwrap(),
            vec![
                TupleVerdict::Allowed,
                TupleVerdict::Denied,
                TupleVerdict::Failed
            ]
        );
        let seen = srv.seen();
        assert_eq!(seen[0].target, "/relation-tuples/batch/check?max-depth=3");
        assert_eq!(
            seen[0].json()["tuples"][1],
            serde_json::json!({"namespace":"documents","object":"b","relation":"viewer","subject_id":"user:a"})
        );
    }

    #[tokio::test]
    async fn a_short_answer_is_unexpected_and_a_refused_batch_names_the_limit() {
        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/relation-tuples/batch/check",
            200,
            r#"{"results":[{"allowed":true}]}"#,
        )])
        .await;
        let call = client(&srv)
            .batch_check(&[tuple("a"), tuple("b")], None)
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::UnexpectedBody));

        let over = br#"{"error":{"code":400,"status":"Bad Request","message":"batch exceeds max size of 10"}}"#;
        assert_eq!(batch_limit_of(StatusCode::BAD_REQUEST, over), Some(10));
        assert_eq!(batch_limit_of(StatusCode::OK, over), None);
        assert_eq!(
            batch_limit_of(
                StatusCode::BAD_REQUEST,
                br#"{"error":{"message":"could not unmarshal json"}}"#
            ),
            None
        );
    }
}
