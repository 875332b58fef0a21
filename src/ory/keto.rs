//! Keto: relation-tuple writes and deletes on the write port, check/expand/list on the read port.
//!
//! Checks use `/relation-tuples/check/openapi` (always 200), so denials are answers, not HTTP
//! errors; a 403 `{"allowed":false}` (a deployment routing plain `/check`) is read as denied too.

use super::http::{self, AdminAuth, CallHeaders, QueryBuf};
use super::wire::{Body, Wire};
use super::Call;
use crate::ground::{ErrorClass, Verdict};
use reqwest::{Method, StatusCode, Url};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::Arc;

mod batch;
pub use batch::{batch_limit_of, TupleVerdict};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// An opaque subject id, e.g. `user:alice`.
    Id(String),
    /// Everyone with `relation` on `namespace:object`.
    Set {
        namespace: String,
        object: String,
        relation: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RelationTuple {
    pub namespace: String,
    pub object: String,
    pub relation: String,
    pub subject: Subject,
}

/// A subject by reference, for calls that only read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectRef<'a> {
    Id(&'a str),
    Set {
        namespace: &'a str,
        object: &'a str,
        relation: &'a str,
    },
}

/// A relation tuple by reference: what a check needs, without owning its strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TupleRef<'a> {
    pub namespace: &'a str,
    pub object: &'a str,
    pub relation: &'a str,
    pub subject: SubjectRef<'a>,
}

impl Subject {
    pub fn as_ref(&self) -> SubjectRef<'_> {
        match self {
            Subject::Id(id) => SubjectRef::Id(id),
            Subject::Set {
                namespace,
                object,
                relation,
            } => SubjectRef::Set {
                namespace,
                object,
                relation,
            },
        }
    }
}

impl RelationTuple {
    pub fn as_ref(&self) -> TupleRef<'_> {
        TupleRef {
            namespace: &self.namespace,
            object: &self.object,
            relation: &self.relation,
            subject: self.subject.as_ref(),
        }
    }
}

/// A filter for list and delete; `namespace` is required by Keto.
#[derive(Clone, Debug, Default)]
pub struct TupleQuery {
    pub namespace: String,
    pub object: Option<String>,
    pub relation: Option<String>,
    pub subject: Option<Subject>,
}

#[derive(Clone)]
pub struct KetoClient {
    pub(super) inner: Arc<Inner>,
}

/// Targets are origin-form (path and query, any base path included): the wires add the rest.
pub(super) struct Inner {
    /// The read endpoint's wire.
    pub(super) read: Arc<Wire>,
    /// The write endpoint's wire (it may send another client certificate).
    write: Arc<Wire>,
    /// `{write}/admin/relation-tuples`
    tuples: String,
    /// `{write}/admin/relation-tuples?`
    delete_prefix: String,
    /// `{read}/relation-tuples/check/openapi?`
    check_prefix: String,
    /// `{read}/relation-tuples/expand?`
    expand_prefix: String,
    /// `{read}/relation-tuples?`
    list_prefix: String,
    /// `{read}/relation-tuples/batch/check`
    pub(super) batch_check: String,
    pub(super) headers: CallHeaders,
}

#[derive(Serialize)]
struct TupleBody<'a> {
    namespace: &'a str,
    object: &'a str,
    relation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_set: Option<SubjectSetBody<'a>>,
}

#[derive(Serialize)]
struct SubjectSetBody<'a> {
    namespace: &'a str,
    object: &'a str,
    relation: &'a str,
}

impl<'a> From<&'a RelationTuple> for TupleBody<'a> {
    fn from(t: &'a RelationTuple) -> Self {
        let (subject_id, subject_set) = match &t.subject {
            Subject::Id(id) => (Some(id.as_str()), None),
            Subject::Set {
                namespace,
                object,
                relation,
            } => (
                None,
                Some(SubjectSetBody {
                    namespace,
                    object,
                    relation,
                }),
            ),
        };
        TupleBody {
            namespace: &t.namespace,
            object: &t.object,
            relation: &t.relation,
            subject_id,
            subject_set,
        }
    }
}

#[derive(Deserialize)]
struct CheckResult {
    allowed: bool,
}

#[derive(Deserialize)]
struct MaybeCheckResult {
    #[serde(default)]
    allowed: Option<bool>,
}

/// Node of an expand tree: only its type and children.
#[derive(Deserialize)]
struct Node {
    #[serde(rename = "type", default)]
    kind: Option<NodeKind>,
    #[serde(default)]
    children: Option<Vec<Node>>,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum NodeKind {
    Leaf,
    #[serde(other)]
    Other,
}

impl Node {
    /// Leaf subjects in the tree (recursion depth is bounded by serde_json's nesting limit).
    fn leaves(&self) -> usize {
        let own = usize::from(self.kind == Some(NodeKind::Leaf));
        own + self
            .children
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(Node::leaves)
            .sum::<usize>()
    }
}

#[derive(Deserialize)]
struct ListPage {
    /// Missing → `None` (unexpected); `null` → `Some(None)` (empty page).
    #[serde(default, deserialize_with = "present")]
    relation_tuples: Option<Option<Vec<IgnoredAny>>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Vec<IgnoredAny>>>, D::Error> {
    Option::<Vec<IgnoredAny>>::deserialize(d).map(Some)
}

use http::status_err;

/// Append the subject to a query in Keto's query-string form.
fn push_subject(q: &mut QueryBuf, subject: SubjectRef<'_>) {
    match subject {
        SubjectRef::Id(id) => {
            q.pair("subject_id", id);
        }
        SubjectRef::Set {
            namespace,
            object,
            relation,
        } => {
            q.pair("subject_set.namespace", namespace)
                .pair("subject_set.object", object)
                .pair("subject_set.relation", relation);
        }
    }
}

fn push_query(q: &mut QueryBuf, tq: &TupleQuery) {
    q.pair("namespace", &tq.namespace);
    if let Some(o) = &tq.object {
        q.pair("object", o);
    }
    if let Some(r) = &tq.relation {
        q.pair("relation", r);
    }
    if let Some(s) = &tq.subject {
        push_subject(q, s.as_ref());
    }
}

#[cfg(test)]
fn check_url(prefix: &str, t: &TupleRef<'_>, max_depth: Option<u32>) -> String {
    let mut q = QueryBuf::new(prefix, 128);
    push_check_query(&mut q, t, max_depth);
    q.s
}

fn push_check_query(q: &mut QueryBuf, t: &TupleRef<'_>, max_depth: Option<u32>) {
    q.pair("namespace", t.namespace)
        .pair("object", t.object)
        .pair("relation", t.relation);
    push_subject(q, t.subject);
    if let Some(d) = max_depth {
        q.pair_u32("max-depth", d);
    }
}

impl KetoClient {
    /// The client over the read and write endpoints' wires (see `OryClients::builder`).
    pub(super) fn build(
        (read, write): (Arc<Wire>, Arc<Wire>),
        (read_url, write_url): (&Url, &Url),
        auth: AdminAuth,
    ) -> Self {
        let inner = Inner {
            read,
            write,
            tuples: http::join_path(write_url, "/admin/relation-tuples"),
            delete_prefix: http::join_path(write_url, "/admin/relation-tuples") + "?",
            check_prefix: http::join_path(read_url, "/relation-tuples/check/openapi") + "?",
            expand_prefix: http::join_path(read_url, "/relation-tuples/expand") + "?",
            list_prefix: http::join_path(read_url, "/relation-tuples") + "?",
            batch_check: http::join_path(read_url, "/relation-tuples/batch/check"),
            headers: CallHeaders::new(&auth),
        };
        KetoClient {
            inner: Arc::new(inner),
        }
    }

    /// `PUT /admin/relation-tuples`. 201 → `Ok`. (Not idempotent: Keto stores duplicates.)
    pub async fn write(&self, t: &RelationTuple) -> Call<()> {
        Call::attempt(async {
            let headers = self.inner.headers.admin()?;
            let body = Body::json(&TupleBody::from(t))?;
            let answer =
                self.inner
                    .write
                    .send(Method::PUT, &self.inner.tuples, headers, Some(body));
            Ok(http::expect(answer.await?.status()?, StatusCode::CREATED))
        })
        .await
    }

    /// `GET /relation-tuples/check/openapi`. `allowed:true` → `Allowed`, `false` → `Denied`;
    /// a 403 `{"allowed":false}` → `Denied`.
    pub async fn check(&self, t: &RelationTuple, max_depth: Option<u32>) -> Call<()> {
        self.check_ref(&t.as_ref(), max_depth).await
    }

    /// `check` of a borrowed tuple.
    pub async fn check_ref(&self, t: &TupleRef<'_>, max_depth: Option<u32>) -> Call<()> {
        Call::attempt(async {
            let headers = self.inner.headers.admin()?;
            // The hottest call of all: its target is built in a buffer reused from call to call.
            let answer = QueryBuf::scratch(&self.inner.check_prefix, |q| {
                push_check_query(q, t, max_depth);
                self.inner.read.get(&q.s, headers)
            });
            Ok(match answer.await? {
                (StatusCode::OK, body) => match http::decode::<CheckResult>(&body)? {
                    CheckResult { allowed: true } => Call::ok(Verdict::Allowed),
                    CheckResult { allowed: false } => Call::ok(Verdict::Denied),
                },
                (StatusCode::FORBIDDEN, body) => match http::decode::<MaybeCheckResult>(&body) {
                    Ok(MaybeCheckResult {
                        allowed: Some(false),
                    }) => Call::ok(Verdict::Denied),
                    Ok(MaybeCheckResult {
                        allowed: Some(true),
                    }) => Call::err(ErrorClass::UnexpectedBody),
                    _ => Call::err(ErrorClass::Status(403)),
                },
                (status, _) => status_err(status),
            })
        })
        .await
    }

    /// `GET /relation-tuples/expand`. A tree → `Ok` + its number of leaf subjects; a 200 body
    /// without `type` (Keto's answer when the subject set has no tuples) → `Absent`.
    pub async fn expand(
        &self,
        namespace: &str,
        object: &str,
        relation: &str,
        max_depth: Option<u32>,
    ) -> Call<usize> {
        let mut q = QueryBuf::new(&self.inner.expand_prefix, 96);
        q.pair("namespace", namespace)
            .pair("object", object)
            .pair("relation", relation);
        if let Some(d) = max_depth {
            q.pair_u32("max-depth", d);
        }
        Call::attempt(async {
            let headers = self.inner.headers.admin()?;
            Ok(match self.inner.read.get(&q.s, headers).await? {
                (StatusCode::OK, body) => match http::decode::<Node>(&body)? {
                    root if root.kind.is_none() => Call::ok(Verdict::Absent),
                    root => Call::ok_with(Verdict::Ok, root.leaves()),
                },
                (status, _) => status_err(status),
            })
        })
        .await
    }

    /// `GET /relation-tuples?…[&page_size=]`. → `Ok` + the number of tuples in the (first) page.
    pub async fn list(&self, q: &TupleQuery, page_size: Option<u32>) -> Call<usize> {
        let mut url = QueryBuf::new(&self.inner.list_prefix, 128);
        push_query(&mut url, q);
        if let Some(n) = page_size {
            url.pair_u32("page_size", n);
        }
        Call::attempt(async {
            let headers = self.inner.headers.admin()?;
            Ok(match self.inner.read.get(&url.s, headers).await? {
                (StatusCode::OK, body) => match http::decode::<ListPage>(&body)? {
                    ListPage {
                        relation_tuples: Some(tuples),
                    } => Call::ok_with(Verdict::Ok, tuples.map_or(0, |t| t.len())),
                    ListPage {
                        relation_tuples: None,
                    } => Call::err(ErrorClass::UnexpectedBody),
                },
                (status, _) => status_err(status),
            })
        })
        .await
    }

    /// `DELETE /admin/relation-tuples?namespace=…` (no body). 204 → `Ok`, also when nothing
    /// matched.
    pub async fn delete(&self, q: &TupleQuery) -> Call<()> {
        let mut url = QueryBuf::new(&self.inner.delete_prefix, 128);
        push_query(&mut url, q);
        Call::attempt(async {
            let headers = self.inner.headers.admin()?;
            let answer = self.inner.write.send(Method::DELETE, &url.s, headers, None);
            Ok(http::expect(
                answer.await?.status()?,
                StatusCode::NO_CONTENT,
            ))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::Outcome;
    use crate::ory::test_server::{clients_for, CannedServer, Reply};

    const EXPAND_TREE: &str = r#"{"type":"union","tuple":{"namespace":"groups","object":"eng","relation":"member","subject_set":{"namespace":"groups","object":"eng","relation":"member"}},"children":[{"type":"leaf","tuple":{"namespace":"groups","object":"eng","relation":"member","subject_id":"user:alice"}},{"type":"union","tuple":{"namespace":"groups","object":"eng","relation":"member","subject_set":{"namespace":"groups","object":"infra","relation":"member"}},"children":[{"type":"leaf","tuple":{"subject_id":"user:bob"}},{"type":"leaf","tuple":{"subject_id":"user:carol"}}]}]}"#;
    const EXPAND_QUIRK: &str =
        r#"{"code":404,"status":"Not Found","message":"no relation tuple found"}"#;
    const UNKNOWN_NS: &str = r#"{"error":{"code":404,"status":"Not Found","reason":"Unknown namespace with name \"nope\".","message":"The requested resource could not be found"}}"#;
    const ENVELOPE_500: &str = r#"{"error":{"code":500,"status":"Internal Server Error","message":"An internal server error occurred, please contact the system administrator"}}"#;

    fn keto(srv: &CannedServer, token: Option<&str>) -> KetoClient {
        clients_for(srv, token, false).keto.unwrap()
    }

    fn tuple(subject: Subject) -> RelationTuple {
        RelationTuple {
            namespace: "documents".into(),
            object: "doc 1/ä".into(),
            relation: "viewer".into(),
            subject,
        }
    }

    fn set() -> Subject {
        Subject::Set {
            namespace: "groups".into(),
            object: "eng".into(),
            relation: "member".into(),
        }
    }

    #[test]
    fn check_query_encodes_ids_and_subject_sets() {
        let t = tuple(Subject::Id("user:a+b@example.com".into()));
        assert_eq!(
            check_url(
                "http://k/relation-tuples/check/openapi?",
                &t.as_ref(),
                Some(3)
            ),
            "http://k/relation-tuples/check/openapi?namespace=documents&object=doc%201%2F%C3%A4\
             &relation=viewer&subject_id=user%3Aa%2Bb%40example.com&max-depth=3"
        );
        assert_eq!(
            check_url("?", &tuple(set()).as_ref(), None),
            "?namespace=documents&object=doc%201%2F%C3%A4&relation=viewer\
             &subject_set.namespace=groups&subject_set.object=eng&subject_set.relation=member"
        );
    }

    #[test]
    fn tuple_body_has_exactly_one_subject() {
        let j = serde_json::to_value(TupleBody::from(&tuple(Subject::Id("u1".into())))).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"namespace":"documents","object":"doc 1/ä","relation":"viewer","subject_id":"u1"})
        );
        let j = serde_json::to_value(TupleBody::from(&tuple(set()))).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"namespace":"documents","object":"doc 1/ä","relation":"viewer",
                "subject_set":{"namespace":"groups","object":"eng","relation":"member"}})
        );
    }

    #[test]
    fn expand_counts_leaves() {
        let root: Node = serde_json::from_str(EXPAND_TREE).unwrap();
        assert_eq!(root.leaves(), 3);
        let quirk: Node = serde_json::from_str(EXPAND_QUIRK).unwrap();
        assert!(quirk.kind.is_none());
        let odd: Node =
            serde_json::from_str(r#"{"type":"tuple_to_subject_set","children":null}"#).unwrap();
        assert_eq!(odd.leaves(), 0);
    }

    #[tokio::test]
    async fn write_puts_json_with_the_admin_token() {
        let srv = CannedServer::start(vec![Reply::new(
            "PUT",
            "/admin/relation-tuples",
            201,
            r#"{"namespace":"documents","object":"doc 1/ä","relation":"viewer","subject_id":"u1"}"#,
        )])
        .await;
        let k = keto(&srv, Some("ory_pat_k"));
        let call = k.write(&tuple(Subject::Id("u1".into()))).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        let seen = &srv.seen()[0];
        assert_eq!(seen.header("authorization"), Some("Bearer ory_pat_k"));
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(seen.json()["subject_id"], "u1");

        let srv = CannedServer::start(vec![Reply::new(
            "PUT",
            "/admin/relation-tuples",
            404,
            UNKNOWN_NS,
        )])
        .await;
        let call = keto(&srv, None)
            .write(&tuple(Subject::Id("u1".into())))
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(404)));
    }

    #[tokio::test]
    async fn check_allowed_denied_and_403() {
        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples/check/openapi",
            200,
            r#"{"allowed":true}"#,
        )])
        .await;
        let k = keto(&srv, Some("ory_pat_k"));
        let call = k.check(&tuple(set()), Some(5)).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Allowed));
        let seen = &srv.seen()[0];
        assert!(seen
            .target
            .starts_with("/relation-tuples/check/openapi?namespace=documents&"));
        assert!(seen
            .target
            .ends_with("&subject_set.relation=member&max-depth=5"));
        assert_eq!(seen.header("authorization"), Some("Bearer ory_pat_k"));

        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples/check/openapi",
            200,
            r#"{"allowed":false}"#,
        )])
        .await;
        let call = keto(&srv, None).check(&tuple(set()), None).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Denied));

        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples/check/openapi",
            403,
            r#"{"allowed":false}"#,
        )])
        .await;
        let call = keto(&srv, None).check(&tuple(set()), None).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Denied));

        // A 403 that is not a check result (e.g. a gateway rejecting the API key).
        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples/check/openapi",
            403,
            r#"{"error":{"code":403,"status":"Forbidden","message":"Access credentials are not sufficient"}}"#,
        )])
        .await;
        let call = keto(&srv, None).check(&tuple(set()), None).await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(403)));

        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples/check/openapi",
            200,
            "yes",
        )])
        .await;
        let call = keto(&srv, None).check(&tuple(set()), None).await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Protocol));
    }

    #[tokio::test]
    async fn check_over_the_fast_transport_reads_answers_alike() {
        let fast = |srv: &CannedServer, token: Option<&str>| {
            let k = clients_for(srv, token, true).keto.unwrap();
            assert!(
                k.inner.read.is_lean(),
                "plain http on loopback takes the fast transport"
            );
            k
        };
        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples/check/openapi",
            200,
            r#"{"allowed":true}"#,
        )])
        .await;
        let call = fast(&srv, Some("ory_pat_k"))
            .check(&tuple(set()), Some(5))
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Allowed));
        let seen = &srv.seen()[0];
        assert_eq!(
            seen.target,
            "/relation-tuples/check/openapi?namespace=documents&object=doc%201%2F%C3%A4\
             &relation=viewer&subject_set.namespace=groups&subject_set.object=eng\
             &subject_set.relation=member&max-depth=5"
        );
        assert_eq!(seen.header("authorization"), Some("Bearer ory_pat_k"));
        assert_eq!(seen.header("accept"), Some("application/json"));

        for (status, body, expect) in [
            (200, r#"{"allowed":false}"#, Outcome::Ok(Verdict::Denied)),
            (403, r#"{"allowed":false}"#, Outcome::Ok(Verdict::Denied)),
            (
                403,
                r#"{"error":{"code":403}}"#,
                Outcome::Err(ErrorClass::Status(403)),
            ),
            (200, "yes", Outcome::Err(ErrorClass::Protocol)),
            (500, ENVELOPE_500, Outcome::Err(ErrorClass::Status(500))),
        ] {
            let srv = CannedServer::start(vec![Reply::new(
                "GET",
                "/relation-tuples/check/openapi",
                status,
                body,
            )])
            .await;
            let call = fast(&srv, None)
                .check(&tuple(Subject::Id("u1".into())), None)
                .await;
            assert_eq!(call.outcome, expect, "{status} {body}");
        }

        // An admin token that cannot be sent fails the call before anything is sent.
        let srv = CannedServer::start(vec![]).await;
        let mut k = fast(&srv, None);
        Arc::get_mut(&mut k.inner).unwrap().headers = CallHeaders::new(&AdminAuth::Invalid);
        let call = k.check(&tuple(set()), None).await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Protocol));
        assert!(srv.seen().is_empty());
    }

    #[tokio::test]
    async fn expand_tree_quirk_and_unknown_namespace() {
        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples/expand",
            200,
            EXPAND_TREE,
        )])
        .await;
        let k = keto(&srv, None);
        let call = k.expand("groups", "eng", "member", Some(4)).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        assert_eq!(call.value, Some(3));
        assert_eq!(
            srv.seen()[0].target,
            "/relation-tuples/expand?namespace=groups&object=eng&relation=member&max-depth=4"
        );

        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples/expand",
            200,
            EXPAND_QUIRK,
        )])
        .await;
        let call = keto(&srv, None)
            .expand("groups", "none", "member", None)
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Absent));
        assert!(call.value.is_none());

        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples/expand",
            404,
            UNKNOWN_NS,
        )])
        .await;
        let call = keto(&srv, None).expand("nope", "x", "y", None).await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(404)));
    }

    #[tokio::test]
    async fn list_counts_the_page() {
        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/relation-tuples",
            200,
            r#"{"relation_tuples":[{"namespace":"documents","object":"d","relation":"viewer","subject_id":"u1"},{"namespace":"documents","object":"d","relation":"viewer","subject_set":{"namespace":"groups","object":"eng","relation":"member"}}],"next_page_token":"abc"}"#,
        )])
        .await;
        let k = keto(&srv, None);
        let q = TupleQuery {
            namespace: "documents".into(),
            object: Some("d".into()),
            relation: None,
            subject: Some(Subject::Id("user:x".into())),
        };
        let call = k.list(&q, Some(50)).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        assert_eq!(call.value, Some(2));
        assert_eq!(
            srv.seen()[0].target,
            "/relation-tuples?namespace=documents&object=d&subject_id=user%3Ax&page_size=50"
        );

        for (body, expect) in [
            (
                r#"{"relation_tuples":[],"next_page_token":""}"#,
                Call::<usize>::ok_with(Verdict::Ok, 0),
            ),
            (
                r#"{"relation_tuples":null,"next_page_token":""}"#,
                Call::ok_with(Verdict::Ok, 0),
            ),
            (
                r#"{"next_page_token":""}"#,
                Call::err(ErrorClass::UnexpectedBody),
            ),
            ("<html>", Call::err(ErrorClass::Protocol)),
        ] {
            let srv =
                CannedServer::start(vec![Reply::new("GET", "/relation-tuples", 200, body)]).await;
            let call = keto(&srv, None).list(&TupleQuery::default(), None).await;
            assert_eq!(
                (call.outcome, call.value),
                (expect.outcome, expect.value),
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn delete_by_query_and_500() {
        let srv = CannedServer::start(vec![Reply::new(
            "DELETE",
            "/admin/relation-tuples",
            204,
            "",
        )])
        .await;
        let k = keto(&srv, Some("ory_pat_k"));
        let q = TupleQuery {
            namespace: "documents".into(),
            object: Some("doc 1".into()),
            relation: Some("viewer".into()),
            subject: Some(set()),
        };
        assert_eq!(k.delete(&q).await.outcome, Outcome::Ok(Verdict::Ok));
        let seen = &srv.seen()[0];
        assert_eq!(
            seen.target,
            "/admin/relation-tuples?namespace=documents&object=doc%201&relation=viewer\
             &subject_set.namespace=groups&subject_set.object=eng&subject_set.relation=member"
        );
        assert!(seen.body.is_empty());
        assert_eq!(seen.header("authorization"), Some("Bearer ory_pat_k"));

        let srv = CannedServer::start(vec![Reply::new(
            "DELETE",
            "/admin/relation-tuples",
            500,
            ENVELOPE_500,
        )])
        .await;
        let call = keto(&srv, None).delete(&q).await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(500)));
    }
}
