"""XMLAdapter cases beyond the shared fixtures, recorded with DSPy 3.4.1.

Run with a Python that has `dspy==3.4.1` installed (never committed):

    python crates/kestrel-core/tests/dspy_reference/xml_cases.py \
        > crates/kestrel-core/tests/integration/xml_cases.json

Writes a JSON list of cases in the shared fixtures' layout (kinds `format`
and `parse`, adapter `xml`; see testdata/dspy/README.md), which
tests/integration/xml_adapter.rs runs: replies with surrounding text,
malformed XML (expat's messages), entities, CDATA, repeated and nested
tags, every scalar type, lists, dicts, unions, literals, tuples, models and
Enums, and demos whose values need nested XML.
"""

import enum
import json
import random
from typing import Any, Literal, Optional, Union

import pydantic
import dspy
from dspy.adapters.utils import get_annotation_name
from dspy.utils.exceptions import AdapterParseError


class Address(pydantic.BaseModel):
    street: str
    city: str
    postcode: Optional[str] = None


class Person(pydantic.BaseModel):
    name: str
    age: int
    emails: list[str]
    address: Address


class Sentiment(enum.Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


def field_json(name, info, io):
    ann = info.annotation
    extra = info.json_schema_extra or {}
    desc = extra.get("desc")
    out = {
        "name": name,
        "io": io,
        "type": get_annotation_name(ann),
        "desc": None if desc == f"${{{name}}}" else desc,
        "prefix": extra.get("prefix"),
    }
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        out["enums"] = {ann.__name__: {m.name: m.value for m in ann}}
    elif "Person" in out["type"] or "Address" in out["type"]:
        out["schema"] = pydantic.TypeAdapter(ann).json_schema()
    return out


def signature_json(sig):
    fields = [field_json(n, f, "input") for n, f in sig.input_fields.items()]
    fields += [field_json(n, f, "output") for n, f in sig.output_fields.items()]
    return {"string": None, "instructions": sig.instructions, "fields": fields}


CASES = []


def fmt(name, sig, demos, inputs):
    messages = dspy.XMLAdapter().format(sig, demos, inputs)
    CASES.append({
        "name": name, "kind": "format", "adapter": "xml", "signature": signature_json(sig),
        "demos": json.loads(json.dumps(demos, default=lambda o: o.model_dump() if hasattr(o, "model_dump") else o.value)),
        "inputs": inputs, "expected": {"messages": messages},
    })


def parse(name, sig, completion):
    case = {"name": name, "kind": "parse", "adapter": "xml", "signature": signature_json(sig), "completion": completion}
    try:
        out = dspy.XMLAdapter().parse(sig, completion)
        dumped = {k: pydantic.TypeAdapter(sig.output_fields[k].annotation).dump_python(v, mode="json")
                  for k, v in out.items()}
        case["expected"] = {"outputs": dumped, "output_types": {k: type(v).__name__ for k, v in out.items()}}
    except AdapterParseError as e:
        parsed = getattr(e, "parsed_result", None)
        case["expected"] = {
            "error": "AdapterParseError", "adapter_name": e.adapter_name,
            "expected_fields": list(sig.output_fields), "parsed_fields": list(parsed) if parsed is not None else None,
            "message": str(e),
        }
    CASES.append(case)


A = dspy.Signature("question -> answer")
for i, c in enumerate([
    "<answer>Paris</answer>",
    "<answer>\n  multi\n  line\n</answer>",
    "<answer>x<b>bold</b> and <i a=\"1\" b='q\"'>i</i> tail &amp; more</answer>",
    "<answer>\n  x <br/> y\n</answer>",
    "<answer>a</answer><answer>b</answer>",
    "<answer/>",
    "<answer>&lt;tag&gt; &amp; &quot;q&quot; &apos; &#x263A; &#65;</answer>",
    "<answer><![CDATA[1 < 2 & 3]]></answer>",
    "no tags at all",
    "",
    "<Answer>caps</Answer>",
    "<answer>a & b</answer>",
    "<answer>x</answer",
    "<answer>5 < 6</answer>",
    "```xml\n<answer>fenced</answer>\n```",
    "<?xml version=\"1.0\"?><answer>x</answer>",
    "<answer>one</answer>\n<!-- note --> <answer>two</answer>",
    "<entry key=\"answer\">via entry</entry>",
    "<answer>\u00e9 \u00fc \u4e2d\u6587</answer>",
    "<answer>\r\nwin\r\nlines\r\n</answer>",
    "<reasoning>think</reasoning><answer>x</answer>",
    "<answer><answer>nested</answer></answer>",
    "<answer>x</answer>\n\n<completed/>",
    "<answer>&nbsp;</answer>",
    "<answer>unclosed",
    "line one\nline two <answer>\n  x\n</answer> trailing & junk",
    "<answer>a</answer></dspy_root><x/>",
    "<answer><!-- hidden -->shown<?pi data?></answer>",
]):
    parse(f"str_{i}", A, c)

B = dspy.Signature("question -> n: int, x: float, ok: bool")
for i, c in enumerate([
    "<n>3</n><x>2</x><ok>true</ok>",
    "<n> 3.0 </n><x>1e3</x><ok>False</ok>",
    "<n>three</n><x>1</x><ok>yes</ok>",
    "<n>1</n><x>2.5</x><ok>1</ok>",
    "<n>1</n><ok>no</ok>",
    "<n><v>1</v></n><x>1</x><ok>1</ok>",
    "<n>1</n><n>2</n><x>1</x><ok>1</ok>",
    "<n>\"7\"</n><x>'1.5'</x><ok>True</ok>",
    "<n>1</n><x>1</x><ok>maybe</ok>",
]):
    parse(f"scalar_{i}", B, c)

C = dspy.Signature("question -> tags: list[str], nums: list[int]")
for i, c in enumerate([
    "<tags><item>a</item><item> b </item></tags><nums><item>1</item><item>2</item></nums>",
    "<tags>[\"a\", \"b\"]</tags><nums>[1, 2]</nums>",
    "<tags></tags><nums/>",
    "<tags>solo</tags><nums>7</nums>",
    "<tags>a, b</tags><nums>1, 2</nums>",
    "<tags><x>a</x><x>b</x></tags><nums><item>1</item><item>x</item></nums>",
    "<tags><item><b>bold</b></item></tags><nums><item>1</item></nums>",
    "<tags>a</tags><tags>b</tags><nums><item>3</item></nums>",
    "<tags><item>a</item>loose<item>b</item></tags><nums><item> 4 </item></nums>",
]):
    parse(f"list_{i}", C, c)

D = dspy.Signature("question -> counts: dict[str, int], meta: dict[str, Any]")
for i, c in enumerate([
    "<counts><a>1</a><b>2</b></counts><meta><x>y</x><l><item>1</item></l></meta>",
    "<counts><entry key=\"new york\">2</entry></counts><meta></meta>",
    "<counts>{\"a\": 1}</counts><meta>{\"k\": [1, 2]}</meta>",
    "<counts/><meta/>",
    "<counts><a>x</a></counts><meta/>",
    "<counts><a>1</a><a>2</a></counts><meta><n><m>deep</m></n></meta>",
]):
    parse(f"dict_{i}", D, c)

E = dspy.Signature(
    "question -> maybe: Optional[int], either: Union[int, str], label: Literal['yes', 'no'], pair: tuple[int, str]"
)
for i, c in enumerate([
    "<maybe></maybe><either>4</either><label>yes</label><pair>[1, \"a\"]</pair>",
    "<maybe>None</maybe><either>four</either><label>'no'</label><pair><item>1</item><item>a</item></pair>",
    "<either>4</either><label>maybe</label><pair>[1, \"a\"]</pair>",
    "<maybe>x</maybe><either>4</either><label>yes</label><pair>[1, \"a\"]</pair>",
    "<maybe> 5 </maybe><either><v>1</v></either><label>no</label><pair>(2, 'b')</pair>",
]):
    parse(f"union_{i}", E, c)


class F(dspy.Signature):
    """Extract people."""

    text: str = dspy.InputField()
    person: Person = dspy.OutputField(desc="The main person")
    people: list[Person] = dspy.OutputField()
    where: Optional[Address] = dspy.OutputField()
    mood: Sentiment = dspy.OutputField()


for i, c in enumerate([
    "<person><name>Ann</name><age>30</age><emails><item>a@x</item></emails><address><street>1 Main</street>"
    "<city>X</city></address></person><people><item><name>B</name><age>2</age><emails/><address><street>s</street>"
    "<city>c</city><postcode>9</postcode></address></item></people><where></where><mood>positive</mood>",
    "<person>{\"name\": \"Ann\", \"age\": 3, \"emails\": [], \"address\": {\"street\": \"s\", \"city\": \"c\"}}</person>"
    "<people>[]</people><where><street>s</street><city>c</city></where><mood>NEGATIVE</mood>",
    "<person><name>Ann</name><emails/><address><street>s</street><city>c</city></address></person><people/>"
    "<mood>positive</mood>",
    "<person><name>Ann</name><age>3</age><emails>x</emails><address><street>s</street><city>c</city></address>"
    "</person><people/><mood>happy</mood>",
]):
    parse(f"model_{i}", F, c)

fmt("models_and_demos", F, [
    {"text": "t1", "person": Person(name="A & B", age=3, emails=["a@x", "b<c"], address=Address(street="s", city="c")),
     "people": [], "where": None, "mood": Sentiment.POSITIVE},
    {"text": "t2", "person": {"name": "x"}, "mood": "negative"},
], {"text": "Who is <b>here</b> & there?"})

G = dspy.Signature(
    "context: list[str], data: dict[str, Any], n: int -> summary, items: list[dict[str, Any]], "
    "maybe_tags: Optional[list[str]], flag: bool, pair: tuple[int, str]",
    "Summarise.\n\n  Keep it short.",
)
fmt("mixed_types", G, [
    {"context": ["a", "b\nc"], "data": {"k": [1, 2.0]}, "n": 2, "summary": ["one", "two & three"],
     "items": [{"a\"b": "it's", "x": {"y": None}}, {"k": True, "f": 1.5}], "maybe_tags": ["t"], "flag": False,
     "pair": [1, "a"]},
    {"context": [], "data": {}, "n": 0, "summary": "x < y", "items": [], "maybe_tags": None, "flag": True},
    {"context": ["only"], "summary": "s"},
], {"context": ["alpha", "beta"], "data": {"q": "<&>"}, "n": 7})

# Seeded random demo values for nested-XML rendering: keys that are and are
# not tag names, escapes, None, empty containers, nested lists and dicts.
rng = random.Random(31)
KEYS = ["a", "new york", "x.y", "two-words", "3d", "_u", "\u00e9t\u00e9", "a\"b", "it's", "k\nl", "", "class", "a:b",
        "-x", "x-", "\u4e2d"]
TEXTS = ["plain", "a & b", "x < y > z", "", "  spaced  ", "line\nbreak", "quote \" ' ", "\u00e9\u00e8", "[1, 2]", "None"]


def value(depth):
    kind = rng.choice(["str", "int", "float", "bool", "none", "list", "dict"] if depth < 3 else ["str", "int", "none"])
    if kind == "str":
        return rng.choice(TEXTS)
    if kind == "int":
        return rng.randint(-5, 100)
    if kind == "float":
        return rng.choice([0.5, 1.0, -2.25, 1e16, 3.0])
    if kind == "bool":
        return rng.choice([True, False])
    if kind == "none":
        return None
    if kind == "list":
        return [value(depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): value(depth + 1) for _ in range(rng.randint(0, 3))}


R = dspy.Signature(
    "doc, extra: dict[str, Any] -> summary, items: list[Any], table: dict[str, Any], maybe: Optional[list[Any]], "
    "count: int"
)
for i in range(12):
    demos = []
    for _ in range(rng.randint(1, 3)):
        demo = {"doc": rng.choice(TEXTS + [["a", "b & c"]]), "extra": value(1), "summary": rng.choice(TEXTS + [["x", "y"]]),
                "items": value(1), "table": value(1), "maybe": rng.choice([None, [value(2)], []]), "count": rng.randint(0, 9)}
        for k in rng.sample(list(demo), rng.randint(0, 2)):
            del demo[k]
        demos.append(demo)
    fmt(f"random_values_{i}", R, demos, {"doc": rng.choice(TEXTS), "extra": value(1)})

print(json.dumps(CASES, indent=1, ensure_ascii=False))
