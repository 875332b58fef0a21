//! Property tests of response handling. Whatever a server answers (garbage, a head cut short,
//! bytes split over many writes, bodies beyond the cap, an answer that never ends), the lean
//! transport gives the same answer or error class as the reqwest path (`http::classify_error`),
//! within its timeout, never a body beyond the cap; and the Ory clients' parsers turn any body
//! into a verdict or one error class, never a panic. Case counts are small: each case is a
//! loopback exchange, and the whole file stays within seconds on two shared cores.

use super::fast::FastHttp;
use super::http::{classify_error, read_body};
use super::test_server::read_head;
use super::{http_client, ClientOptions, OAuthClient, OryClients};
use crate::ground::{AuthMethod, ErrorClass, Outcome};
use crate::ory::{RelationTuple, Subject, TupleQuery};
use crate::secret::Secret;
use proptest::collection::vec;
use proptest::prelude::*;
use reqwest::Url;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_millis(250);
/// A small cap, so that generated bodies cross it.
const CAP: usize = 256;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What a server answers: `bytes`, written in pieces cut at `splits` (a short pause between
/// them), then the connection closed, or held open when `hold` (an answer that never ends).
#[derive(Debug, Clone)]
struct Answer {
    bytes: Vec<u8>,
    splits: Vec<usize>,
    hold: bool,
}

/// A loopback server giving every connection `answer`, until the returned task is aborted.
async fn serve(answer: Answer) -> (Url, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                if read_head(&mut sock).await.is_none() {
                    return;
                }
                let mut cuts: Vec<usize> = answer
                    .splits
                    .iter()
                    .map(|s| s % (answer.bytes.len() + 1))
                    .collect();
                cuts.sort_unstable();
                let mut from = 0;
                for cut in cuts.into_iter().chain([answer.bytes.len()]) {
                    if sock.write_all(&answer.bytes[from..cut]).await.is_err() {
                        return;
                    }
                    from = cut;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if answer.hold {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                // Half-close and drain what the client still sends (a request body), so that
                // closing does not reset the connection before the answer is read.
                let _ = sock.shutdown().await;
                let mut buf = [0u8; 4096];
                let drain = async { while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {} };
                let _ = tokio::time::timeout(Duration::from_millis(200), drain).await;
            });
        }
    });
    (url, task)
}

/// The lean transport of a Keto read endpoint at `url`.
fn lean_transport(url: &Url) -> FastHttp {
    super::test_server::lean_transport(url, &options()).expect("a plain http base")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn options() -> ClientOptions {
    ClientOptions {
        timeout: TIMEOUT,
        admin_token: None,
        max_connections_per_host: 4,
        // Always the lean path, whatever proxy the environment names.
        proxy_from_env: false,
    }
}

/// Every client with all six endpoints at `url`, on the lean transport or on reqwest only.
fn clients(url: &Url, lean: bool) -> OryClients {
    let endpoints = crate::ground::PerEndpoint::from_fn(|_| Some(url.clone()));
    OryClients::builder(&endpoints, &options())
        .lean(lean)
        .build()
        .expect("clients")
}

/// A head that HTTP parsers take, or nearly.
fn status_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (100u16..600).prop_map(|c| format!("HTTP/1.1 {c} X\r\n")),
        1 => Just("HTTP/1.0 200 OK\r\n".to_string()),
        1 => "[ -~]{0,24}\r\n",
    ]
}

fn header_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (0usize..600).prop_map(|n| format!("content-length: {n}\r\n")),
        Just("content-length: 99999999999999999999\r\n".to_string()),
        Just("transfer-encoding: chunked\r\n".to_string()),
        Just("connection: close\r\n".to_string()),
        Just("retry-after: 1\r\n".to_string()),
        "[a-z-]{1,12}: [ -~]{0,24}\r\n",
        "[ -~]{0,24}\r\n",
    ]
}

/// A chunked body: chunks whose declared size may not be their length, ended or not.
fn chunked_body() -> impl Strategy<Value = Vec<u8>> {
    (
        vec((vec(any::<u8>(), 0..200), 0usize..300, any::<bool>()), 0..4),
        any::<bool>(),
    )
        .prop_map(|(chunks, ended)| {
            let mut out = Vec::new();
            for (data, declared, honest) in chunks {
                let size = if honest { data.len() } else { declared };
                out.extend_from_slice(format!("{size:x}\r\n").as_bytes());
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\r\n");
            }
            if ended {
                out.extend_from_slice(b"0\r\n\r\n");
            }
            out
        })
}

fn answer() -> impl Strategy<Value = Answer> {
    let http = (
        status_line(),
        vec(header_line(), 0..4),
        prop_oneof![vec(any::<u8>(), 0..600), chunked_body()],
    )
        .prop_map(|(status, headers, body)| {
            let mut out = status.into_bytes();
            out.extend(headers.concat().into_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend(body);
            out
        });
    (
        prop_oneof![4 => http, 1 => vec(any::<u8>(), 0..300)],
        vec(any::<usize>(), 0..4),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(bytes, splits, hold)| Answer {
            bytes,
            splits,
            hold,
        })
}

/// The reqwest path: the general client, `classify_error`, the capped body reader.
async fn reqwest_get(client: &reqwest::Client, url: &Url) -> Result<(u16, Vec<u8>), ErrorClass> {
    let resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| classify_error(&e))?;
    let status = resp.status().as_u16();
    Ok((status, read_body(resp, CAP).await?))
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn the_lean_transport_answers_any_response_like_the_reqwest_path(answer in answer()) {
        let rt = runtime();
        let (lean, lean_took, general) = rt.block_on(async {
            let (url, server) = serve(answer).await;
            let fast = lean_transport(&url);
            let started = Instant::now();
            let lean = fast
                .get("/".into(), &[], CAP)
                .await
                .map(|(status, body)| (status.as_u16(), body));
            let lean_took = started.elapsed();
            let general = reqwest_get(&http_client(&options()).unwrap(), &url).await;
            server.abort();
            (lean, lean_took, general)
        });
        prop_assert!(lean_took < TIMEOUT + Duration::from_millis(500), "took {:?}", lean_took);
        if let Ok((_, body)) = &lean {
            prop_assert!(body.len() <= CAP, "read {} bytes", body.len());
        }
        prop_assert_eq!(lean, general);
    }
}

/// JSON of the shapes the clients parse, with the names they look for.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::String),
    ];
    let key = prop_oneof![
        Just("allowed"),
        Just("active"),
        Just("id"),
        Just("ui"),
        Just("action"),
        Just("nodes"),
        Just("attributes"),
        Just("name"),
        Just("value"),
        Just("session_token"),
        Just("session"),
        Just("identity"),
        Just("access_token"),
        Just("client_id"),
        Just("client_secret"),
        Just("relation_tuples"),
        Just("next_page_token"),
        Just("type"),
        Just("children"),
        Just("tuple"),
        Just("results"),
        Just("error"),
        Just("x"),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((key.clone(), inner), 0..6).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// A complete HTTP answer with `status` and `body`, closing its connection (the server answers
/// once per connection).
fn http_answer(status: u16, body: &[u8]) -> Answer {
    let mut bytes = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    Answer {
        bytes,
        splits: Vec::new(),
        hold: false,
    }
}

/// Every client call that parses a body, against a server giving `answer` to every request;
/// the outcomes, in a fixed order.
async fn every_parser(answer: Answer) -> Vec<(&'static str, Outcome)> {
    let (url, server) = serve(answer).await;
    let secret = Secret::new("s3cret-value");
    let lean = clients(&url, true);
    let general = clients(&url, false);
    let (kratos, hydra) = (lean.kratos.unwrap(), lean.hydra.unwrap());
    let keto = lean.keto.unwrap();
    let keto_general = general.keto.unwrap();
    let tuple = RelationTuple {
        namespace: "n".into(),
        object: "o".into(),
        relation: "r".into(),
        subject: Subject::Id("s".into()),
    };
    let query = TupleQuery {
        namespace: "n".into(),
        object: None,
        relation: None,
        subject: None,
    };
    let oauth = OAuthClient {
        client_id: "c".into(),
        client_secret: secret.clone(),
        auth: AuthMethod::ClientSecretBasic,
    };
    let traits = crate::ory::Traits {
        email: "a@example.com".into(),
        first: "A".into(),
        last: "B".into(),
    };
    let out = vec![
        (
            "kratos.register",
            kratos.register(&traits, &secret).await.outcome,
        ),
        (
            "kratos.login",
            kratos.login("a@example.com", &secret).await.outcome,
        ),
        ("kratos.whoami", kratos.whoami(&secret).await.outcome),
        (
            "kratos.lookup_identity",
            kratos.lookup_identity("a@example.com").await.outcome,
        ),
        (
            "hydra.create_client",
            hydra
                .create_client(AuthMethod::ClientSecretBasic, "")
                .await
                .outcome,
        ),
        ("hydra.token", hydra.token(&oauth, None).await.outcome),
        ("hydra.introspect", hydra.introspect(&secret).await.outcome),
        ("keto.check (lean)", keto.check(&tuple, None).await.outcome),
        ("keto.check", keto_general.check(&tuple, None).await.outcome),
        (
            "keto.expand",
            keto.expand("n", "o", "r", None).await.outcome,
        ),
        ("keto.list", keto.list(&query, None).await.outcome),
    ];
    server.abort();
    out
}

/// A body a client cannot use is `Protocol` (undecodable), `UnexpectedBody` (decoded, but not
/// what the call answers) or the status it came with; never a transport class, as the answer
/// arrived whole.
fn one_class(outcomes: &[(&'static str, Outcome)]) -> Result<(), TestCaseError> {
    for (name, outcome) in outcomes {
        prop_assert!(
            matches!(
                outcome,
                Outcome::Ok(_)
                    | Outcome::Err(
                        ErrorClass::Protocol | ErrorClass::UnexpectedBody | ErrorClass::Status(_)
                    )
            ),
            "{}: {:?}",
            name,
            outcome
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn the_clients_parse_any_json_body_into_a_verdict_or_one_class(
        status in prop_oneof![4 => Just(200u16), 1 => Just(201u16), 1 => 400u16..600],
        body in json_value(),
    ) {
        let outcomes = runtime().block_on(every_parser(http_answer(status, body.to_string().as_bytes())));
        one_class(&outcomes)?;
        // The lean and the general check read the same answer alike.
        prop_assert_eq!(outcomes[7].1, outcomes[8].1);
    }

    #[test]
    fn the_clients_parse_any_bytes_into_a_verdict_or_one_class(
        body in vec(any::<u8>(), 0..400),
    ) {
        let outcomes = runtime().block_on(every_parser(http_answer(200, &body)));
        one_class(&outcomes)?;
        prop_assert_eq!(outcomes[7].1, outcomes[8].1);
    }
}
