use kestrel_macros::Signature;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct NoSchema {
    x: i64,
}

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: NoSchema,
}

fn main() {}
