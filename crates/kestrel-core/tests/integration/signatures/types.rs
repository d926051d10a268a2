//! Type annotations (`FieldType`'s `FromStr`): every accepted form, Python's
//! union rules, Literal values with Python escapes, round trips through
//! `python_name`, and every error with its byte position.

use kestrel_core::{CoreError, FieldType};
use serde_json::{Value, json};

use super::{dict, list, ty};

/// The (position, message) of a type error, checking its variant and input.
fn type_err(text: &str) -> (usize, String) {
    match text.parse::<FieldType>() {
        Err(CoreError::TypeSyntax { input, position, message }) => {
            assert_eq!(input, text);
            assert!(position <= text.len(), "{text:?}: position {position} out of range");
            (position, message)
        }
        other => panic!("{text:?} should fail with TypeSyntax, got {other:?}"),
    }
}

#[test]
fn scalar_and_container_types() {
    assert_eq!(ty("str"), FieldType::Str);
    assert_eq!(ty("int"), FieldType::Int);
    assert_eq!(ty("float"), FieldType::Float);
    assert_eq!(ty("bool"), FieldType::Bool);
    assert_eq!(ty("Any"), FieldType::Any);
    assert_eq!(ty("None"), FieldType::None);
    assert_eq!(ty("NoneType"), FieldType::None);
    assert_eq!(ty("list[str]"), list(FieldType::Str));
    assert_eq!(ty("List[int]"), list(FieldType::Int));
    assert_eq!(ty("list[list[int]]"), list(list(FieldType::Int)));
    assert_eq!(ty("dict[str, int]"), dict(FieldType::Str, FieldType::Int));
    assert_eq!(ty("Dict[str, Any]"), dict(FieldType::Str, FieldType::Any));
    assert_eq!(ty("list[dict[str, Any]]"), list(dict(FieldType::Str, FieldType::Any)));
    assert_eq!(ty("tuple[int, str]"), FieldType::Tuple(vec![FieldType::Int, FieldType::Str]));
    assert_eq!(ty("Tuple[bool]"), FieldType::Tuple(vec![FieldType::Bool]));
    assert_eq!(ty("typing.List[typing.Any]"), list(FieldType::Any));
}

#[test]
fn bare_containers_map_to_their_json_equivalents() {
    // pydantic gives `list` / `list[Any]` (and `dict` / `dict[str, Any]`) the
    // same JSON schema; FieldType has no bare form, so the Any form is used.
    assert_eq!(ty("list"), list(FieldType::Any));
    assert_eq!(ty("List"), list(FieldType::Any));
    assert_eq!(ty("dict"), dict(FieldType::Str, FieldType::Any));
    assert_eq!(ty("tuple"), list(FieldType::Any));
    assert_eq!(ty("tuple[int, ...]"), list(FieldType::Int));
}

#[test]
fn unions_and_optionals_follow_python() {
    let opt_str = FieldType::optional(FieldType::Str);
    assert_eq!(ty("Optional[str]"), opt_str);
    assert_eq!(ty("str | None"), opt_str);
    assert_eq!(ty("None | str"), opt_str, "DSPy turns `None | T` into Optional[T]");
    assert_eq!(ty("Union[str, None]"), opt_str);
    assert_eq!(ty("Union[str, NoneType]"), opt_str);
    assert_eq!(ty("Union[None, str]"), FieldType::Union(vec![FieldType::None, FieldType::Str]));
    assert_eq!(ty("int | str"), FieldType::Union(vec![FieldType::Int, FieldType::Str]));
    assert_eq!(ty("Union[int, str]"), FieldType::Union(vec![FieldType::Int, FieldType::Str]));
    // Flattened, de-duplicated, single members unwrapped.
    assert_eq!(ty("int | str | None"), FieldType::Union(vec![FieldType::Int, FieldType::Str, FieldType::None]));
    assert_eq!(ty("Optional[Optional[int]]"), FieldType::optional(FieldType::Int));
    assert_eq!(ty("Union[int, Union[str, int]]"), FieldType::Union(vec![FieldType::Int, FieldType::Str]));
    assert_eq!(ty("Union[int]"), FieldType::Int);
    assert_eq!(ty("Union[int, int]"), FieldType::Int);
    assert_eq!(ty("Optional[None]"), FieldType::None);
    assert_eq!(ty("(int | str) | None"), FieldType::Union(vec![FieldType::Int, FieldType::Str, FieldType::None]));
    assert_eq!(ty("list[int] | None"), FieldType::optional(list(FieldType::Int)));
    assert_eq!(ty("Optional[list[str]]"), FieldType::optional(list(FieldType::Str)));
}

#[test]
fn literals_hold_python_values() {
    assert_eq!(
        ty("Literal['a', \"b\", 1, True]"),
        FieldType::Literal(vec![json!("a"), json!("b"), json!(1), json!(true)])
    );
    assert_eq!(ty("Literal[False, None, -3]"), FieldType::Literal(vec![json!(false), Value::Null, json!(-3)]));
    assert_eq!(ty("Literal['a, b', 'c]d']"), FieldType::Literal(vec![json!("a, b"), json!("c]d")]));
    assert_eq!(ty(r#"Literal["it's"]"#), FieldType::Literal(vec![json!("it's")]));
    assert_eq!(
        ty(r"Literal['it\'s', 'a\\b', 'tab\there', 'nl\n']"),
        FieldType::Literal(vec![json!("it's"), json!("a\\b"), json!("tab\there"), json!("nl\n")])
    );
    assert_eq!(ty(r"Literal['\x41\u00e9\U0001F600\101']"), FieldType::Literal(vec![json!("Aé😀A")]));
    assert_eq!(ty(r"Literal['\d']"), FieldType::Literal(vec![json!("\\d")]), "unknown escapes keep the backslash");
    assert_eq!(ty(r"Literal[r'\n']"), FieldType::Literal(vec![json!("\\n")]), "raw strings");
    assert_eq!(ty("Literal['a' 'b']"), FieldType::Literal(vec![json!("ab")]), "adjacent strings concatenate");
    assert_eq!(ty("Literal['é', '日本']"), FieldType::Literal(vec![json!("é"), json!("日本")]));
    assert_eq!(ty("Literal[1_000]"), FieldType::Literal(vec![json!(1000)]));
    assert_eq!(ty("Literal['a', 'a', 1]"), FieldType::Literal(vec![json!("a"), json!(1)]), "de-duplicated");
    assert_eq!(ty("Literal[1, True]"), FieldType::Literal(vec![json!(1), json!(true)]), "1 and True differ");
    assert_eq!(ty("typing.Literal['x']"), FieldType::Literal(vec![json!("x")]));
    assert_eq!(ty("Literal['a'] | None"), FieldType::optional(FieldType::Literal(vec![json!("a")])));
}

#[test]
fn whitespace_is_tolerated() {
    assert_eq!(ty("  list [ str ]  "), list(FieldType::Str));
    assert_eq!(ty("dict[ str ,int ]"), dict(FieldType::Str, FieldType::Int));
    assert_eq!(ty("Literal[ 'a' ,\n 'b' , ]"), FieldType::Literal(vec![json!("a"), json!("b")]));
    assert_eq!(ty("str|None"), FieldType::optional(FieldType::Str));
    assert_eq!(ty("\tOptional[\nint\n]"), FieldType::optional(FieldType::Int));
}

#[test]
fn python_names_round_trip() {
    for text in [
        "str",
        "int",
        "float",
        "bool",
        "Any",
        "list[str]",
        "list[list[int]]",
        "dict[str, int]",
        "dict[str, Any]",
        "list[dict[str, Any]]",
        "tuple[int, str, bool]",
        "Union[str, NoneType]",
        "Union[int, str, NoneType]",
        "Literal['a', 'b']",
        "Literal[1, 2, 3]",
        "Literal[\"it's\", True, None]",
        "Literal['a\\\\b', 'x\\ny']",
    ] {
        let parsed = ty(text);
        assert_eq!(parsed.python_name(), text, "python_name of {text:?}");
        assert_eq!(ty(&parsed.python_name()), parsed);
    }
    assert_eq!(ty("Optional[str]").python_name(), "Union[str, NoneType]");
}

#[test]
fn type_errors_name_the_problem() {
    let (pos, msg) = type_err("Foo");
    assert_eq!(pos, 0);
    assert!(msg.contains("unknown type `Foo`") && msg.contains("list[T]") && msg.contains("Literal"), "{msg}");
    let (pos, msg) = type_err("list[string]");
    assert_eq!(pos, 5);
    assert!(msg.contains("unknown type `string`") && msg.contains("did you mean `str`"), "{msg}");
    let (pos, msg) = type_err("Vec<String>");
    assert_eq!(pos, 0);
    assert!(msg.contains("`Vec`") && msg.contains("list[T]"), "{msg}");
    let (pos, msg) = type_err("list[int");
    assert_eq!(pos, 4);
    assert!(msg.contains("unclosed `[`"), "{msg}");
    let (pos, msg) = type_err("dict[str, list[int]");
    assert_eq!(pos, 4);
    assert!(msg.contains("unclosed `[`"), "{msg}");
    let (pos, msg) = type_err("list[int]]");
    assert_eq!(pos, 9);
    assert!(msg.contains("unmatched `]`"), "{msg}");
    let (pos, msg) = type_err("list[int)");
    assert_eq!(pos, 8);
    assert!(msg.contains("does not close"), "{msg}");
    let (pos, msg) = type_err("Literal[]");
    assert_eq!(pos, 7);
    assert!(msg.contains("empty `[]` after `Literal`"), "{msg}");
    let (pos, msg) = type_err("list[]");
    assert_eq!(pos, 4);
    assert!(msg.contains("empty `[]`"), "{msg}");
    let (pos, msg) = type_err("int str");
    assert_eq!(pos, 4);
    assert!(msg.contains("unexpected `s` after the type `int`"), "{msg}");
    let (pos, msg) = type_err("int, str");
    assert_eq!(pos, 3);
    assert!(msg.contains("unexpected `,`"), "{msg}");
    let (pos, msg) = type_err("");
    assert_eq!(pos, 0);
    assert!(msg.contains("empty type annotation"), "{msg}");
    let (pos, msg) = type_err("   ");
    assert_eq!(pos, 3);
    assert!(msg.contains("empty type annotation"), "{msg}");
    let (pos, msg) = type_err("Literal['a");
    assert_eq!(pos, 8, "{msg}");
    assert!(msg.contains("unterminated string literal"), "{msg}");
    let (pos, msg) = type_err("Literal['a]");
    assert_eq!(pos, 8);
    assert!(msg.contains("unterminated string literal"), "{msg}");
    let (pos, msg) = type_err("Literal[1.5]");
    assert_eq!(pos, 8);
    assert!(msg.contains("not floats"), "{msg}");
    let (pos, msg) = type_err("Literal[foo]");
    assert_eq!(pos, 8);
    assert!(msg.contains("`foo` is not a Literal value"), "{msg}");
    let (pos, msg) = type_err("Literal[99999999999999999999999]");
    assert_eq!(pos, 8);
    assert!(msg.contains("out of range"), "{msg}");
    let (pos, msg) = type_err("Literal['\\xZ']");
    assert_eq!(pos, 9);
    assert!(msg.contains("hex digits"), "{msg}");
    let (pos, msg) = type_err("list[int, str]");
    assert_eq!(pos, 0);
    assert!(msg.contains("`list` takes exactly one type argument, got 2"), "{msg}");
    let (pos, msg) = type_err("dict[str]");
    assert_eq!(pos, 0);
    assert!(msg.contains("two type arguments"), "{msg}");
    let (pos, msg) = type_err("Optional[int, str]");
    assert_eq!(pos, 0);
    assert!(msg.contains("`Optional` takes exactly one type argument"), "{msg}");
    let (pos, msg) = type_err("Optional");
    assert_eq!(pos, 0);
    assert!(msg.contains("`Optional` needs arguments"), "{msg}");
    let (pos, msg) = type_err("int[str]");
    assert_eq!(pos, 0);
    assert!(msg.contains("`int` takes no type arguments"), "{msg}");
    let (pos, msg) = type_err("list[...]");
    assert_eq!(pos, 5);
    assert!(msg.contains("tuple[T, ...]"), "{msg}");
    let (pos, msg) = type_err("int |");
    assert_eq!(pos, 5);
    assert!(msg.contains("expected a type, found the end"), "{msg}");
    let (pos, msg) = type_err("'str'");
    assert_eq!(pos, 0);
    assert!(msg.contains("only allowed inside `Literal[...]`"), "{msg}");
    let (pos, msg) = type_err("list[int,,]");
    assert_eq!(pos, 9);
    assert!(msg.contains("expected a type"), "{msg}");
    let (pos, msg) = type_err("dspy.Audio");
    assert_eq!(pos, 0);
    assert!(msg.contains("unknown type `dspy.Audio`"), "{msg}");
    let deep = format!("{}int{}", "list[".repeat(200), "]".repeat(200));
    let (_, msg) = type_err(&deep);
    assert!(msg.contains("nested too deeply"), "{msg}");
}
