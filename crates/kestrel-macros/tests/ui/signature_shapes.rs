use kestrel_macros::Signature;

#[derive(Signature)]
struct Tuple(String, String);

#[derive(Signature)]
enum NotAStruct {
    A,
}

#[derive(Signature)]
struct Generic<T> {
    #[input]
    question: T,
    #[output]
    answer: String,
}

fn main() {}
