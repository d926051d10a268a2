//! The retrievers of the `retrieval` feature: [`dense`] (DSPy's
//! `Embeddings`: hand-computed scores, HNSW against brute force, errors),
//! [`lexical`] (BM25 scores computed by hand) and [`colbert`] (the ColBERTv2
//! client against the mock server: GET, POST, typed errors).

mod colbert;
mod dense;
mod lexical;
