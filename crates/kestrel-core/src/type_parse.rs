//! Parser for Python type annotations as DSPy signatures write them
//! (`list[str]`, `dict[str, int]`, `Optional[int]`, `Literal['a', 'b']`...).
//!
//! Accepted: `str`, `int`, `float`, `bool`, `Any`, `None` / `NoneType`,
//! `list[T]` / `List[T]`, `dict[K, V]` / `Dict[K, V]`, `tuple[A, B]` /
//! `Tuple[A, B]`, `Optional[T]`, `Union[A, B]`, `A | B`, `Literal[...]` with
//! quoted strings (Python escapes), integers, `True`, `False` and `None`,
//! parentheses for grouping, and an optional `typing.` prefix on any name.
//!
//! As in Python, unions are flattened and de-duplicated (`Optional[int | None]`
//! is `Union[int, NoneType]`, a one-member union is the member itself) and
//! `None | T` is `Optional[T]`. Literal values are de-duplicated too.
//!
//! Where Rust's [`FieldType`] has no exact twin, the closest JSON-equivalent
//! type is used (pydantic gives both the same JSON schema; only the name shown
//! in prompts differs from DSPy's): bare `list` is `list[Any]`, bare `dict`
//! is `dict[str, Any]` (JSON object keys are strings), and bare `tuple` and
//! `tuple[T, ...]` are `list[Any]` / `list[T]`.

use serde_json::Value;

use crate::error::{CoreError, Result};
use crate::signature_parse::top_level_chars;
use crate::types::FieldType;

/// A syntax problem: byte offset in the parsed text and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Syntax {
    pub(crate) position: usize,
    pub(crate) message: String,
}

impl Syntax {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self { position, message: message.into() }
    }
}

/// The type names the parser knows, as error messages list them.
const KNOWN: &str = "str, int, float, bool, Any, None, list[T], dict[K, V], tuple[A, B], Optional[T], \
                     Union[A, B], Literal[...] (also List, Dict, Tuple, NoneType), and DSPy's History, Image, \
                     Tool, ToolCalls (also dspy.History...)";

/// Deepest nesting accepted (keeps the recursive parser off the stack limit).
const MAX_DEPTH: usize = 64;

/// Parse a type annotation.
pub(crate) fn parse_type(text: &str) -> Result<FieldType> {
    parse_type_syntax(text).map_err(|e| CoreError::TypeSyntax {
        input: text.to_string(),
        position: e.position,
        message: e.message,
    })
}

/// Parse a type annotation; errors carry byte offsets into `text`.
pub(crate) fn parse_type_syntax(text: &str) -> std::result::Result<FieldType, Syntax> {
    top_level_chars(text)?;
    let mut parser = Parser { text, pos: 0, depth: 0 };
    parser.skip_ws();
    if parser.at_end() {
        return Err(Syntax::new(text.len(), "empty type annotation; expected a type such as `str` or `list[int]`"));
    }
    let ty = parser.union()?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(ty),
        Some(c) => Err(Syntax::new(
            parser.pos,
            format!("unexpected `{c}` after the type `{}`; expected the end of the annotation", ty.python_name()),
        )),
    }
}

/// One argument inside `Name[...]`.
enum Arg {
    Type(FieldType),
    Value(Value),
    Ellipsis,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("`{c}`"),
            None => "the end of the annotation".into(),
        }
    }

    /// `primary ('|' primary)*`, combined as Python's `X | Y`.
    fn union(&mut self) -> std::result::Result<FieldType, Syntax> {
        let mut left = self.primary()?;
        loop {
            self.skip_ws();
            if self.peek() != Some('|') {
                return Ok(left);
            }
            self.bump();
            let right = self.primary()?;
            left = match (&left, &right) {
                (_, FieldType::None) => union_of(vec![left, FieldType::None]),
                (FieldType::None, _) => union_of(vec![right, FieldType::None]),
                _ => union_of(vec![left, right]),
            };
        }
    }

    fn primary(&mut self) -> std::result::Result<FieldType, Syntax> {
        self.skip_ws();
        if self.depth >= MAX_DEPTH {
            return Err(Syntax::new(self.pos, format!("type nested too deeply (more than {MAX_DEPTH} levels)")));
        }
        self.depth += 1;
        let result = self.primary_inner();
        self.depth -= 1;
        result
    }

    fn primary_inner(&mut self) -> std::result::Result<FieldType, Syntax> {
        let start = self.pos;
        match self.peek() {
            Some('(') => {
                self.bump();
                let inner = self.union()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(Syntax::new(self.pos, format!("expected `)`, found {}", self.found())));
                }
                self.bump();
                Ok(inner)
            }
            Some(c) if c.is_alphabetic() || c == '_' => {
                let name = self.dotted_name();
                self.skip_ws();
                let args = if self.peek() == Some('[') { Some(self.args(&name)?) } else { None };
                build(&name, start, args)
            }
            Some('\'' | '"') => Err(Syntax::new(
                start,
                "unexpected string; quoted values are only allowed inside `Literal[...]`".to_string(),
            )),
            _ => Err(Syntax::new(start, format!("expected a type, found {}; known types: {KNOWN}", self.found()))),
        }
    }

    /// `name(.name)*`, with whitespace allowed around the dots.
    fn dotted_name(&mut self) -> String {
        let mut name = self.ident();
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.peek() == Some('.') {
                self.bump();
                self.skip_ws();
                if self.peek().is_some_and(|c| c.is_alphabetic() || c == '_') {
                    name.push('.');
                    name.push_str(&self.ident());
                    continue;
                }
            }
            self.pos = save;
            return name;
        }
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        self.text.get(start..self.pos).unwrap_or("").to_string()
    }

    /// `[arg, arg, ...]` after `name` (the cursor is on `[`).
    fn args(&mut self, name: &str) -> std::result::Result<Vec<(usize, Arg)>, Syntax> {
        let open = self.pos;
        self.bump();
        let literal = is_name(name, "Literal");
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(']') && !args.is_empty() {
                self.bump();
                return Ok(args);
            }
            if self.peek() == Some(']') {
                return Err(Syntax::new(open, format!("empty `[]` after `{name}`; it needs at least one argument")));
            }
            let at = self.pos;
            let arg = if literal {
                Arg::Value(self.literal_value()?)
            } else if self.rest().starts_with("...") {
                self.pos += 3;
                Arg::Ellipsis
            } else {
                Arg::Type(self.union()?)
            };
            args.push((at, arg));
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                _ => return Err(Syntax::new(self.pos, format!("expected `,` or `]`, found {}", self.found()))),
            }
        }
    }

    /// One `Literal` value: a string (adjacent strings concatenate), an
    /// integer, `True`, `False` or `None`.
    fn literal_value(&mut self) -> std::result::Result<Value, Syntax> {
        let start = self.pos;
        let word_len = self.rest().find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(self.rest().len());
        let word = self.rest().get(..word_len).unwrap_or("").to_string();
        let after_word = self.rest().get(word_len..).unwrap_or("");
        let is_prefix = ["r", "R", "u", "U"].contains(&word.as_str());
        if after_word.starts_with(['\'', '"']) && (word.is_empty() || is_prefix) {
            let mut text = String::new();
            loop {
                let raw = self.peek().is_some_and(|c| c == 'r' || c == 'R');
                if self.peek().is_some_and(|c| "rRuU".contains(c)) {
                    self.bump();
                }
                text.push_str(&self.string_body(raw)?);
                let save = self.pos;
                self.skip_ws();
                let next_prefix = self.rest().starts_with(['r', 'R', 'u', 'U'])
                    && self.rest().get(1..).is_some_and(|r| r.starts_with(['\'', '"']));
                if !(self.rest().starts_with(['\'', '"']) || next_prefix) {
                    self.pos = save;
                    return Ok(Value::String(text));
                }
            }
        }
        match word.as_str() {
            "True" => return self.take(word_len, Value::Bool(true)),
            "False" => return self.take(word_len, Value::Bool(false)),
            "None" => return self.take(word_len, Value::Null),
            _ => {}
        }
        let rest = self.rest();
        let sign = usize::from(rest.starts_with(['-', '+']));
        let body = rest.get(sign..).unwrap_or("");
        let digits = body.find(|c: char| !(c.is_ascii_digit() || c == '_')).unwrap_or(body.len());
        if digits == 0 || !body.starts_with(|c: char| c.is_ascii_digit()) {
            let shown = if word.is_empty() { self.found() } else { format!("`{word}`") };
            return Err(Syntax::new(
                start,
                format!("{shown} is not a Literal value; use quoted strings, integers, True, False or None"),
            ));
        }
        if body.get(digits..).is_some_and(|r| r.starts_with(['.', 'e', 'E', 'j', 'J'])) {
            return Err(Syntax::new(start, "Literal values must be strings, integers, booleans or None, not floats"));
        }
        let number: String =
            rest.get(..sign + digits).unwrap_or("").chars().filter(|&c| c != '_' && c != '+').collect();
        let value = match (number.parse::<i64>(), number.parse::<u64>()) {
            (Ok(n), _) => Value::from(n),
            (_, Ok(n)) => Value::from(n),
            _ => return Err(Syntax::new(start, format!("integer `{number}` is out of range"))),
        };
        self.take(sign + digits, value)
    }

    fn take(&mut self, len: usize, value: Value) -> std::result::Result<Value, Syntax> {
        self.pos += len;
        Ok(value)
    }

    /// A quoted string at the cursor, with Python's escapes (none if `raw`).
    fn string_body(&mut self, raw: bool) -> std::result::Result<String, Syntax> {
        let start = self.pos;
        let quote = self.bump().unwrap_or('\'');
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None | Some('\n') => return Err(Syntax::new(start, "unterminated string literal")),
                Some(c) if c == quote => return Ok(out),
                Some('\\') if raw => {
                    out.push('\\');
                    if let Some(c) = self.bump() {
                        out.push(c);
                    }
                }
                Some('\\') => self.escape(at, &mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    /// One escape sequence after a backslash at `at`.
    fn escape(&mut self, at: usize, out: &mut String) -> std::result::Result<(), Syntax> {
        let Some(c) = self.bump() else { return Err(Syntax::new(at, "unterminated string literal")) };
        let simple = match c {
            '\n' => Some(None),
            '\\' | '\'' | '"' => Some(Some(c)),
            'a' => Some(Some('\u{7}')),
            'b' => Some(Some('\u{8}')),
            'f' => Some(Some('\u{c}')),
            'n' => Some(Some('\n')),
            'r' => Some(Some('\r')),
            't' => Some(Some('\t')),
            'v' => Some(Some('\u{b}')),
            _ => None,
        };
        if let Some(pushed) = simple {
            out.extend(pushed);
            return Ok(());
        }
        let (radix, len) = match c {
            '0'..='7' => (8, 3),
            'x' => (16, 2),
            'u' => (16, 4),
            'U' => (16, 8),
            'N' => return Err(Syntax::new(at, "`\\N{...}` escapes are not supported; write the character itself")),
            _ => {
                out.push('\\');
                out.push(c);
                return Ok(());
            }
        };
        let mut digits = String::new();
        if radix == 8 {
            digits.push(c);
        }
        while digits.len() < len && self.peek().is_some_and(|d| d.is_digit(radix)) {
            digits.extend(self.bump());
        }
        if radix == 16 && digits.len() < len {
            return Err(Syntax::new(at, format!("truncated `\\{c}` escape: expected {len} hex digits")));
        }
        match u32::from_str_radix(&digits, radix).ok().and_then(char::from_u32) {
            Some(ch) => {
                out.push(ch);
                Ok(())
            }
            None => Err(Syntax::new(at, format!("`\\{c}{digits}` is not a valid character"))),
        }
    }
}

/// True when `name` is `expected` or `typing.expected`.
fn is_name(name: &str, expected: &str) -> bool {
    name.strip_prefix("typing.").unwrap_or(name) == expected
}

/// Build the type named `name` (at `start`) from its arguments, if any.
fn build(name: &str, start: usize, args: Option<Vec<(usize, Arg)>>) -> std::result::Result<FieldType, Syntax> {
    let base = name.strip_prefix("typing.").unwrap_or(name);
    let scalar = match base {
        "str" => Some(FieldType::Str),
        "int" => Some(FieldType::Int),
        "float" => Some(FieldType::Float),
        "bool" => Some(FieldType::Bool),
        "Any" => Some(FieldType::Any),
        "None" | "NoneType" => Some(FieldType::None),
        _ => crate::custom_type::CustomType::from_name(base).map(FieldType::Custom),
    };
    if let Some(ty) = scalar {
        return match args {
            None => Ok(ty),
            Some(_) => Err(Syntax::new(start, format!("`{name}` takes no type arguments"))),
        };
    }
    let generic = ["list", "List", "dict", "Dict", "tuple", "Tuple", "Optional", "Union", "Literal"];
    if !generic.contains(&base) {
        return Err(Syntax::new(start, unknown_name_message(name)));
    }
    let Some(args) = args else {
        return match base {
            "list" | "List" | "tuple" | "Tuple" => Ok(FieldType::List(Box::new(FieldType::Any))),
            "dict" | "Dict" => Ok(FieldType::Dict(Box::new(FieldType::Str), Box::new(FieldType::Any))),
            _ => Err(Syntax::new(start, format!("`{name}` needs arguments, e.g. `{name}[...]`"))),
        };
    };
    if base == "Literal" {
        let mut values: Vec<Value> = Vec::new();
        for (_, arg) in args {
            if let Arg::Value(v) = arg
                && !values.contains(&v)
            {
                values.push(v);
            }
        }
        return Ok(FieldType::Literal(values));
    }
    let is_tuple = matches!(base, "tuple" | "Tuple");
    let count = args.len();
    let mut types = Vec::with_capacity(count);
    for (i, (at, arg)) in args.into_iter().enumerate() {
        match arg {
            Arg::Type(t) => types.push(t),
            Arg::Ellipsis if is_tuple && i == 1 && count == 2 => {
                let item = types.pop().unwrap_or(FieldType::Any);
                return Ok(FieldType::List(Box::new(item)));
            }
            _ => return Err(Syntax::new(at, "`...` is only allowed as `tuple[T, ...]`")),
        }
    }
    let arity = |n: usize, what: &str| {
        if count == n { Ok(()) } else { Err(Syntax::new(start, format!("`{name}` takes exactly {what}, got {count}"))) }
    };
    let mut types = types.into_iter();
    let mut next = || types.next().unwrap_or(FieldType::Any);
    match base {
        "list" | "List" => arity(1, "one type argument").map(|()| FieldType::List(Box::new(next()))),
        "dict" | "Dict" => {
            arity(2, "two type arguments (key and value)").map(|()| FieldType::Dict(Box::new(next()), Box::new(next())))
        }
        "Optional" => arity(1, "one type argument").map(|()| union_of(vec![next(), FieldType::None])),
        "Union" => Ok(union_of((0..count).map(|_| next()).collect())),
        _ => Ok(FieldType::Tuple((0..count).map(|_| next()).collect())),
    }
}

/// A union as Python builds it: nested unions flattened, duplicates dropped,
/// a single member returned as itself.
fn union_of(members: Vec<FieldType>) -> FieldType {
    let mut flat: Vec<FieldType> = Vec::new();
    for m in members {
        let inner = match m {
            FieldType::Union(items) => items,
            other => vec![other],
        };
        for t in inner {
            if !flat.contains(&t) {
                flat.push(t);
            }
        }
    }
    if flat.len() == 1 { flat.pop().unwrap_or(FieldType::Any) } else { FieldType::Union(flat) }
}

/// "unknown type" with a hint for common non-Python spellings.
fn unknown_name_message(name: &str) -> String {
    let hint = match name {
        "string" | "String" | "Str" | "text" => Some("str"),
        "integer" | "Int" | "i32" | "i64" | "u32" | "u64" | "usize" | "long" => Some("int"),
        "double" | "number" | "Float" | "f32" | "f64" => Some("float"),
        "boolean" | "Bool" => Some("bool"),
        "Vec" | "array" | "Array" => Some("list[T]"),
        "HashMap" | "map" | "Map" | "object" => Some("dict[K, V]"),
        "Option" => Some("Optional[T]"),
        "any" | "object_" => Some("Any"),
        "null" | "none" => Some("None"),
        _ => None,
    };
    let hint = hint.map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default();
    format!(
        "unknown type `{name}`{hint}; known types: {KNOWN}. Custom classes need a typed signature \
         (#[derive(Signature)]) or a hand-built FieldSpec"
    )
}
