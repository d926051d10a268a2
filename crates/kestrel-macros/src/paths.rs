//! Where the Kestrel crates are, seen from the crate using a derive: a direct
//! `kestrel-core` / `kestrel-modules` dependency (possibly renamed), or the
//! `kestrel` facade (`kestrel::core`, `kestrel::modules`).

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

/// A path to a Kestrel crate, as tokens and as the text serde's
/// `#[serde(crate = "...")]` wants.
pub(crate) struct CratePath {
    pub(crate) tokens: TokenStream,
    pub(crate) text: String,
}

impl CratePath {
    fn new(root: &str, sub: Option<&str>) -> Self {
        let mut text = format!("::{root}");
        if let Some(sub) = sub {
            text.push_str("::");
            text.push_str(sub);
        }
        let root_ident = Ident::new(root, Span::call_site());
        let head = quote!(::#root_ident);
        let tokens = match sub {
            Some(sub) => {
                let sub = Ident::new(sub, Span::call_site());
                quote!(#head::#sub)
            }
            None => head,
        };
        Self { tokens, text }
    }
}

/// `kestrel_core`, or `kestrel::core`.
pub(crate) fn core() -> CratePath {
    resolve("kestrel-core", "kestrel_core", "core")
}

/// `kestrel_modules`, or `kestrel::modules`.
pub(crate) fn modules() -> CratePath {
    resolve("kestrel-modules", "kestrel_modules", "modules")
}

fn resolve(package: &str, default: &str, facade_module: &str) -> CratePath {
    if let Ok(found) = crate_name(package) {
        return from_found(found, default, None);
    }
    if let Ok(found) = crate_name("kestrel") {
        return from_found(found, "kestrel", Some(facade_module));
    }
    CratePath::new(default, None)
}

fn from_found(found: FoundCrate, own_name: &str, sub: Option<&str>) -> CratePath {
    match found {
        FoundCrate::Name(name) => CratePath::new(&name, sub),
        // Inside a Kestrel crate itself, its doctests, examples and tests
        // reach it by name; its library code needs
        // `extern crate self as kestrel_modules;` (or the like) to use a derive.
        FoundCrate::Itself => CratePath::new(own_name, sub),
    }
}
