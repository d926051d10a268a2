//! The task-local retriever scope: nesting, no leak across tasks, and the
//! typed error when nothing is configured.

use std::sync::Arc;

use async_trait::async_trait;
use kestrel_lm::retrieve::resolve_retriever;
use kestrel_lm::{LmError, Passage, Retriever, SharedRetriever, current_retriever, with_retriever};

/// A retriever that answers its own name, `k` times.
#[derive(Debug)]
struct Named(&'static str);

#[async_trait]
impl Retriever for Named {
    fn name(&self) -> &str {
        self.0
    }
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, LmError> {
        Ok((0..k).map(|i| Passage::new(format!("{} {query}", self.0), 0.0, Some(i as u64))).collect())
    }
}

#[tokio::test]
async fn scopes_nest_and_the_innermost_wins() {
    assert!(current_retriever().is_none());
    assert!(matches!(resolve_retriever(None), Err(LmError::NoRetriever)));
    let outer: SharedRetriever = Arc::new(Named("outer"));
    let inner: SharedRetriever = Arc::new(Named("inner"));
    with_retriever(outer.clone(), async {
        assert_eq!(current_retriever().unwrap().name(), "outer");
        with_retriever(inner.clone(), async {
            assert_eq!(current_retriever().unwrap().name(), "inner");
        })
        .await;
        assert_eq!(current_retriever().unwrap().name(), "outer");
        // A module's own retriever wins over the scope.
        assert_eq!(resolve_retriever(Some(&inner)).unwrap().name(), "inner");
        // A spawned task does not inherit the scope.
        let seen = tokio::spawn(async { current_retriever().map(|r| r.name().to_string()) }).await.unwrap();
        assert_eq!(seen, None);
    })
    .await;
    assert!(current_retriever().is_none());
}

#[tokio::test]
async fn the_default_batch_asks_once_per_query_in_order() {
    let r = Named("r");
    let out = r.retrieve_batch(&["a".to_string(), "b".to_string()], 2).await.unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0][0].text, "r a");
    assert_eq!(out[1][1].text, "r b");
    assert_eq!(out[1][1].pid, Some(1));
}

#[test]
fn no_retriever_says_what_to_do() {
    assert!(LmError::NoRetriever.to_string().contains("with_retriever"));
}
