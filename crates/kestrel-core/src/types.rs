//! [`FieldType`]: the type of a signature field, mirroring the Python
//! annotations DSPy accepts (`str`, `int`, `list[str]`, `Literal['a', 'b']`,
//! pydantic models, Enums...).

use serde_json::Value;

/// The type of one signature field.
///
/// Rendering (`python_name`) follows DSPy 3.4.1 exactly, so prompts match.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldType {
    /// `str` (also what an untyped field is).
    Str,
    /// `int`.
    Int,
    /// `float`.
    Float,
    /// `bool`.
    Bool,
    /// `Any`: any JSON value.
    Any,
    /// `NoneType`, only meaningful inside a union.
    None,
    /// `list[T]`.
    List(Box<FieldType>),
    /// `dict[K, V]`.
    Dict(Box<FieldType>, Box<FieldType>),
    /// `tuple[A, B, ...]`.
    Tuple(Vec<FieldType>),
    /// `Union[A, B, ...]`; `Optional[T]` and `T | None` are `Union[T, NoneType]`.
    Union(Vec<FieldType>),
    /// `Literal[v1, v2, ...]` with string, integer or boolean values.
    Literal(Vec<Value>),
    /// A Python `Enum` class (or a Rust enum of unit variants): its class name
    /// and its members as (member name, value).
    Enum {
        /// Class name, e.g. `Sentiment`.
        name: String,
        /// Members in declaration order: (name, value).
        members: Vec<(String, Value)>,
    },
    /// A structured type (a pydantic model, or a Rust struct) described by a
    /// JSON schema.
    Model {
        /// Class name, e.g. `Person`.
        name: String,
        /// The JSON schema of the type (pydantic's layout: `properties`,
        /// `required`, `$defs`...).
        schema: Value,
    },
    /// One of DSPy's custom types (`dspy.History`, `dspy.Image`,
    /// `dspy.Tool`, `dspy.ToolCalls`).
    Custom(crate::custom_type::CustomType),
}

impl FieldType {
    /// `Optional[inner]`, i.e. `Union[inner, NoneType]`.
    pub fn optional(inner: FieldType) -> FieldType {
        FieldType::Union(vec![inner, FieldType::None])
    }

    /// The custom type, if this is one.
    pub fn custom(&self) -> Option<crate::custom_type::CustomType> {
        match self {
            FieldType::Custom(c) => Some(*c),
            _ => None,
        }
    }

    /// True for `str`.
    pub fn is_str(&self) -> bool {
        matches!(self, FieldType::Str)
    }

    /// The Python spelling DSPy shows in prompts, e.g. `list[str]`,
    /// `Union[str, NoneType]`, `Literal['a', 'b']`, `Person`.
    pub fn python_name(&self) -> String {
        match self {
            FieldType::Str => "str".into(),
            FieldType::Int => "int".into(),
            FieldType::Float => "float".into(),
            FieldType::Bool => "bool".into(),
            FieldType::Any => "Any".into(),
            FieldType::None => "NoneType".into(),
            FieldType::List(t) => format!("list[{}]", t.python_name()),
            FieldType::Dict(k, v) => format!("dict[{}, {}]", k.python_name(), v.python_name()),
            FieldType::Tuple(items) => {
                let inner: Vec<String> = items.iter().map(FieldType::python_name).collect();
                format!("tuple[{}]", inner.join(", "))
            }
            FieldType::Union(items) => {
                let inner: Vec<String> = items.iter().map(FieldType::python_name).collect();
                format!("Union[{}]", inner.join(", "))
            }
            FieldType::Literal(values) => {
                let inner: Vec<String> = values.iter().map(python_literal_repr).collect();
                format!("Literal[{}]", inner.join(", "))
            }
            FieldType::Enum { name, .. } | FieldType::Model { name, .. } => name.clone(),
            FieldType::Custom(custom) => custom.name().to_string(),
        }
    }
}

/// Python's `repr` of a literal value: `'a'`, `"it's"`, `1`, `True`, `None`
/// (any JSON value is written as the Python object it stands for).
pub fn python_literal_repr(value: &Value) -> String {
    crate::adapter::pyfmt::py_repr(value)
}

/// Python's `repr` of a string: single quotes unless the text holds a single
/// quote and no double quote; backslashes, the chosen quote, `\n` / `\r` /
/// `\t` escaped, and characters Python does not print as `\x..` / `\u....`.
pub fn python_str_repr(s: &str) -> String {
    crate::adapter::pyfmt::py_str_repr(s)
}

impl std::str::FromStr for FieldType {
    type Err = crate::error::CoreError;

    /// Parse a Python annotation: `str`, `int`, `float`, `bool`, `Any`,
    /// `list[T]`, `dict[K, V]`, `tuple[A, B]`, `Optional[T]`, `T | None`,
    /// `Union[A, B]`, `Literal['a', 'b']`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        crate::type_parse::parse_type(text)
    }
}
