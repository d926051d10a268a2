//! `#[derive(Module)]`: `Predictors` for a struct, visiting each field under
//! its name (tuple fields under their index) in declaration order — its
//! predictors, and its saved-state entries (predictors and other parameters
//! such as `Retrieve`).

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Ident, Index, Member, Type, parse_quote};

use crate::attrs;
use crate::paths;

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        Data::Enum(e) => {
            return Err(syn::Error::new_spanned(
                e.enum_token,
                "#[derive(Module)] works on structs only, not enums: predictor paths name struct fields. Hold the \
                 alternatives in fields of a struct instead",
            ));
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(u.union_token, "#[derive(Module)] works on structs only, not unions"));
        }
    };
    let modules = paths::modules();
    let m = &modules.tokens;
    let type_params: HashSet<Ident> = input.generics.type_params().map(|p| p.ident.clone()).collect();

    let mut generics = input.generics.clone();
    let mut visits = Vec::new();
    let mut visits_mut = Vec::new();
    let mut state_visits = Vec::new();
    let mut state_visits_mut = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        if attrs::module_skip(field)? {
            continue;
        }
        let (member, name) = match &field.ident {
            Some(ident) => (Member::Named(ident.clone()), ident.unraw().to_string()),
            None => (Member::Unnamed(Index { index: i as u32, span: field.span() }), i.to_string()),
        };
        let ty = &field.ty;
        if mentions_any(ty, &type_params) {
            generics.make_where_clause().predicates.push(parse_quote!(#ty: #m::Predictors));
        }
        let span = ty.span();
        visits.push(quote_spanned! {span=>
            #m::Predictors::visit_predictors(&self.#member, &#m::join_path(__path, #name), __visit);
        });
        visits_mut.push(quote_spanned! {span=>
            #m::Predictors::visit_predictors_mut(&mut self.#member, &#m::join_path(__path, #name), __visit);
        });
        state_visits.push(quote_spanned! {span=>
            #m::Predictors::visit_state(&self.#member, &#m::join_path(__path, #name), __visit);
        });
        state_visits_mut.push(quote_spanned! {span=>
            #m::Predictors::visit_state_mut(&mut self.#member, &#m::join_path(__path, #name), __visit);
        });
    }
    let (path, visit) = if visits.is_empty() { (quote!(_), quote!(_)) } else { (quote!(__path), quote!(__visit)) };
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #m::Predictors for #ident #ty_generics #where_clause {
            fn visit_predictors(
                &self,
                #path: &str,
                #visit: &mut dyn ::core::ops::FnMut(&str, &dyn #m::Predictor),
            ) {
                #(#visits)*
            }

            fn visit_predictors_mut(
                &mut self,
                #path: &str,
                #visit: &mut dyn ::core::ops::FnMut(&str, &mut dyn #m::Predictor),
            ) {
                #(#visits_mut)*
            }

            fn visit_state(
                &self,
                #path: &str,
                #visit: &mut dyn ::core::ops::FnMut(&str, #m::StateRef<'_>),
            ) {
                #(#state_visits)*
            }

            fn visit_state_mut(
                &mut self,
                #path: &str,
                #visit: &mut dyn ::core::ops::FnMut(&str, #m::StateMut<'_>),
            ) {
                #(#state_visits_mut)*
            }
        }
    })
}

/// True when `ty` names one of the struct's type parameters.
fn mentions_any(ty: &Type, params: &HashSet<Ident>) -> bool {
    fn walk(tokens: TokenStream, params: &HashSet<Ident>) -> bool {
        tokens.into_iter().any(|t| match t {
            TokenTree::Ident(ident) => params.contains(&ident),
            TokenTree::Group(group) => walk(group.stream(), params),
            _ => false,
        })
    }
    !params.is_empty() && walk(ty.to_token_stream(), params)
}
