//! Kestrel derive macros (being written): `#[derive(Signature)]` and `#[derive(Module)]`.

use proc_macro::TokenStream;

/// Derive a typed signature.
#[proc_macro_derive(Signature, attributes(input, output, signature))]
pub fn derive_signature(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}

/// Derive predictor access for a module struct.
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
