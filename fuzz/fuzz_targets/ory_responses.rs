//! Response handling of the lean transport and the Ory clients' body parsers: the input is a
//! whole HTTP response, served by an in-process loopback server to a Keto check, a Kratos
//! whoami, a Hydra token request and a Keto list (all on the lean transport). Any
//! answer gives a verdict or one error class, never a panic, and nothing waits for the timeout
//! (the server closes the connection after the answer).
#![no_main]

use libfuzzer_sys::fuzz_target;
use orysim::ground::AuthMethod;
use orysim::ory::{
    ClientOptions, HydraClient, KetoClient, KratosClient, OAuthClient, OryClients, RelationTuple,
    Subject, TupleQuery,
};
use orysim::secret::Secret;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

struct Fixture {
    answer: Arc<Mutex<Vec<u8>>>,
    rt: tokio::runtime::Runtime,
    keto: KetoClient,
    kratos: KratosClient,
    hydra: HydraClient,
}

/// A loopback server answering every connection with the current input, then closing it.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let answer = Arc::new(Mutex::new(Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let served = answer.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let bytes = served.lock().unwrap().clone();
                let _ = stream.write_all(&bytes);
                let _ = stream.shutdown(std::net::Shutdown::Write);
            }
        });
        let opts = ClientOptions {
            timeout: Duration::from_millis(500),
            admin_token: None,
            max_connections_per_host: 1,
            proxy_from_env: false,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let endpoints = orysim::ground::PerEndpoint::from_fn(|_| Some(url.clone()));
        let clients = {
            let _runtime = rt.enter();
            OryClients::builder(&endpoints, &opts).build().unwrap()
        };
        Fixture {
            answer,
            rt,
            keto: clients.keto.unwrap(),
            kratos: clients.kratos.unwrap(),
            hydra: clients.hydra.unwrap(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    *f.answer.lock().unwrap() = data.to_vec();
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
    let secret = Secret::new("s3cret-value");
    let client = OAuthClient {
        client_id: "c".into(),
        client_secret: secret.clone(),
        auth: AuthMethod::ClientSecretBasic,
    };
    f.rt.block_on(async {
        let _ = f.keto.check(&tuple, None).await;
        let _ = f.kratos.whoami(&secret).await;
        let _ = f.hydra.token(&client, None).await;
        let _ = f.keto.list(&query, None).await;
    });
});
