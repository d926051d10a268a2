//! A ColBERTv2 search server's wire format (the API DSPy's `ColBERTv2`
//! client speaks): `GET /colbert?query=<q>&k=<k>` or `POST /colbert` with
//! `{"query", "k"}`, answered with `{"query", "topk": [{"text", "pid",
//! "rank", "score", "prob"}]}` over the corpus given to
//! [`super::MockServerBuilder::colbert_corpus`].
//!
//! Ranking is deterministic and easy to compute by hand: a passage's score
//! is the number of distinct lower-cased words (runs of letters and digits)
//! it shares with the query; passages sharing none are left out; equal
//! scores keep corpus order (`pid` = corpus index, `rank` from 1); `prob`
//! is the softmax of the kept scores. A missing or empty `query`, or a `k`
//! that is not a positive integer, is answered `200 OK` with `{"error":
//! true, "message": ..}`, the error shape DSPy's client checks for.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::wire::{JsonReply, ok};

/// A parsed search: the query and `k`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Search {
    pub(super) query: String,
    pub(super) k: usize,
}

/// Read `query` and `k` from a URL query string (GET).
pub(super) fn from_query_string(raw: Option<&str>) -> Result<Search, String> {
    let mut query = None;
    let mut k = None;
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode(key).as_str() {
            "query" => query = Some(percent_decode(value)),
            "k" => k = Some(percent_decode(value)),
            _ => {}
        }
    }
    let k = match k {
        None => return Err("missing `k`".to_string()),
        Some(k) => k.trim().parse::<usize>().map_err(|_| format!("`k` must be a positive integer, got `{k}`"))?,
    };
    checked(query.unwrap_or_default(), k)
}

/// Read `query` and `k` from a JSON body (POST).
pub(super) fn from_body(body: &Value) -> Result<Search, String> {
    let query = body.get("query").and_then(Value::as_str).unwrap_or_default().to_string();
    let k = match body.get("k") {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| format!("`k` must be a positive integer, got {n}"))?,
        Some(other) => return Err(format!("`k` must be a positive integer, got {other}")),
        None => return Err("missing `k`".to_string()),
    };
    checked(query, usize::try_from(k).unwrap_or(usize::MAX))
}

fn checked(query: String, k: usize) -> Result<Search, String> {
    if query.trim().is_empty() {
        return Err("missing or empty `query`".to_string());
    }
    if k == 0 {
        return Err("`k` must be a positive integer, got 0".to_string());
    }
    Ok(Search { query, k })
}

/// The answer: the top-k of `corpus`, or the error body.
pub(super) fn answer(corpus: &[String], search: Result<Search, String>) -> JsonReply {
    let search = match search {
        Ok(search) => search,
        Err(message) => return ok(json!({"error": true, "message": message})),
    };
    let words_of_query = words(&search.query);
    let mut scored: Vec<(usize, usize)> = corpus
        .iter()
        .enumerate()
        .map(|(pid, text)| (pid, words(text).intersection(&words_of_query).count()))
        .filter(|(_, score)| *score > 0)
        .collect();
    scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(search.k);
    let max = scored.first().map_or(0.0, |s| s.1 as f64);
    let total: f64 = scored.iter().map(|s| (s.1 as f64 - max).exp()).sum();
    let topk: Vec<Value> = scored
        .iter()
        .enumerate()
        .map(|(i, (pid, score))| {
            json!({
                "text": corpus[*pid],
                "pid": pid,
                "rank": i + 1,
                "score": *score as f64,
                "prob": (*score as f64 - max).exp() / total,
            })
        })
        .collect();
    ok(json!({"query": search.query, "topk": topk}))
}

/// Distinct lower-cased runs of letters and digits.
fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; bad escapes are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded() {
        let s = from_query_string(Some("query=who+wrote%20%22Hamlet%22%3F&k=3")).expect("parses");
        assert_eq!(s, Search { query: "who wrote \"Hamlet\"?".into(), k: 3 });
        assert!(from_query_string(Some("query=x&k=zero")).is_err());
        assert!(from_query_string(Some("k=2")).is_err());
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%é"), "%zz%é");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
    }

    #[test]
    fn ranking_counts_shared_words_and_keeps_corpus_order_on_ties() {
        let corpus: Vec<String> =
            ["the cat sat", "a dog ran", "the cat and the dog", "nothing here"].iter().map(|s| s.to_string()).collect();
        let (_, body) = answer(&corpus, Ok(Search { query: "cat dog".into(), k: 5 }));
        let pids: Vec<u64> =
            body["topk"].as_array().expect("list").iter().map(|p| p["pid"].as_u64().expect("pid")).collect();
        assert_eq!(pids, vec![2, 0, 1]);
        assert_eq!(body["topk"][0]["score"], 2.0);
        let (_, error) = answer(&corpus, Err("missing `k`".into()));
        assert_eq!(error["error"], true);
    }
}
