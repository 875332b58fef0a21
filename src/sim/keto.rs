//! Simulated Ory Keto v0.14.0 REST API with legacy (list-configured) namespaces: relation
//! tuples (write, delete, patch, list), checks with subject-set expansion, expand trees and the
//! namespace list.
//!
//! Semantics follow the v0.14.0 engine: tuples are stored without a unique constraint
//! (duplicates are kept), checks are bounded by `max-depth` (default and cap 5, where a depth
//! of 1 never finds anything) and by a width of 100 subject sets per step, and expand answers
//! `200` with a bare error object when the subject set has no tuples.

use super::byte_budget::{ByteBudget, ENTRY_OVERHEAD, MAX_STORE_BYTES};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use axum::http::header::LOCATION;
use axum::http::Method;
use serde_json::{json, Map, Value};

use super::http::{
    empty, go_not_found, herodot_json, respond, route, with_header, HError, Query, Req, Resp,
    CT_JSON_UTF8,
};

pub(crate) const VERSION: &str = "v0.14.0";

const MAX_READ_DEPTH: i64 = 5;
const MAX_READ_WIDTH: usize = 100;
const MAX_BATCH_CHECK: usize = 10;
const DEFAULT_PAGE_SIZE: i64 = 100;

const KEYS: [&str; 8] = [
    "namespace",
    "object",
    "relation",
    "subject_id",
    "subject_set.namespace",
    "subject_set.object",
    "subject_set.relation",
    "subject",
];

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Subject {
    Id(Arc<str>),
    Set(Arc<str>, Arc<str>, Arc<str>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Tuple {
    ns: Arc<str>,
    obj: Arc<str>,
    rel: Arc<str>,
    sub: Subject,
}

fn subject_json(sub: &Subject, m: &mut Map<String, Value>) {
    match sub {
        Subject::Id(id) => {
            m.insert("subject_id".into(), json!(&**id));
        }
        Subject::Set(ns, obj, rel) => {
            m.insert(
                "subject_set".into(),
                json!({"namespace": &**ns, "object": &**obj, "relation": &**rel}),
            );
        }
    }
}

impl Tuple {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("namespace".into(), json!(&*self.ns));
        m.insert("object".into(), json!(&*self.obj));
        m.insert("relation".into(), json!(&*self.rel));
        subject_json(&self.sub, &mut m);
        Value::Object(m)
    }
}

/// A relation query (`ketoapi.RelationQuery`): every part optional.
#[derive(Default, Debug)]
struct TupleQuery {
    ns: Option<String>,
    obj: Option<String>,
    rel: Option<String>,
    sub: Option<Subject>,
}

impl TupleQuery {
    fn matches(&self, t: &Tuple) -> bool {
        self.ns.as_deref().map(|n| n == &*t.ns).unwrap_or(true)
            && self.obj.as_deref().map(|o| o == &*t.obj).unwrap_or(true)
            && self.rel.as_deref().map(|r| r == &*t.rel).unwrap_or(true)
            && self.sub.as_ref().map(|s| s == &t.sub).unwrap_or(true)
    }
}

fn obj_key(ns: &str, obj: &str) -> String {
    let mut k = String::with_capacity(ns.len() + obj.len() + 1);
    k.push_str(ns);
    k.push('\u{0}');
    k.push_str(obj);
    k
}

/// Tuples in insertion order, indexed for exact lookups and by `(namespace, object)`.
struct Store {
    rows: BTreeMap<u64, Tuple>,
    next: u64,
    exact: HashMap<Tuple, u32>,
    by_obj: HashMap<String, BTreeSet<u64>>,
    cap: usize,
    bytes: ByteBudget,
}

/// What a stored tuple costs: its text, once more for the object index's key, and overhead.
fn weight(t: &Tuple) -> usize {
    let sub = match &t.sub {
        Subject::Id(id) => id.len(),
        Subject::Set(ns, obj, rel) => ns.len() + obj.len() + rel.len(),
    };
    2 * (t.ns.len() + t.obj.len()) + t.rel.len() + sub + ENTRY_OVERHEAD
}

impl Store {
    fn new(cap: usize) -> Self {
        Store::with_max_bytes(cap, MAX_STORE_BYTES)
    }

    fn with_max_bytes(cap: usize, max_bytes: usize) -> Self {
        Store {
            rows: BTreeMap::new(),
            next: 1,
            exact: HashMap::new(),
            by_obj: HashMap::new(),
            cap: cap.max(1),
            bytes: ByteBudget::new(max_bytes),
        }
    }

    fn insert(&mut self, t: Tuple) {
        let seq = self.next;
        self.next += 1;
        *self.exact.entry(t.clone()).or_insert(0) += 1;
        self.by_obj
            .entry(obj_key(&t.ns, &t.obj))
            .or_default()
            .insert(seq);
        self.bytes.add(weight(&t));
        self.rows.insert(seq, t);
        // The newest entry always stays, however large.
        while self.rows.len() > self.cap || (self.bytes.over() && self.rows.len() > 1) {
            match self.rows.keys().next().copied() {
                Some(oldest) => self.remove(oldest),
                None => break,
            }
        }
    }

    fn remove(&mut self, seq: u64) {
        let Some(t) = self.rows.remove(&seq) else {
            return;
        };
        self.bytes.remove(weight(&t));
        if let Some(n) = self.exact.get_mut(&t) {
            *n -= 1;
            if *n == 0 {
                self.exact.remove(&t);
            }
        }
        let key = obj_key(&t.ns, &t.obj);
        if let Some(set) = self.by_obj.get_mut(&key) {
            set.remove(&seq);
            if set.is_empty() {
                self.by_obj.remove(&key);
            }
        }
    }

    /// Visits matching rows with a sequence number greater than `after`, in order, until `f`
    /// returns false.
    fn scan(&self, q: &TupleQuery, after: u64, mut f: impl FnMut(u64, &Tuple) -> bool) {
        let start = after.saturating_add(1);
        match (&q.ns, &q.obj) {
            (Some(ns), Some(obj)) => {
                if let Some(set) = self.by_obj.get(&obj_key(ns, obj)) {
                    for &seq in set.range(start..) {
                        if let Some(t) = self.rows.get(&seq) {
                            if q.matches(t) && !f(seq, t) {
                                return;
                            }
                        }
                    }
                }
            }
            _ => {
                for (&seq, t) in self.rows.range(start..) {
                    if q.matches(t) && !f(seq, t) {
                        return;
                    }
                }
            }
        }
    }

    fn exists(&self, t: &Tuple) -> bool {
        self.exact.contains_key(t)
    }

    /// Subjects of all tuples `ns:obj#rel@...`, in insertion order.
    fn subjects(&self, ns: &str, obj: &str, rel: &str) -> Vec<Subject> {
        let mut out = Vec::new();
        if let Some(set) = self.by_obj.get(&obj_key(ns, obj)) {
            for seq in set {
                if let Some(t) = self.rows.get(seq) {
                    if &*t.rel == rel {
                        out.push(t.sub.clone());
                    }
                }
            }
        }
        out
    }
}

pub(crate) struct Keto {
    namespaces: Vec<String>,
    known: HashSet<String>,
    store: RwLock<Store>,
}

/// A tuple as the REST API receives it (`ketoapi.RelationTuple`).
#[derive(Debug, Default)]
struct ApiTuple {
    ns: String,
    obj: String,
    rel: String,
    sub_id: Option<String>,
    sub_set: Option<(String, String, String)>,
}

impl ApiTuple {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("namespace".into(), json!(self.ns));
        m.insert("object".into(), json!(self.obj));
        m.insert("relation".into(), json!(self.rel));
        if let Some(id) = &self.sub_id {
            m.insert("subject_id".into(), json!(id));
        }
        if let Some((ns, obj, rel)) = &self.sub_set {
            m.insert(
                "subject_set".into(),
                json!({"namespace": ns, "object": obj, "relation": rel}),
            );
        }
        Value::Object(m)
    }

    /// `RelationTuple.ToURLQuery().Encode()` (keys sorted, subject_id preferred).
    fn url_query(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("namespace", &self.ns),
            ("object", &self.obj),
            ("relation", &self.rel),
        ];
        if let Some(id) = &self.sub_id {
            pairs.push(("subject_id", id));
        } else if let Some((ns, obj, rel)) = &self.sub_set {
            pairs.push(("subject_set.namespace", ns));
            pairs.push(("subject_set.object", obj));
            pairs.push(("subject_set.relation", rel));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

fn str_field(m: &Map<String, Value>, key: &str, go_struct: &str) -> Result<Option<String>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!(
            "json: cannot unmarshal {} into Go struct field {go_struct}.{key} of type string",
            go_type_name(v)
        )),
    }
}

/// Decodes a JSON tuple like Go's `encoding/json` into `ketoapi.RelationTuple`.
fn parse_tuple_value(v: &Value) -> Result<ApiTuple, String> {
    let m = match v {
        Value::Object(m) => m,
        Value::Null => return Ok(ApiTuple::default()),
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type ketoapi.RelationTuple",
                go_type_name(other)
            ))
        }
    };
    let mut t = ApiTuple {
        ns: str_field(m, "namespace", "RelationTuple")?.unwrap_or_default(),
        obj: str_field(m, "object", "RelationTuple")?.unwrap_or_default(),
        rel: str_field(m, "relation", "RelationTuple")?.unwrap_or_default(),
        sub_id: str_field(m, "subject_id", "RelationTuple")?,
        sub_set: None,
    };
    match m.get("subject_set") {
        None | Some(Value::Null) => {}
        Some(Value::Object(s)) => {
            t.sub_set = Some((
                str_field(s, "namespace", "SubjectSet")?.unwrap_or_default(),
                str_field(s, "object", "SubjectSet")?.unwrap_or_default(),
                str_field(s, "relation", "SubjectSet")?.unwrap_or_default(),
            ))
        }
        Some(other) => {
            return Err(format!(
                "json: cannot unmarshal {} into Go struct field RelationTuple.subject_set of type ketoapi.SubjectSet",
                go_type_name(other)
            ))
        }
    }
    Ok(t)
}

fn parse_json_body(req: &Req) -> Result<Value, String> {
    if req.body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("EOF".into());
    }
    let mut de = serde_json::Deserializer::from_slice(&req.body);
    serde::Deserialize::deserialize(&mut de).map_err(|e: serde_json::Error| e.to_string())
}

/// herodot `ErrBadRequest.WithError(msg)`.
fn bad_request(message: impl Into<String>) -> HError {
    let mut e = HError::bad_request();
    e.message = message.into();
    e
}

fn nil_subject() -> HError {
    bad_request("subject is not allowed to be nil")
}

fn go_parse_int_error(s: &str) -> String {
    format!("strconv.ParseInt: parsing {s:?}: invalid syntax")
}

/// `x.GetMaxDepthFromQuery`.
fn max_depth(q: &Query) -> Result<i64, HError> {
    match q.get("max-depth") {
        None => Ok(0),
        Some(s) => parse_go_int(s).ok_or_else(|| {
            bad_request(format!(
                "unable to parse 'max-depth' query parameter to int: {}",
                go_parse_int_error(s)
            ))
        }),
    }
}

/// `strconv.ParseInt(s, 0, 64)`: optional sign, 0x/0o/0b prefixes, underscores after a prefix.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.replace('_', ""))
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.replace('_', ""))
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.replace('_', ""))
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].replace('_', ""))
    } else {
        (10, lower.clone())
    };
    if digits.is_empty() || digits.starts_with('+') || digits.starts_with('-') {
        return None;
    }
    let v = i64::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// `ketoapi.RelationQuery.FromURLQuery`.
fn query_from_url(q: &Query) -> Result<TupleQuery, HError> {
    if q.has("subject") {
        return Err(HError::bad_request());
    }
    let has_set = q.has("subject_set.namespace")
        || q.has("subject_set.object")
        || q.has("subject_set.relation");
    let sub = if !q.has("subject_id") && !has_set {
        None
    } else if q.has("subject_id") && has_set {
        return Err(bad_request(
            "exactly one of subject_set or subject_id has to be provided",
        ));
    } else if q.has("subject_id") {
        Some(Subject::Id(q.get("subject_id").unwrap_or("").into()))
    } else if q.has("subject_set.namespace")
        && q.has("subject_set.object")
        && q.has("subject_set.relation")
    {
        Some(Subject::Set(
            q.get("subject_set.namespace").unwrap_or("").into(),
            q.get("subject_set.object").unwrap_or("").into(),
            q.get("subject_set.relation").unwrap_or("").into(),
        ))
    } else {
        return Err(bad_request(
            "incomplete subject, provide \"subject_id\" or a complete \"subject_set.*\"",
        ));
    };
    Ok(TupleQuery {
        ns: q.get("namespace").map(str::to_owned),
        obj: q.get("object").map(str::to_owned),
        rel: q.get("relation").map(str::to_owned),
        sub,
    })
}

/// Page tokens look like Keto's (UUIDs); ours carry the last row's sequence number.
fn encode_page_token(seq: u64) -> String {
    format!("00000000-0000-4000-8000-{seq:012x}")
}

fn decode_page_token(s: &str) -> Option<u64> {
    let u = uuid::Uuid::parse_str(s).ok()?;
    let bytes = u.as_bytes();
    let mut seq = 0u64;
    for b in &bytes[10..16] {
        seq = (seq << 8) | u64::from(*b);
    }
    Some(seq)
}

impl Keto {
    pub(crate) fn new(namespaces: &[String], max_entries: usize) -> Self {
        Keto {
            namespaces: namespaces.to_vec(),
            known: namespaces.iter().cloned().collect(),
            store: RwLock::new(Store::new(max_entries)),
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.read().rows.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    fn namespace(&self, name: &str) -> Result<Arc<str>, HError> {
        if self.known.contains(name) {
            Ok(name.into())
        } else {
            Err(HError::not_found().reason(format!("Unknown namespace with name {name:?}.")))
        }
    }

    /// `Mapper.FromTuple`: namespaces must exist; subject_id wins when both subjects are set.
    fn internal_tuple(&self, t: &ApiTuple) -> Result<Tuple, HError> {
        let ns = self.namespace(&t.ns)?;
        let sub = if let Some(id) = &t.sub_id {
            Subject::Id(id.as_str().into())
        } else if let Some((sns, sobj, srel)) = &t.sub_set {
            Subject::Set(
                self.namespace(sns)?,
                sobj.as_str().into(),
                srel.as_str().into(),
            )
        } else {
            return Err(nil_subject());
        };
        Ok(Tuple {
            ns,
            obj: t.obj.as_str().into(),
            rel: t.rel.as_str().into(),
            sub,
        })
    }

    /// `Mapper.FromQuery`: namespaces that are given must exist.
    fn check_query_namespaces(&self, q: &TupleQuery) -> Result<(), HError> {
        if let Some(ns) = &q.ns {
            self.namespace(ns)?;
        }
        if let Some(Subject::Set(ns, _, _)) = &q.sub {
            self.namespace(ns)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------
    // routing

    pub(crate) fn read_api(&self, req: &Req) -> Resp {
        use Method as M;
        let r = match req.path.as_str() {
            "/relation-tuples" => route(&req.method, &[(M::GET, 0)]),
            "/relation-tuples/check" => route(&req.method, &[(M::GET, 1), (M::POST, 2)]),
            "/relation-tuples/check/openapi" => route(&req.method, &[(M::GET, 3), (M::POST, 4)]),
            "/relation-tuples/batch/check" => route(&req.method, &[(M::POST, 5)]),
            "/relation-tuples/expand" => route(&req.method, &[(M::GET, 6)]),
            "/namespaces" => route(&req.method, &[(M::GET, 7)]),
            _ => return go_not_found(),
        };
        let h = match r {
            Ok(h) => *h,
            Err(resp) => return *resp,
        };
        let result = match h {
            0 => self.list(req),
            1 => self.check_get(req).map(|a| check_response(a, true)),
            2 => self.check_post(req).map(|a| check_response(a, true)),
            3 => self.check_get(req).map(|a| check_response(a, false)),
            4 => self.check_post(req).map(|a| check_response(a, false)),
            5 => self.batch_check(req),
            6 => self.expand(req),
            _ => Ok(self.list_namespaces()),
        };
        result.unwrap_or_else(|e| e.respond(req))
    }

    pub(crate) fn write_api(&self, req: &Req) -> Resp {
        use Method as M;
        if req.path != "/admin/relation-tuples" {
            return go_not_found();
        }
        let h = match route(&req.method, &[(M::PUT, 0), (M::DELETE, 1), (M::PATCH, 2)]) {
            Ok(h) => *h,
            Err(r) => return *r,
        };
        let result = match h {
            0 => self.create(req),
            1 => self.delete(req),
            _ => self.patch(req),
        };
        result.unwrap_or_else(|e| e.respond(req))
    }

    // ------------------------------------------------------------------------------------
    // write API

    fn create(&self, req: &Req) -> Result<Resp, HError> {
        let v = parse_json_body(req).map_err(bad_request)?;
        let api = parse_tuple_value(&v).map_err(bad_request)?;
        if api.sub_id.is_none() && api.sub_set.is_none() {
            return Err(nil_subject());
        }
        let t = self.internal_tuple(&api)?;
        self.write().insert(t);
        let mut body = api.to_json().to_string();
        body.push('\n');
        let r = respond(201, Some(CT_JSON_UTF8), body);
        Ok(with_header(
            r,
            LOCATION,
            &format!("/relation-tuples?{}", api.url_query()),
        ))
    }

    fn delete(&self, req: &Req) -> Result<Resp, HError> {
        let q = req.query();
        let mut reasons = Vec::new();
        if let Some(k) = q.keys().find(|k| !KEYS.contains(k)) {
            reasons.push(format!("query parameter key {k:?} unknown"));
        }
        if !q.has("namespace") {
            reasons.push(
                "query parameters must specify at least one of the following: namespace".to_owned(),
            );
        }
        if !req.body.is_empty() {
            reasons.push("body is not empty".to_owned());
        }
        if !reasons.is_empty() {
            return Err(HError::bad_request().reason(reasons.join("; ")));
        }
        let query = query_from_url(&q).map_err(|e| bad_request(e.message))?;
        self.check_query_namespaces(&query)?;
        let mut store = self.write();
        let mut doomed = Vec::new();
        store.scan(&query, 0, |seq, _| {
            doomed.push(seq);
            true
        });
        for seq in doomed {
            store.remove(seq);
        }
        Ok(empty(204))
    }

    fn patch(&self, req: &Req) -> Result<Resp, HError> {
        let v = parse_json_body(req).map_err(bad_request)?;
        let items = match v {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            other => {
                return Err(bad_request(format!(
                    "json: cannot unmarshal {} into Go value of type []*ketoapi.PatchDelta",
                    go_type_name(&other)
                )))
            }
        };
        let mut deltas = Vec::new();
        for item in &items {
            let Value::Object(m) = item else {
                return Err(bad_request("relation_tuple is missing"));
            };
            let action = str_field(m, "action", "PatchDelta")
                .map_err(bad_request)?
                .unwrap_or_default();
            let tuple = match m.get("relation_tuple") {
                None | Some(Value::Null) => return Err(bad_request("relation_tuple is missing")),
                Some(t) => parse_tuple_value(t).map_err(bad_request)?,
            };
            if tuple.sub_id.is_none() && tuple.sub_set.is_none() {
                return Err(nil_subject());
            }
            if action != "insert" && action != "delete" {
                return Err(bad_request(format!("unknown action {action}")));
            }
            deltas.push((action == "insert", tuple));
        }
        let mut inserts = Vec::new();
        let mut deletes = Vec::new();
        for (insert, api) in &deltas {
            let t = self.internal_tuple(api)?;
            if *insert {
                inserts.push(t);
            } else {
                deletes.push(t);
            }
        }
        let mut store = self.write();
        for t in inserts {
            store.insert(t);
        }
        for t in deletes {
            let query = TupleQuery {
                ns: Some(t.ns.to_string()),
                obj: Some(t.obj.to_string()),
                rel: Some(t.rel.to_string()),
                sub: Some(t.sub.clone()),
            };
            let mut doomed = Vec::new();
            store.scan(&query, 0, |seq, _| {
                doomed.push(seq);
                true
            });
            for seq in doomed {
                store.remove(seq);
            }
        }
        Ok(empty(204))
    }

    // ------------------------------------------------------------------------------------
    // read API

    fn list(&self, req: &Req) -> Result<Resp, HError> {
        let q = req.query();
        let query = query_from_url(&q).map_err(|e| bad_request(e.message))?;
        let page_token = q.get("page_token").filter(|t| !t.is_empty());
        let page_size = match q.get("page_size").filter(|s| !s.is_empty()) {
            None => DEFAULT_PAGE_SIZE,
            Some(s) => parse_go_int(s).ok_or_else(|| bad_request(go_parse_int_error(s)))?,
        };
        let page_size = if page_size <= 0 {
            DEFAULT_PAGE_SIZE
        } else {
            page_size
        } as usize;
        self.check_query_namespaces(&query)?;
        let after = match page_token {
            None => 0,
            Some(t) => {
                decode_page_token(t).ok_or_else(|| HError::new(500, "malformed page token"))?
            }
        };
        let store = self.read();
        let mut page: Vec<(u64, Value)> = Vec::new();
        store.scan(&query, after, |seq, t| {
            page.push((seq, t.to_json()));
            page.len() <= page_size
        });
        let next = if page.len() > page_size {
            page.truncate(page_size);
            page.last()
                .map(|(seq, _)| encode_page_token(*seq))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let tuples: Vec<Value> = page.into_iter().map(|(_, v)| v).collect();
        Ok(herodot_json(
            200,
            &json!({"relation_tuples": tuples, "next_page_token": next}),
        ))
    }

    fn list_namespaces(&self) -> Resp {
        let ns: Vec<Value> = self.namespaces.iter().map(|n| json!({"name": n})).collect();
        herodot_json(200, &json!({ "namespaces": ns }))
    }

    fn check_get(&self, req: &Req) -> Result<bool, HError> {
        let q = req.query();
        let depth = max_depth(&q)?;
        let query = query_from_url(&q)?;
        let Some(sub) = query.sub else {
            return Err(nil_subject());
        };
        let (Some(ns), Some(obj), Some(rel)) = (query.ns, query.obj, query.rel) else {
            return Err(bad_request(
                "incomplete tuple, provide \"namespace\", \"object\", \"relation\", and a subject",
            ));
        };
        let api = match &sub {
            Subject::Id(id) => ApiTuple {
                ns,
                obj,
                rel,
                sub_id: Some(id.to_string()),
                sub_set: None,
            },
            Subject::Set(a, b, c) => ApiTuple {
                ns,
                obj,
                rel,
                sub_id: None,
                sub_set: Some((a.to_string(), b.to_string(), c.to_string())),
            },
        };
        self.check_api_tuple(&api, depth)
    }

    fn check_post(&self, req: &Req) -> Result<bool, HError> {
        let q = req.query();
        let depth = max_depth(&q)?;
        let v = parse_json_body(req)
            .map_err(|e| bad_request(format!("could not unmarshal json: {e}")))?;
        let api = parse_tuple_value(&v)
            .map_err(|e| bad_request(format!("could not unmarshal json: {e}")))?;
        self.check_api_tuple(&api, depth)
    }

    /// Maps and checks a tuple; unknown namespaces deny instead of failing.
    fn check_api_tuple(&self, api: &ApiTuple, depth: i64) -> Result<bool, HError> {
        match self.internal_tuple(api) {
            Ok(t) => Ok(self.check(&self.read(), &t, depth)),
            Err(e) if e.code == 404 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The v0.14.0 check engine, evaluated breadth-first with a shared visited set.
    fn check(&self, store: &Store, t: &Tuple, max_depth: i64) -> bool {
        let depth = if max_depth <= 0 || max_depth > MAX_READ_DEPTH {
            MAX_READ_DEPTH
        } else {
            max_depth
        };
        // checkDirect runs with restDepth-1 and gives up at <= 0.
        if depth - 1 > 0 && store.exists(t) {
            return true;
        }
        let mut visited: HashSet<(Arc<str>, Arc<str>, Arc<str>)> = HashSet::new();
        let mut frontier = vec![(t.ns.clone(), t.obj.clone(), t.rel.clone())];
        let mut rest = depth;
        while rest - 1 > 0 && !frontier.is_empty() {
            let mut next = Vec::new();
            for (ns, obj, rel) in &frontier {
                let mut sets: Vec<(Arc<str>, Arc<str>, Arc<str>)> = store
                    .subjects(ns, obj, rel)
                    .into_iter()
                    .filter_map(|s| match s {
                        Subject::Set(a, b, c) => Some((a, b, c)),
                        Subject::Id(_) => None,
                    })
                    .collect();
                let found = sets.iter().any(|(a, b, c)| {
                    store.exists(&Tuple {
                        ns: a.clone(),
                        obj: b.clone(),
                        rel: c.clone(),
                        sub: t.sub.clone(),
                    })
                });
                if found {
                    return true;
                }
                if sets.len() > MAX_READ_WIDTH {
                    sets.truncate(MAX_READ_WIDTH - 1);
                }
                for s in sets {
                    if visited.insert(s.clone()) {
                        next.push(s);
                    }
                }
            }
            frontier = next;
            rest -= 1;
        }
        false
    }

    fn batch_check(&self, req: &Req) -> Result<Resp, HError> {
        let q = req.query();
        let depth = max_depth(&q)?;
        let v = parse_json_body(req)
            .map_err(|e| bad_request(format!("could not unmarshal json: {e}")))?;
        let tuples: Vec<Value> = match v.get("tuples") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => {
                return Err(bad_request(format!(
                    "could not unmarshal json: json: cannot unmarshal {} into Go struct field batchCheckPermissionBody.tuples of type []*ketoapi.RelationTuple",
                    go_type_name(other)
                )))
            }
        };
        if tuples.len() > MAX_BATCH_CHECK {
            return Err(bad_request(format!(
                "batch exceeds max size of {MAX_BATCH_CHECK}"
            )));
        }
        let mut results = Vec::with_capacity(tuples.len());
        for tv in &tuples {
            let api = parse_tuple_value(tv)
                .map_err(|e| bad_request(format!("could not unmarshal json: {e}")))?;
            let r = match self.internal_tuple(&api) {
                Ok(t) => json!({"allowed": self.check(&self.read(), &t, depth)}),
                Err(e) => json!({"allowed": false, "error": e.message}),
            };
            results.push(r);
        }
        Ok(herodot_json(200, &json!({ "results": results })))
    }

    fn expand(&self, req: &Req) -> Result<Resp, HError> {
        let q = req.query();
        let depth = max_depth(&q).map_err(|e| bad_request(e.message))?;
        let ns = q.get("namespace").unwrap_or("");
        let obj = q.get("object").unwrap_or("");
        let rel = q.get("relation").unwrap_or("");
        let ns = self.namespace(ns)?;
        let root = Subject::Set(ns, obj.into(), rel.into());
        let store = self.read();
        let mut visited = HashSet::new();
        match build_tree(&store, &root, depth, &mut visited) {
            Some(tree) => Ok(herodot_json(200, &tree)),
            // Keto writes this error object with status 200 (`Write` instead of `WriteError`).
            None => Ok(herodot_json(
                200,
                &json!({"code": 404, "status": "Not Found", "message": "no relation tuple found"}),
            )),
        }
    }
}

fn check_response(allowed: bool, mirror_status: bool) -> Resp {
    let status = if mirror_status && !allowed { 403 } else { 200 };
    herodot_json(status, &json!({ "allowed": allowed }))
}

fn tree_node(kind: &str, sub: &Subject, children: Option<Vec<Value>>) -> Value {
    let mut tuple = Map::new();
    tuple.insert("namespace".into(), json!(""));
    tuple.insert("object".into(), json!(""));
    tuple.insert("relation".into(), json!(""));
    subject_json(sub, &mut tuple);
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    if let Some(c) = children.filter(|c| !c.is_empty()) {
        m.insert("children".into(), Value::Array(c));
    }
    m.insert("tuple".into(), Value::Object(tuple));
    Value::Object(m)
}

/// `expand.Engine.buildTreeRecursive`.
fn build_tree(
    store: &Store,
    sub: &Subject,
    rest: i64,
    visited: &mut HashSet<Subject>,
) -> Option<Value> {
    let rest = if rest <= 0 || rest > MAX_READ_DEPTH {
        MAX_READ_DEPTH
    } else {
        rest
    };
    let Subject::Set(ns, obj, rel) = sub else {
        return Some(tree_node("leaf", sub, None));
    };
    if !visited.insert(sub.clone()) {
        return None;
    }
    let subjects = store.subjects(ns, obj, rel);
    if subjects.is_empty() {
        return None;
    }
    if rest <= 1 {
        return Some(tree_node("leaf", sub, None));
    }
    let children = subjects
        .iter()
        .map(|child| {
            build_tree(store, child, rest - 1, visited)
                .unwrap_or_else(|| tree_node("leaf", child, None))
        })
        .collect();
    Some(tree_node("union", sub, Some(children)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ns: &str, obj: &str, rel: &str, sub: Subject) -> Tuple {
        Tuple {
            ns: ns.into(),
            obj: obj.into(),
            rel: rel.into(),
            sub,
        }
    }

    fn id(s: &str) -> Subject {
        Subject::Id(s.into())
    }

    fn set(ns: &str, obj: &str, rel: &str) -> Subject {
        Subject::Set(ns.into(), obj.into(), rel.into())
    }

    fn keto() -> Keto {
        Keto::new(
            &[
                "documents".to_owned(),
                "groups".to_owned(),
                "users".to_owned(),
            ],
            100,
        )
    }

    #[test]
    fn check_follows_subject_sets_within_depth() {
        let k = keto();
        {
            let mut s = k.write();
            s.insert(t(
                "documents",
                "d1",
                "viewer",
                set("groups", "eng", "member"),
            ));
            s.insert(t(
                "groups",
                "eng",
                "member",
                set("groups", "core", "member"),
            ));
            s.insert(t("groups", "core", "member", id("alice")));
            s.insert(t("documents", "d1", "owner", id("bob")));
        }
        let s = k.read();
        let q = t("documents", "d1", "viewer", id("alice"));
        assert!(k.check(&s, &q, 0));
        assert!(k.check(&s, &q, 3));
        assert!(!k.check(&s, &q, 2));
        assert!(k.check(&s, &t("documents", "d1", "owner", id("bob")), 2));
        // max-depth 1 never finds anything in Keto v0.14.
        assert!(!k.check(&s, &t("documents", "d1", "owner", id("bob")), 1));
        assert!(!k.check(&s, &t("documents", "d1", "viewer", id("carol")), 0));
    }

    #[test]
    fn check_terminates_on_cycles() {
        let k = keto();
        {
            let mut s = k.write();
            s.insert(t("groups", "a", "member", set("groups", "b", "member")));
            s.insert(t("groups", "b", "member", set("groups", "a", "member")));
        }
        assert!(!k.check(&k.read(), &t("groups", "a", "member", id("x")), 5));
    }

    #[test]
    fn store_is_bounded_in_bytes_too() {
        let mut s = Store::with_max_bytes(1_000_000, 10 << 20);
        let large = "x".repeat(1 << 20);
        for i in 0..40 {
            s.insert(t("documents", &format!("{i}-{large}"), "viewer", id("u")));
        }
        assert!(s.rows.len() < 10, "{} tuples of 2 MB kept", s.rows.len());
        assert!(s.bytes.used() <= 10 << 20);
        assert_eq!(s.exact.len(), s.rows.len(), "indexes follow the evictions");
        assert_eq!(s.by_obj.len(), s.rows.len());
    }

    #[test]
    fn store_is_bounded_and_keeps_indexes_consistent() {
        let k = Keto::new(&["documents".to_owned()], 10);
        {
            let mut s = k.write();
            for i in 0..25 {
                s.insert(t("documents", &format!("d{i}"), "viewer", id("u")));
            }
            assert_eq!(s.rows.len(), 10);
            assert_eq!(s.exact.len(), 10);
            assert_eq!(s.by_obj.len(), 10);
        }
        assert!(!k.read().exists(&t("documents", "d0", "viewer", id("u"))));
        assert!(k.read().exists(&t("documents", "d24", "viewer", id("u"))));
    }

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(
            decode_page_token(&encode_page_token(123_456)),
            Some(123_456)
        );
        assert_eq!(decode_page_token("nope"), None);
    }

    #[test]
    fn go_ints_parse_like_strconv() {
        assert_eq!(parse_go_int("5"), Some(5));
        assert_eq!(parse_go_int("-3"), Some(-3));
        assert_eq!(parse_go_int("0x10"), Some(16));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("abc"), None);
        assert_eq!(parse_go_int(""), None);
    }
}
