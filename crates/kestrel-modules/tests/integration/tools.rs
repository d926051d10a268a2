//! Tools: DSPy's description line, argument schemas from the args struct,
//! dynamic tools, and typed errors for bad arguments and failing tools.

use kestrel_modules::{ModuleError, Tool};
use serde_json::{Map, Value, json};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Booking {
    /// The city.
    city: String,
    nights: u32,
    note: Option<String>,
}

fn book() -> Tool {
    Tool::new("book", "Book a hotel.\nPays upfront.", |b: Booking| async move {
        if b.nights == 0 {
            return Err("zero nights".to_string());
        }
        Ok(json!({"city": b.city, "nights": b.nights, "note": b.note}))
    })
}

fn args(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn the_description_line_is_dspys() {
    let tool = book();
    // A field's doc comment is its description (DSPy's `arg_desc`), after the type as DSPy adds it.
    assert_eq!(tool.args()["city"], json!({"type": "string", "description": "The city."}));
    let line = tool.clone().arg_desc("city", "Where to stay.").to_string();
    assert_eq!(
        line,
        "book, whose description is <desc>Book a hotel.  Pays upfront.</desc>. It takes arguments \
         {'city': {'type': 'string', 'description': 'Where to stay.'}, 'nights': {'type': 'integer', 'minimum': 0}, \
         'note': {'anyOf': [{'type': 'string'}, {'type': 'null'}], 'default': None}}."
    );
    let bare = Tool::dynamic("noop", "", Map::new(), |_| async { Ok::<_, String>(Value::Null) });
    assert_eq!(bare.to_string(), "noop. It takes arguments {}.");
    assert_eq!(tool.name(), "book");
    assert_eq!(tool.desc(), "Book a hotel.\nPays upfront.");
}

#[tokio::test]
async fn typed_tools_check_convert_and_report() {
    let tool = book();
    let out = tool.call(args(json!({"city": "Oslo", "nights": 2}))).await.unwrap();
    assert_eq!(out, json!({"city": "Oslo", "nights": 2, "note": null}));

    let err = tool.call(args(json!({"city": "Oslo"}))).await.unwrap_err();
    assert!(
        matches!(&err, ModuleError::ToolArgs { tool, message } if tool == "book" && message.contains("missing field `nights`")),
        "{err:?}"
    );

    let err = tool.call(args(json!({"city": "Oslo", "nights": "two"}))).await.unwrap_err();
    assert!(
        matches!(&err, ModuleError::ToolArgs { message, .. } if message == "Arg nights is invalid: 'two' is not of type 'integer'")
    );

    let err = tool.call(args(json!({"city": "Oslo", "nights": 1, "pool": true}))).await.unwrap_err();
    assert!(matches!(&err, ModuleError::ToolArgs { message, .. } if message == "Arg pool is not in the tool's args."));

    let err = tool.call(args(json!({"city": "Oslo", "nights": 0}))).await.unwrap_err();
    assert!(matches!(&err, ModuleError::ToolFailed { tool, message } if tool == "book" && message == "zero nights"));

    let err = tool.call_value(json!(["Oslo"])).await.unwrap_err();
    assert!(matches!(&err, ModuleError::ToolArgs { message, .. } if message.contains("must be a JSON object")));
}

#[tokio::test]
async fn dynamic_tools_take_the_argument_object() {
    let schema = args(json!({"a": {"type": "integer"}, "b": {"type": "integer"}}));
    let add = Tool::dynamic("add", "Add two integers.", schema, |v: Value| async move {
        match (v["a"].as_i64(), v["b"].as_i64()) {
            (Some(a), Some(b)) => Ok(json!(a + b)),
            _ => Err("need a and b"),
        }
    });
    assert_eq!(add.call(args(json!({"a": 2, "b": 3}))).await.unwrap(), json!(5));
    assert_eq!(
        add.to_string(),
        "add, whose description is <desc>Add two integers.</desc>. It takes arguments {'a': {'type': 'integer'}, 'b': {'type': 'integer'}}."
    );
    let err = add.call(args(json!({"a": 2}))).await.unwrap_err();
    assert!(matches!(&err, ModuleError::ToolFailed { message, .. } if message == "need a and b"));
    let err = add.call(args(json!({"a": 2, "c": 1}))).await.unwrap_err();
    assert!(matches!(err, ModuleError::ToolArgs { .. }));
    let lenient = add.clone().accept_extra_args(true);
    assert!(lenient.call(args(json!({"a": 2, "b": 1, "c": 1}))).await.is_ok());
}

fn main_branch() -> String {
    "main".into()
}

fn one() -> i64 {
    1
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Checkout {
    repo: String,
    #[serde(default = "main_branch")]
    branch: String,
    #[serde(default = "one")]
    depth: i64,
}

/// An argument with a default renders as DSPy renders
/// `def checkout(repo: str, branch: str = "main", depth: int = 1)`:
/// `dspy.Tool(checkout).args` and `str(tool)` printed by DSPy 3.4.1.
#[tokio::test]
async fn a_typed_argument_with_a_default_renders_dspys_schema() {
    let tool = Tool::infallible("checkout", "Check out a branch.", |c: Checkout| async move {
        format!("{}@{}~{}", c.repo, c.branch, c.depth)
    });
    assert_eq!(tool.args()["branch"], json!({"type": "string", "default": "main"}));
    assert_eq!(
        serde_json::to_string(tool.args()).unwrap(),
        r#"{"repo":{"type":"string"},"branch":{"type":"string","default":"main"},"depth":{"type":"integer","default":1}}"#
    );
    assert_eq!(
        tool.to_string(),
        "checkout, whose description is <desc>Check out a branch.</desc>. It takes arguments {'repo': {'type': \
         'string'}, 'branch': {'type': 'string', 'default': 'main'}, 'depth': {'type': 'integer', 'default': 1}}."
    );
    // A missing argument takes its default, as the Python function's would.
    assert_eq!(tool.call(args(json!({"repo": "x"}))).await.unwrap(), json!("x@main~1"));
}
