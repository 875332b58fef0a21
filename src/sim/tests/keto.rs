//! Keto: writes, checks, expand, list, delete, namespaces.

use serde_json::{json, Value};

use super::*;
use crate::ground::{Endpoint, PerEndpoint};

async fn put(c: &reqwest::Client, urls: &PerEndpoint<String>, tuple: &Value) -> (u16, Value) {
    let r = c
        .put(format!(
            "{}/admin/relation-tuples",
            urls[Endpoint::KetoWrite]
        ))
        .json(tuple)
        .send()
        .await
        .expect("request");
    parts(r).await
}

async fn seed(c: &reqwest::Client, urls: &PerEndpoint<String>) {
    for t in [
        json!({"namespace": "documents", "object": "doc1", "relation": "viewer", "subject_set": {"namespace": "groups", "object": "eng", "relation": "member"}}),
        json!({"namespace": "groups", "object": "eng", "relation": "member", "subject_id": "alice"}),
        json!({"namespace": "groups", "object": "eng", "relation": "member", "subject_id": "bob"}),
        json!({"namespace": "documents", "object": "doc1", "relation": "owner", "subject_id": "carol"}),
    ] {
        assert_eq!(put(c, urls, &t).await.0, 201);
    }
}

#[tokio::test]
async fn writes_echo_the_tuple_and_validate_namespace_and_subject() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let tuple = json!({"namespace": "documents", "object": "doc 1", "relation": "viewer", "subject_id": "user:alice"});
    let r = c
        .put(format!(
            "{}/admin/relation-tuples",
            urls[Endpoint::KetoWrite]
        ))
        .json(&tuple)
        .send()
        .await
        .expect("request");
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (status, body) = parts(r).await;
    assert_eq!((status, body), (201, tuple));
    assert_eq!(
        location,
        "/relation-tuples?namespace=documents&object=doc+1&relation=viewer&subject_id=user%3Aalice"
    );

    let (status, err) = put(
        &c,
        urls,
        &json!({"namespace": "nope", "object": "o", "relation": "r", "subject_id": "s"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        err["error"]["reason"],
        "Unknown namespace with name \"nope\"."
    );
    assert_eq!(err["error"]["status"], "Not Found");

    let (status, err) = put(
        &c,
        urls,
        &json!({"namespace": "documents", "object": "o", "relation": "r"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["message"], "subject is not allowed to be nil");

    let (status, _) = put(
        &c,
        urls,
        &json!({"namespace": "documents", "object": "o", "relation": "r", "subject_set": {"namespace": "nope", "object": "g", "relation": "m"}}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(sim.stats().tuples, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn checks_follow_subject_sets_and_mirror_status() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    seed(&c, urls).await;
    let check =
        |path: &str, q: &str| format!("{}/relation-tuples/{path}?{q}", urls[Endpoint::KetoRead]);

    let q = "namespace=documents&object=doc1&relation=viewer&subject_id=alice";
    assert_eq!(
        get(&c, check("check/openapi", q)).await,
        (200, json!({"allowed": true}))
    );
    assert_eq!(
        get(&c, check("check", q)).await,
        (200, json!({"allowed": true}))
    );
    let denied = "namespace=documents&object=doc1&relation=viewer&subject_id=mallory";
    assert_eq!(
        get(&c, check("check/openapi", denied)).await,
        (200, json!({"allowed": false}))
    );
    assert_eq!(
        get(&c, check("check", denied)).await,
        (403, json!({"allowed": false}))
    );

    // Depth: the subject set needs two levels; max-depth=1 never finds anything in Keto.
    assert_eq!(
        get(&c, check("check/openapi", &format!("{q}&max-depth=2")))
            .await
            .1["allowed"],
        true
    );
    assert_eq!(
        get(
            &c,
            check(
                "check/openapi",
                "namespace=documents&object=doc1&relation=owner&subject_id=carol&max-depth=1"
            )
        )
        .await
        .1["allowed"],
        false
    );

    // Unknown namespace is a denial, not an error.
    let unknown = "namespace=nope&object=doc1&relation=viewer&subject_id=alice";
    assert_eq!(
        get(&c, check("check/openapi", unknown)).await,
        (200, json!({"allowed": false}))
    );
    assert_eq!(
        get(&c, check("check", unknown)).await,
        (403, json!({"allowed": false}))
    );

    // Subject set as the subject.
    let set = "namespace=documents&object=doc1&relation=viewer&subject_set.namespace=groups&subject_set.object=eng&subject_set.relation=member";
    assert_eq!(
        get(&c, check("check/openapi", set)).await.1["allowed"],
        true
    );

    // POST with a JSON tuple.
    let r = c
        .post(check("check", ""))
        .json(&json!({"namespace": "documents", "object": "doc1", "relation": "viewer", "subject_id": "bob"}))
        .send()
        .await
        .expect("request");
    assert_eq!(parts(r).await, (200, json!({"allowed": true})));
    let r = c
        .post(check("check/openapi", ""))
        .json(&json!({"namespace": "documents", "object": "doc1", "relation": "viewer", "subject_id": "eve"}))
        .send()
        .await
        .expect("request");
    assert_eq!(parts(r).await, (200, json!({"allowed": false})));

    // Malformed checks.
    let (status, err) = get(
        &c,
        check(
            "check/openapi",
            "namespace=documents&object=doc1&relation=viewer",
        ),
    )
    .await;
    assert_eq!(
        (status, err["error"]["message"].clone()),
        (400, json!("subject is not allowed to be nil"))
    );
    let (status, err) = get(&c, check("check", "namespace=documents&object=doc1&relation=viewer&subject_id=a&subject_set.namespace=groups&subject_set.object=eng&subject_set.relation=member")).await;
    assert_eq!(status, 400);
    assert_eq!(
        err["error"]["message"],
        "exactly one of subject_set or subject_id has to be provided"
    );
    let (status, _) = get(&c, check("check/openapi", &format!("{q}&max-depth=deep"))).await;
    assert_eq!(status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn expand_builds_keto_trees_and_keeps_the_empty_quirk() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    seed(&c, urls).await;
    let expand = |q: &str| format!("{}/relation-tuples/expand?{q}", urls[Endpoint::KetoRead]);

    let (status, tree) = get(
        &c,
        expand("namespace=documents&object=doc1&relation=viewer&max-depth=3"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tree["type"], "union");
    assert_eq!(
        tree["tuple"],
        json!({"namespace": "", "object": "", "relation": "", "subject_set": {"namespace": "documents", "object": "doc1", "relation": "viewer"}})
    );
    let group = &tree["children"][0];
    assert_eq!(group["type"], "union");
    assert_eq!(group["tuple"]["subject_set"]["object"], "eng");
    let leaves: Vec<&Value> = group["children"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    assert_eq!(leaves.len(), 2);
    assert_eq!(leaves[0]["type"], "leaf");
    assert_eq!(leaves[0]["tuple"]["subject_id"], "alice");
    assert!(leaves[0].get("children").is_none());

    // With depth 1 the root is a leaf.
    let (_, shallow) = get(
        &c,
        expand("namespace=documents&object=doc1&relation=viewer&max-depth=1"),
    )
    .await;
    assert_eq!(shallow["type"], "leaf");

    assert_eq!(
        get(
            &c,
            expand("namespace=documents&object=nothing&relation=viewer")
        )
        .await,
        (
            200,
            json!({"code": 404, "status": "Not Found", "message": "no relation tuple found"})
        )
    );
    let (status, err) = get(&c, expand("namespace=nope&object=x&relation=y")).await;
    assert_eq!(status, 404);
    assert_eq!(
        err["error"]["reason"],
        "Unknown namespace with name \"nope\"."
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn list_paginates_and_delete_removes() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    for i in 0..5 {
        let t = json!({"namespace": "documents", "object": "big", "relation": "viewer", "subject_id": format!("u{i}")});
        assert_eq!(put(&c, urls, &t).await.0, 201);
    }
    let list = |q: &str| format!("{}/relation-tuples?{q}", urls[Endpoint::KetoRead]);
    let (status, page) = get(&c, list("namespace=documents&object=big&page_size=2")).await;
    assert_eq!(status, 200);
    assert_eq!(page["relation_tuples"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["relation_tuples"][0]["subject_id"], "u0");
    let mut token = page["next_page_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut seen = 2;
    while !token.is_empty() {
        let (status, page) = get(
            &c,
            list(&format!(
                "namespace=documents&object=big&page_size=2&page_token={token}"
            )),
        )
        .await;
        assert_eq!(status, 200);
        seen += page["relation_tuples"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        token = page["next_page_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    assert_eq!(seen, 5);
    let (_, all) = get(&c, list("namespace=documents&subject_id=u3")).await;
    assert_eq!(
        all,
        json!({"relation_tuples": [{"namespace": "documents", "object": "big", "relation": "viewer", "subject_id": "u3"}], "next_page_token": ""})
    );
    let (status, _) = get(&c, list("namespace=nope")).await;
    assert_eq!(status, 404);
    let (status, err) = get(&c, list("namespace=documents&page_token=garbage")).await;
    assert_eq!(
        (status, err["error"]["message"].clone()),
        (500, json!("malformed page token"))
    );

    let del = |q: &str| format!("{}/admin/relation-tuples?{q}", urls[Endpoint::KetoWrite]);
    let r = c
        .delete(del("namespace=documents&object=big&subject_id=u1"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(sim.stats().tuples, 4);
    let r = c.delete(del("object=big")).send().await.expect("request");
    let (status, err) = parts(r).await;
    assert_eq!(status, 400);
    assert_eq!(
        err["error"]["reason"],
        "query parameters must specify at least one of the following: namespace"
    );
    let r = c
        .delete(del("namespace=documents&colour=red"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);
    let r = c
        .delete(del("namespace=documents"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(sim.stats().tuples, 0);

    let (status, ns) = get(&c, format!("{}/namespaces", urls[Endpoint::KetoRead])).await;
    assert_eq!(status, 200);
    assert_eq!(
        ns,
        json!({"namespaces": [{"name": "documents"}, {"name": "groups"}, {"name": "users"}]})
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn duplicate_writes_are_kept_like_keto() {
    let sim = sim().await;
    let c = client();
    let t = json!({"namespace": "users", "object": "u", "relation": "self", "subject_id": "u"});
    assert_eq!(put(&c, &sim.urls, &t).await.0, 201);
    assert_eq!(put(&c, &sim.urls, &t).await.0, 201);
    assert_eq!(sim.stats().tuples, 2);
    let (_, list) = get(
        &c,
        format!(
            "{}/relation-tuples?namespace=users",
            sim.urls[Endpoint::KetoRead]
        ),
    )
    .await;
    assert_eq!(list["relation_tuples"].as_array().map(Vec::len), Some(2));
    sim.shutdown().await;
}
