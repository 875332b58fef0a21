//! Keto: relation-tuple writes and deletes, checks (both flavours), expand and list, the
//! unknown-namespace errors and the expand quirk, and how `KetoClient` classifies them.

use crate::{client, send, unique, Answer, Targets, JSON};
use orysim::ground::Endpoint;
use orysim::ground::{ErrorClass, Outcome, Verdict};
use orysim::ory::{RelationTuple, Subject, TupleQuery};
use serde_json::{json, Value};

fn tuple(namespace: &str, object: &str, relation: &str, subject: &str) -> RelationTuple {
    RelationTuple {
        namespace: namespace.into(),
        object: object.into(),
        relation: relation.into(),
        subject: Subject::Id(subject.into()),
    }
}

/// `documents:<new doc>#viewer@user:<new user>`.
fn fresh_viewer() -> RelationTuple {
    tuple(
        "documents",
        &unique("doc"),
        "viewer",
        &format!("user:{}", unique("u")),
    )
}

fn body(t: &RelationTuple) -> Value {
    let mut v = json!({"namespace": t.namespace, "object": t.object, "relation": t.relation});
    match &t.subject {
        Subject::Id(id) => v["subject_id"] = json!(id),
        Subject::Set {
            namespace,
            object,
            relation,
        } => {
            v["subject_set"] =
                json!({"namespace": namespace, "object": object, "relation": relation})
        }
    }
    v
}

fn query(t: &RelationTuple) -> Vec<(&'static str, String)> {
    let mut q = vec![
        ("namespace", t.namespace.clone()),
        ("object", t.object.clone()),
        ("relation", t.relation.clone()),
    ];
    match &t.subject {
        Subject::Id(id) => q.push(("subject_id", id.clone())),
        Subject::Set {
            namespace,
            object,
            relation,
        } => {
            q.push(("subject_set.namespace", namespace.clone()));
            q.push(("subject_set.object", object.clone()));
            q.push(("subject_set.relation", relation.clone()));
        }
    }
    q
}

async fn write(k: &Targets, t: &RelationTuple) -> Answer {
    write_raw(k, &body(t)).await
}

async fn write_raw(k: &Targets, body: &Value) -> Answer {
    send(
        "PUT /admin/relation-tuples",
        client()
            .put(format!("{}/admin/relation-tuples", k[Endpoint::KetoWrite]))
            .header("accept", JSON)
            .json(body),
    )
    .await
}

/// `GET {read}{path}?<tuple>`.
async fn read(k: &Targets, path: &str, q: &[(&str, String)]) -> Answer {
    send(
        format!("GET {path}"),
        client()
            .get(format!("{}{path}", k[Endpoint::KetoRead]))
            .query(q)
            .header("accept", JSON),
    )
    .await
}

/// `/relation-tuples/check/openapi` → 200 and the `allowed` value.
async fn allowed(k: &Targets, t: &RelationTuple) -> bool {
    let a = read(k, "/relation-tuples/check/openapi", &query(t))
        .await
        .expect(200);
    match a.json.get("allowed") {
        Some(Value::Bool(b)) => *b,
        _ => panic!("{}: no boolean `allowed`: {}", a.what, a.text),
    }
}

/// Write (201 echoing the tuple), check allowed / denied, and the client's write and check.
pub async fn write_and_check(k: Targets) {
    let obj = unique("doc");
    let t = tuple(
        "documents",
        &obj,
        "viewer",
        &format!("user:{}", unique("u")),
    );
    let a = write(&k, &t).await.expect(201);
    assert_eq!(
        a.json,
        body(&t),
        "the 201 body echoes the tuple: {}",
        a.text
    );
    assert!(allowed(&k, &t).await);
    // The Location names the tuple, form-encoded.
    let spaced = RelationTuple {
        object: format!("{obj} 1"),
        ..t.clone()
    };
    let a = write(&k, &spaced).await.expect(201);
    let location = a.headers.get("location").and_then(|v| v.to_str().ok());
    let expected = format!(
        "/relation-tuples?namespace=documents&object={obj}+1&relation=viewer&subject_id={}",
        subject_id(&t).replace(':', "%3A")
    );
    assert_eq!(location, Some(expected.as_str()));

    // A tuple without a subject, or with a subject set in an unknown namespace.
    let mut no_subject = body(&t);
    no_subject.as_object_mut().unwrap().remove("subject_id");
    let a = write_raw(&k, &no_subject).await;
    (a).expect_envelope(400);
    assert_eq!(
        a.json["error"]["message"],
        "subject is not allowed to be nil"
    );
    let mut foreign_set = body(&t);
    foreign_set.as_object_mut().unwrap().remove("subject_id");
    foreign_set["subject_set"] =
        json!({"namespace": unique("nope"), "object": "g", "relation": "member"});
    write_raw(&k, &foreign_set).await.expect_envelope(404);

    let unwritten = tuple(
        "documents",
        &obj,
        "viewer",
        &format!("user:{}", unique("u")),
    );
    assert!(!allowed(&k, &unwritten).await);
    let other_relation = tuple("documents", &obj, "owner", &subject_id(&t));
    assert!(!allowed(&k, &other_relation).await);

    let c = k.keto();
    let t2 = fresh_viewer();
    assert_eq!(c.write(&t2).await.outcome, Outcome::Ok(Verdict::Ok));
    assert_eq!(
        c.check(&t2, None).await.outcome,
        Outcome::Ok(Verdict::Allowed)
    );
    assert_eq!(
        c.check(&t, Some(5)).await.outcome,
        Outcome::Ok(Verdict::Allowed)
    );
    assert_eq!(
        c.check(&unwritten, None).await.outcome,
        Outcome::Ok(Verdict::Denied)
    );
}

fn subject_id(t: &RelationTuple) -> String {
    match &t.subject {
        Subject::Id(id) => id.clone(),
        Subject::Set { .. } => unreachable!(),
    }
}

/// The plain `/relation-tuples/check`: 200 `{"allowed":true}` or 403 `{"allowed":false}`.
pub async fn check_status_mirrors_result(k: Targets) {
    let t = fresh_viewer();
    write(&k, &t).await.expect(201);
    let a = read(&k, "/relation-tuples/check", &query(&t))
        .await
        .expect(200);
    assert_eq!(a.json, json!({"allowed": true}), "{}", a.text);

    let denied = tuple(
        "documents",
        &t.object,
        "viewer",
        &format!("user:{}", unique("u")),
    );
    let a = read(&k, "/relation-tuples/check", &query(&denied))
        .await
        .expect(403);
    assert_eq!(a.json, json!({"allowed": false}), "{}", a.text);
    let a = read(&k, "/relation-tuples/check/openapi", &query(&denied))
        .await
        .expect(200);
    assert_eq!(a.json, json!({"allowed": false}), "{}", a.text);
}

/// A namespace that is not configured: write, list and expand are 404 envelopes naming it;
/// checks simply deny.
pub async fn unknown_namespace(k: Targets) {
    let ns = unique("nope");
    let t = tuple(&ns, "doc", "viewer", "user:u");
    let a = write(&k, &t).await;
    let reason = (a).expect_envelope(404);
    assert_eq!(reason, format!("Unknown namespace with name \"{ns}\"."));
    assert_eq!(a.json["error"]["status"], "Not Found", "{}", a.text);
    let q = [
        ("namespace", ns.clone()),
        ("object", "doc".to_string()),
        ("relation", "viewer".to_string()),
    ];
    let a = read(&k, "/relation-tuples/expand", &q).await;
    assert_eq!((a).expect_envelope(404), reason);

    assert!(!allowed(&k, &t).await);
    let a = read(&k, "/relation-tuples/check", &query(&t))
        .await
        .expect(403);
    assert_eq!(a.json, json!({"allowed": false}), "{}", a.text);

    let reason = read(&k, "/relation-tuples", &[("namespace", ns.clone())])
        .await
        .expect_envelope(404);
    assert!(reason.contains(&ns), "{reason}");

    let c = k.keto();
    assert_eq!(
        c.write(&t).await.outcome,
        Outcome::Err(ErrorClass::Status(404))
    );
    assert_eq!(
        c.check(&t, None).await.outcome,
        Outcome::Ok(Verdict::Denied)
    );
    let q = TupleQuery {
        namespace: ns,
        ..TupleQuery::default()
    };
    assert_eq!(
        c.list(&q, None).await.outcome,
        Outcome::Err(ErrorClass::Status(404))
    );
}

/// Subject sets: `documents:d#viewer@(groups:g#member)` plus `groups:g#member@user:u` allows
/// `documents:d#viewer@user:u`.
pub async fn subject_set(k: Targets) {
    let (doc, group, user) = (
        unique("doc"),
        unique("group"),
        format!("user:{}", unique("u")),
    );
    let via_group = RelationTuple {
        namespace: "documents".into(),
        object: doc.clone(),
        relation: "viewer".into(),
        subject: Subject::Set {
            namespace: "groups".into(),
            object: group.clone(),
            relation: "member".into(),
        },
    };
    let a = write(&k, &via_group).await.expect(201);
    assert_eq!(a.json, body(&via_group), "{}", a.text);
    let member = tuple("groups", &group, "member", &user);
    write(&k, &member).await.expect(201);

    let derived = tuple("documents", &doc, "viewer", &user);
    assert!(allowed(&k, &derived).await);
    assert!(!allowed(&k, &tuple("documents", &doc, "viewer", "user:stranger")).await);
    // The subject set itself is a subject of the tuple.
    assert!(allowed(&k, &via_group).await);

    let c = k.keto();
    assert_eq!(
        c.check(&derived, None).await.outcome,
        Outcome::Ok(Verdict::Allowed)
    );
    // One level of indirection needs depth 2.
    assert_eq!(
        c.check(&derived, Some(1)).await.outcome,
        Outcome::Ok(Verdict::Denied)
    );
    assert_eq!(
        c.check(&derived, Some(2)).await.outcome,
        Outcome::Ok(Verdict::Allowed)
    );

    // Expand of a subject set with tuples: a tree with a type; the client counts its leaves.
    let q = [
        ("namespace", "documents".to_string()),
        ("object", doc.clone()),
        ("relation", "viewer".to_string()),
    ];
    let a = read(&k, "/relation-tuples/expand", &q).await.expect(200);
    assert!(a.json["type"].is_string(), "{}", a.text);
    let mut deep = q.to_vec();
    deep.push(("max-depth", "3".to_string()));
    let tree = read(&k, "/relation-tuples/expand", &deep).await.expect(200);
    let root = &tree.json;
    assert_eq!(root["type"], "union", "{}", tree.text);
    assert_eq!(
        root["tuple"],
        json!({"namespace": "", "object": "", "relation": "",
               "subject_set": {"namespace": "documents", "object": doc, "relation": "viewer"}}),
        "{}",
        tree.text
    );
    let via = &root["children"][0];
    assert_eq!(via["type"], "union", "{}", tree.text);
    assert_eq!(
        via["tuple"]["subject_set"]["object"], group,
        "{}",
        tree.text
    );
    let leaf = &via["children"][0];
    assert_eq!(leaf["type"], "leaf", "{}", tree.text);
    assert_eq!(leaf["tuple"]["subject_id"], user, "{}", tree.text);
    assert!(leaf.get("children").is_none(), "{}", tree.text);
    // With depth 1 the root is a leaf.
    deep[3].1 = "1".to_string();
    let shallow = read(&k, "/relation-tuples/expand", &deep).await.expect(200);
    assert_eq!(shallow.json["type"], "leaf", "{}", shallow.text);
    let call = c.expand("documents", &doc, "viewer", Some(3)).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
    assert!(call.value.expect("leaves") >= 1);
}

/// Expand of a subject set without tuples: 200 with a body that has no `type` (Keto writes an
/// error object with status 200); the client calls it `Absent`.
pub async fn expand_empty(k: Targets) {
    let doc = unique("doc");
    let q = [
        ("namespace", "documents".to_string()),
        ("object", doc.clone()),
        ("relation", "viewer".to_string()),
    ];
    let a = read(&k, "/relation-tuples/expand", &q).await.expect(200);
    assert_eq!(
        a.json,
        json!({"code": 404, "status": "Not Found", "message": "no relation tuple found"}),
        "{}",
        a.text
    );
    let call = k.keto().expand("documents", &doc, "viewer", None).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Absent));
}

/// List by namespace + object: `relation_tuples` holds exactly the written tuples.
pub async fn list(k: Targets) {
    let doc = unique("doc");
    let a = tuple(
        "documents",
        &doc,
        "viewer",
        &format!("user:{}", unique("u")),
    );
    let b = tuple("documents", &doc, "owner", &format!("user:{}", unique("u")));
    write(&k, &a).await.expect(201);
    write(&k, &b).await.expect(201);
    let q = [
        ("namespace", "documents".to_string()),
        ("object", doc.clone()),
    ];
    let l = read(&k, "/relation-tuples", &q).await.expect(200);
    let tuples = l.json["relation_tuples"]
        .as_array()
        .unwrap_or_else(|| panic!("no relation_tuples array: {}", l.text));
    assert_eq!(tuples.len(), 2, "{}", l.text);
    for t in [&a, &b] {
        assert!(
            tuples.contains(&body(t)),
            "{} missing from {}",
            body(t),
            l.text
        );
    }
    assert!(l.json["next_page_token"].is_string(), "{}", l.text);

    let empty = [
        ("namespace", "documents".to_string()),
        ("object", unique("doc")),
    ];
    let l = read(&k, "/relation-tuples", &empty).await.expect(200);
    assert_eq!(l.json["relation_tuples"], json!([]), "{}", l.text);

    let c = k.keto();
    let q = TupleQuery {
        namespace: "documents".into(),
        object: Some(doc),
        ..TupleQuery::default()
    };
    let call = c.list(&q, Some(10)).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
    assert_eq!(call.value, Some(2));
}

/// Delete: 204 (also when nothing matches), then the check is denied; the client's delete.
pub async fn delete(k: Targets) {
    let t = fresh_viewer();
    write(&k, &t).await.expect(201);
    assert!(allowed(&k, &t).await);
    let del = |q: Vec<(&'static str, String)>| {
        let k = k.clone();
        async move {
            send(
                "DELETE /admin/relation-tuples",
                client()
                    .delete(format!("{}/admin/relation-tuples", k[Endpoint::KetoWrite]))
                    .query(&q)
                    .header("accept", JSON),
            )
            .await
        }
    };
    let a = del(query(&t)).await.expect(204);
    assert!(a.text.is_empty(), "{}", a.text);
    assert!(!allowed(&k, &t).await);
    del(query(&t)).await.expect(204);
    // A delete must name the namespace and nothing unknown.
    let a = del(vec![("object", t.object.clone())]).await;
    assert_eq!(
        (a).expect_envelope(400),
        "query parameters must specify at least one of the following: namespace"
    );
    let a = del(vec![
        ("namespace", "documents".into()),
        ("colour", "red".into()),
    ])
    .await;
    (a).expect_envelope(400);
    // A partial query deletes every tuple it matches.
    let doc = unique("doc");
    for relation in ["viewer", "owner"] {
        write(&k, &tuple("documents", &doc, relation, &unique("u")))
            .await
            .expect(201);
    }
    let by_object = vec![("namespace", "documents".into()), ("object", doc)];
    del(by_object.clone()).await.expect(204);
    let l = read(&k, "/relation-tuples", &by_object).await.expect(200);
    assert_eq!(l.json["relation_tuples"], json!([]), "{}", l.text);

    let c = k.keto();
    let t2 = fresh_viewer();
    assert!(c.write(&t2).await.is_ok());
    assert_eq!(
        c.check(&t2, None).await.outcome,
        Outcome::Ok(Verdict::Allowed)
    );
    let q = TupleQuery {
        namespace: t2.namespace.clone(),
        object: Some(t2.object.clone()),
        relation: Some(t2.relation.clone()),
        subject: Some(t2.subject.clone()),
    };
    assert_eq!(c.delete(&q).await.outcome, Outcome::Ok(Verdict::Ok));
    assert_eq!(
        c.check(&t2, None).await.outcome,
        Outcome::Ok(Verdict::Denied)
    );
}

/// Checks in detail: depth limits, a JSON body on POST (both flavours) and malformed queries.
pub async fn check_details(k: Targets) {
    let t = fresh_viewer();
    write(&k, &t).await.expect(201);
    let mut q = query(&t);
    q.push(("max-depth", "2".into()));
    let a = read(&k, "/relation-tuples/check/openapi", &q)
        .await
        .expect(200);
    assert_eq!(a.json, json!({"allowed": true}), "{}", a.text);
    // Depth 1 finds nothing, not even a direct tuple.
    q[4].1 = "1".into();
    let a = read(&k, "/relation-tuples/check/openapi", &q)
        .await
        .expect(200);
    assert_eq!(a.json, json!({"allowed": false}), "{}", a.text);
    q[4].1 = "deep".into();
    read(&k, "/relation-tuples/check/openapi", &q)
        .await
        .expect_envelope(400);

    let post = |path: &'static str, tuple: Value| {
        let k = k.clone();
        async move {
            send(
                format!("POST {path}"),
                client()
                    .post(format!("{}{path}", k[Endpoint::KetoRead]))
                    .header("accept", JSON)
                    .json(&tuple),
            )
            .await
        }
    };
    let a = post("/relation-tuples/check", body(&t)).await.expect(200);
    assert_eq!(a.json, json!({"allowed": true}), "{}", a.text);
    let stranger = tuple("documents", &t.object, "viewer", &unique("user"));
    let a = post("/relation-tuples/check/openapi", body(&stranger))
        .await
        .expect(200);
    assert_eq!(a.json, json!({"allowed": false}), "{}", a.text);

    let a = read(&k, "/relation-tuples/check/openapi", &query(&t)[..3]).await;
    (a).expect_envelope(400);
    assert_eq!(
        a.json["error"]["message"],
        "subject is not allowed to be nil"
    );
    let mut both = query(&t);
    both.extend([
        ("subject_set.namespace", "groups".to_string()),
        ("subject_set.object", "g".to_string()),
        ("subject_set.relation", "member".to_string()),
    ]);
    let a = read(&k, "/relation-tuples/check", &both).await;
    (a).expect_envelope(400);
    assert_eq!(
        a.json["error"]["message"],
        "exactly one of subject_set or subject_id has to be provided"
    );
}

/// Listing page by page (`page_size`, `next_page_token` until empty), by subject, with a
/// malformed token; the same tuple written twice is stored twice; the namespaces.
pub async fn list_pages(k: Targets) {
    let doc = unique("doc");
    for i in 0..5 {
        write(&k, &tuple("documents", &doc, "viewer", &format!("u{i}")))
            .await
            .expect(201);
    }
    let mut q = vec![
        ("namespace", "documents".to_string()),
        ("object", doc.clone()),
        ("page_size", "2".to_string()),
    ];
    let mut seen = Vec::new();
    loop {
        let page = read(&k, "/relation-tuples", &q).await.expect(200);
        let tuples = page.json["relation_tuples"].as_array().expect("tuples");
        assert!(tuples.len() <= 2, "{}", page.text);
        seen.extend(tuples.iter().map(|t| t["subject_id"].to_string()));
        let next = page.json["next_page_token"].as_str().unwrap_or("");
        if next.is_empty() {
            break;
        }
        assert!(seen.len() < 5, "a token after the last page: {}", page.text);
        q.truncate(3);
        q.push(("page_token", next.to_string()));
    }
    seen.sort();
    assert_eq!(seen, ["\"u0\"", "\"u1\"", "\"u2\"", "\"u3\"", "\"u4\""]);

    let subject = unique("u");
    let t = tuple("documents", &doc, "owner", &subject);
    write(&k, &t).await.expect(201);
    let by_subject = [
        ("namespace", "documents".to_string()),
        ("subject_id", subject.clone()),
    ];
    let a = read(&k, "/relation-tuples", &by_subject).await.expect(200);
    assert_eq!(
        a.json,
        json!({"relation_tuples": [body(&t)], "next_page_token": ""}),
        "{}",
        a.text
    );
    // Written again: both are kept.
    write(&k, &t).await.expect(201);
    let a = read(&k, "/relation-tuples", &by_subject).await.expect(200);
    assert_eq!(
        a.json["relation_tuples"],
        json!([body(&t), body(&t)]),
        "{}",
        a.text
    );

    let garbage = [
        ("namespace", "documents".to_string()),
        ("page_token", "garbage".to_string()),
    ];
    let a = read(&k, "/relation-tuples", &garbage).await;
    (a).expect_envelope(500);
    assert_eq!(
        a.json["error"]["message"], "malformed page token",
        "{}",
        a.text
    );

    // The configured namespaces, in no particular order (real Keto's varies between calls).
    let a = read(&k, "/namespaces", &[]).await.expect(200);
    let mut names: Vec<&str> = a.json["namespaces"]
        .as_array()
        .unwrap_or_else(|| panic!("no namespaces array: {}", a.text))
        .iter()
        .map(|n| n["name"].as_str().unwrap_or_default())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["documents", "groups", "users"], "{}", a.text);
}

contracts! {
    check_details => contract_simulator_keto_check_details, contract_real_ory_keto_check_details;
    list_pages => contract_simulator_keto_list_pages, contract_real_ory_keto_list_pages;
}

contracts! {
    write_and_check => contract_simulator_keto_write_and_check, contract_real_ory_keto_write_and_check;
    check_status_mirrors_result => contract_simulator_keto_check_status, contract_real_ory_keto_check_status;
    unknown_namespace => contract_simulator_keto_unknown_namespace, contract_real_ory_keto_unknown_namespace;
    subject_set => contract_simulator_keto_subject_set, contract_real_ory_keto_subject_set;
    expand_empty => contract_simulator_keto_expand_empty, contract_real_ory_keto_expand_empty;
    list => contract_simulator_keto_list, contract_real_ory_keto_list;
    delete => contract_simulator_keto_delete, contract_real_ory_keto_delete;
}

async fn batch(k: &Targets, tuples: Value) -> Answer {
    send(
        "POST /relation-tuples/batch/check",
        client()
            .post(format!(
                "{}/relation-tuples/batch/check",
                k[Endpoint::KetoRead]
            ))
            .header("accept", JSON)
            .json(&json!({ "tuples": tuples })),
    )
    .await
}

/// `POST /relation-tuples/batch/check`: one result per tuple in order (an unknown namespace
/// and a missing subject are per-tuple errors), a batch over the limit refused whole with 400,
/// and `KetoClient::batch_check`'s reading of both.
pub async fn batch_check(k: Targets) {
    let written = tuple("documents", &unique("bdoc"), "viewer", &unique("user"));
    write(&k, &written).await.expect(201);
    let stranger = tuple("documents", &written.object, "viewer", &unique("user"));
    let unknown_ns = tuple(&unique("nons"), "o", "viewer", "u");
    let mut no_subject = body(&written);
    no_subject.as_object_mut().unwrap().remove("subject_id");
    let a = batch(
        &k,
        json!([
            body(&written),
            body(&stranger),
            body(&unknown_ns),
            no_subject
        ]),
    )
    .await
    .expect(200);
    let results = a.json["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 4, "{}", a.text);
    assert_eq!(results[0], json!({"allowed": true}), "{}", a.text);
    assert_eq!(results[1], json!({"allowed": false}), "{}", a.text);
    assert_eq!(results[2]["allowed"], false);
    assert!(
        !results[2]["error"].as_str().unwrap_or("").is_empty(),
        "{}",
        a.text
    );
    assert_eq!(
        results[3],
        json!({"allowed": false, "error": "subject is not allowed to be nil"})
    );
    let empty = batch(&k, json!([])).await.expect(200);
    assert_eq!(empty.json, json!({"results": []}));

    let over = batch(&k, Value::Array(vec![body(&stranger); 11]))
        .await
        .expect(400);
    assert_eq!(over.json["error"]["code"], 400);
    assert_eq!(
        over.json["error"]["message"], "batch exceeds max size of 10",
        "{}",
        over.text
    );
    let status = reqwest::StatusCode::BAD_REQUEST;
    assert_eq!(
        orysim::ory::keto::batch_limit_of(status, over.text.as_bytes()),
        Some(10)
    );

    let call = k
        .keto()
        .batch_check(&[written.clone(), stranger.clone(), unknown_ns], None)
        .await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
    use orysim::ory::keto::TupleVerdict as T;
    assert_eq!(call.value.unwrap(), vec![T::Allowed, T::Denied, T::Failed]);
    let call = k.keto().batch_check(&vec![stranger; 11], None).await;
    assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(400)));
}

contracts! {
    batch_check => contract_simulator_keto_batch_check, contract_real_ory_keto_batch_check;
}
