//! Helper attributes: `#[input(...)]` / `#[output(...)]` on signature fields,
//! `#[signature(...)]` on a signature struct, `#[module(...)]` on module
//! fields. Unknown keys are errors that list the keys accepted.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::{Attribute, Field, LitStr, Meta, meta::ParseNestedMeta};

/// Which side of the signature a field is on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Input,
    Output,
}

/// What `#[input(...)]` / `#[output(...)]` say about one field.
pub(crate) struct FieldAttrs {
    pub(crate) side: Side,
    pub(crate) desc: Option<LitStr>,
    pub(crate) prefix: Option<LitStr>,
    /// `default = <JSON>` on an output: the tokens of a JSON value, written
    /// as `serde_json::json!` takes them (`"main"`, `0.5`, `[1, 2]`,
    /// `{"k": null}`).
    pub(crate) default: Option<TokenStream>,
}

/// Read a signature field's `#[input]` / `#[output]` attribute.
pub(crate) fn signature_field(field: &Field, name: &str) -> syn::Result<FieldAttrs> {
    let mut found: Option<(Side, &Attribute)> = None;
    let mut desc = None;
    let mut prefix = None;
    let mut default: Option<TokenStream> = None;
    for attr in &field.attrs {
        let side = if attr.path().is_ident("input") {
            Side::Input
        } else if attr.path().is_ident("output") {
            Side::Output
        } else {
            continue;
        };
        if let Some((earlier, _)) = found {
            let message = if earlier == side {
                format!("duplicate #[{}] attribute on field `{name}`", side_word(side))
            } else {
                format!("field `{name}` cannot be both #[input] and #[output]")
            };
            return Err(syn::Error::new_spanned(attr, message));
        }
        found = Some((side, attr));
        match &attr.meta {
            Meta::Path(_) => {}
            Meta::List(list) => list.parse_nested_meta(|meta| {
                if meta.path.is_ident("desc") {
                    set_once(&mut desc, string_value(&meta, "desc")?, &meta, "desc")
                } else if meta.path.is_ident("prefix") {
                    set_once(&mut prefix, string_value(&meta, "prefix")?, &meta, "prefix")
                } else if meta.path.is_ident("default") {
                    if side == Side::Input {
                        return Err(meta
                            .error("`default` applies to #[output] fields only (DSPy fills missing outputs with it)"));
                    }
                    if default.is_some() {
                        return Err(meta.error("duplicate key `default`"));
                    }
                    default = Some(json_tokens(&meta)?);
                    Ok(())
                } else {
                    let expected = match side {
                        Side::Input => "`desc` or `prefix`",
                        Side::Output => "`desc`, `prefix` or `default`",
                    };
                    Err(meta.error(format!("unknown key `{}`; expected {expected}", path_text(&meta))))
                }
            })?,
            Meta::NameValue(_) => {
                let word = side_word(side);
                return Err(syn::Error::new_spanned(
                    attr,
                    format!("expected `#[{word}]` or `#[{word}(desc = \"...\", prefix = \"...\")]`"),
                ));
            }
        }
    }
    match found {
        Some((side, _)) => Ok(FieldAttrs { side, desc, prefix, default }),
        None => Err(syn::Error::new(
            field_span(field),
            format!("field `{name}` needs #[input] or #[output] (every signature field is one or the other)"),
        )),
    }
}

/// `#[signature(instructions = "...")]` on the struct, if present.
pub(crate) fn signature_struct(attrs: &[Attribute]) -> syn::Result<Option<LitStr>> {
    let mut instructions = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("signature")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("instructions") {
                set_once(&mut instructions, string_value(&meta, "instructions")?, &meta, "instructions")
            } else {
                Err(meta.error(format!("unknown key `{}`; expected `instructions`", path_text(&meta))))
            }
        })?;
    }
    Ok(instructions)
}

/// True when a module field carries `#[module(skip)]`.
pub(crate) fn module_skip(field: &Field) -> syn::Result<bool> {
    let mut skip = false;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else {
                Err(meta.error(format!("unknown key `{}`; expected `skip`", path_text(&meta))))
            }
        })?;
    }
    Ok(skip)
}

fn string_value(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<LitStr> {
    meta.value()?
        .parse::<LitStr>()
        .map_err(|e| syn::Error::new(e.span(), format!("`{key}` expects a string literal, e.g. `{key} = \"...\"`")))
}

/// The tokens after `default =`, up to the next top-level comma: a JSON
/// value in `serde_json::json!` syntax (brackets and braces are single token
/// trees, so their commas stay inside).
fn json_tokens(meta: &ParseNestedMeta<'_>) -> syn::Result<TokenStream> {
    let input = meta.value()?;
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(syn::Token![,]) {
        tokens.extend([input.parse::<TokenTree>()?]);
    }
    if tokens.is_empty() {
        return Err(meta.error("`default` expects a JSON value, e.g. `default = \"main\"` or `default = [1, 2]`"));
    }
    Ok(tokens)
}

fn set_once(slot: &mut Option<LitStr>, value: LitStr, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("duplicate key `{key}`")));
    }
    *slot = Some(value);
    Ok(())
}

fn path_text(meta: &ParseNestedMeta<'_>) -> String {
    let segments: Vec<String> = meta.path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.join("::")
}

fn side_word(side: Side) -> &'static str {
    match side {
        Side::Input => "input",
        Side::Output => "output",
    }
}

/// The span of a field's name (or of the whole field if unnamed).
pub(crate) fn field_span(field: &Field) -> Span {
    match &field.ident {
        Some(ident) => ident.span(),
        None => field.span(),
    }
}
