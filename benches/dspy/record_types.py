"""Record DSPy 3.4.1 goldens for History, Image and ToolCalls signatures.

Writes one JSON file per case to testdata/dspy-types/ (relative to the repo
root). Run from the repo root with DSPy 3.4.1 installed:

    /tmp/dspy-venv/bin/python benches/dspy/record_types.py

No LM is called: `adapter.format` records the messages; for native function
calling the adapter's own pre/post-processing (`_call_preprocess`,
`_call_postprocess`) records the tools sent and the ToolCalls parsed from a
provider-shaped reply.
"""

import json
import pathlib
import sys
from typing import Any

import dspy
from dspy.adapters.types.tool import ToolCalls

OUT = pathlib.Path(__file__).resolve().parents[2] / "testdata" / "dspy-types"

PNG_DATA_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


class FunctionCallingLM:
    """Just enough of an LM for `_call_preprocess`: it says it can call functions."""

    supports_function_calling = True
    model = "openai/gpt-4o-mini"


def weather(city: str, unit: str = "celsius") -> str:
    """Current weather in a city."""
    return f"sunny in {city}"


def search(query: str) -> list[str]:
    """Search the web."""
    return [query]


TOOLS = [dspy.Tool(weather), dspy.Tool(search)]


def tool_value(tool: dspy.Tool) -> dict[str, Any]:
    return {"name": tool.name, "desc": tool.desc, "args": tool.args}


def jsonable(value: Any) -> Any:
    if isinstance(value, dspy.History):
        return {"messages": value.messages}
    if isinstance(value, dspy.Image):
        return {"url": value.url}
    if isinstance(value, dspy.Tool):
        return tool_value(value)
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, ToolCalls):
        return value.model_dump(mode="json")
    return value


def write(name: str, note: str, adapter_name: str, signature_string: str, signature, demos, inputs, expected):
    case = {
        "name": name,
        "dspy_version": dspy.__version__,
        "kind": "types_format",
        "adapter": adapter_name,
        "note": note,
        "signature": {"string": signature_string, "instructions": signature.instructions},
        "demos": jsonable(demos),
        "inputs": jsonable(inputs),
        "expected": expected,
    }
    (OUT / f"{name}.json").write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")


def adapter_for(name: str, native: bool = False):
    if name == "chat":
        return dspy.ChatAdapter(use_native_function_calling=native)
    return dspy.JSONAdapter(use_native_function_calling=native)


def record_format(name, note, adapter_name, signature_string, demos, inputs):
    signature = dspy.Signature(signature_string)
    messages = adapter_for(adapter_name).format(signature, demos, inputs)
    write(name, note, adapter_name, signature_string, signature, demos, inputs, {"messages": messages})


def record_native(name, note, adapter_name, signature_string, inputs, replies):
    signature = dspy.Signature(signature_string)
    adapter = adapter_for(adapter_name, native=True)
    lm_kwargs: dict[str, Any] = {}
    processed = adapter._call_preprocess(FunctionCallingLM(), lm_kwargs, signature, inputs)
    messages = adapter.format(processed, [], inputs)
    parsed = adapter._call_postprocess(processed, signature, replies, FunctionCallingLM(), lm_kwargs)
    expected = {
        "messages": messages,
        "tools": lm_kwargs["tools"],
        "replies": replies,
        "parsed": [jsonable(p) for p in parsed],
    }
    write(name, note, adapter_name, signature_string, signature, [], inputs, expected)


def main() -> None:
    if dspy.__version__ != "3.4.1":
        sys.exit(f"DSPy 3.4.1 expected, found {dspy.__version__}")
    OUT.mkdir(parents=True, exist_ok=True)

    history = dspy.History(
        messages=[
            {"question": "What is the capital of France?", "answer": "Paris"},
            {"question": "And of Germany?", "answer": "Berlin"},
        ]
    )
    for adapter_name in ("chat", "json"):
        record_format(
            f"history_{adapter_name}_basic",
            "two prior turns become user/assistant pairs after the demos, before the current question",
            adapter_name,
            "question: str, history: dspy.History -> answer: str",
            [],
            {"question": "Are you sure?", "history": history},
        )
        record_format(
            f"history_{adapter_name}_partial_turns",
            "turns with a missing output (None), an output only (no user turn), extra keys, a typed output, and a demo",
            adapter_name,
            "context, question: str, history: dspy.History -> answer: str, confidence: float",
            [{"context": "c0", "question": "q0", "answer": "a0", "confidence": 0.5}],
            {
                "context": "Europe",
                "question": "Which is larger?",
                "history": dspy.History(
                    messages=[
                        {"question": "Largest city of Spain?", "answer": "Madrid", "confidence": 0.9, "note": "x"},
                        {"question": "Largest city of Italy?"},
                        {"answer": "Rome", "confidence": 1.0},
                        {"context": "Asia", "question": "Capital of Japan?", "answer": "Tokyo", "confidence": 0.75},
                    ]
                ),
            },
        )
        record_format(
            f"history_{adapter_name}_empty",
            "an empty history adds no turns",
            adapter_name,
            "question: str, history: dspy.History -> answer: str",
            [],
            {"question": "Hi?", "history": dspy.History(messages=[])},
        )
        record_format(
            f"history_{adapter_name}_tool_calls",
            "a turn with tool calls and their results (text mode): calls in the assistant turn, results as a user turn",
            adapter_name,
            "question, history: dspy.History -> answer, tool_calls: dspy.ToolCalls",
            [],
            {
                "question": "And tomorrow?",
                "history": dspy.History(
                    messages=[
                        {
                            "question": "Weather in Paris?",
                            "tool_calls": {
                                "tool_calls": [{"id": "c1", "name": "weather", "args": {"city": "Paris"}}],
                                "tool_call_results": [{"call_id": "c1", "name": "weather", "value": "sunny"}],
                            },
                        },
                        {"answer": "It is sunny."},
                    ]
                ),
            },
        )
        record_format(
            f"image_{adapter_name}_url",
            "an image input splits the user message into text and image_url parts",
            adapter_name,
            "image: dspy.Image, question: str -> answer: str",
            [],
            {"image": dspy.Image("https://example.com/cat.png"), "question": "What animal is this?"},
        )
        record_format(
            f"image_{adapter_name}_data_url_demo",
            "a data-URL image in the input and in a demo",
            adapter_name,
            "question: str, image: dspy.Image -> label: str, count: int",
            [{"question": "How many?", "image": dspy.Image(PNG_DATA_URL), "label": "dot", "count": 1}],
            {"question": "And here?", "image": dspy.Image("https://example.com/b.jpg")},
        )
        record_format(
            f"image_{adapter_name}_list",
            "list[Image]: the marked parts sit inside a JSON list and are split back into parts",
            adapter_name,
            "images: list[dspy.Image], caption: str -> same: bool",
            [],
            {
                "images": [dspy.Image("https://example.com/1.png"), dspy.Image(PNG_DATA_URL)],
                "caption": "two dots",
            },
        )
        record_format(
            f"toolcalls_{adapter_name}_text_mode",
            "without native function calling, tools render as text and ToolCalls is an output field with a schema",
            adapter_name,
            "question: str, tools: list[dspy.Tool] -> answer: str, tool_calls: dspy.ToolCalls",
            [],
            {"question": "Weather in Paris?", "tools": TOOLS},
        )
        record_native(
            f"toolcalls_{adapter_name}_native",
            "native function calling: tools go to the API, both fields leave the prompt, tool calls are parsed",
            adapter_name,
            "question: str, tools: list[dspy.Tool] -> answer: str, tool_calls: dspy.ToolCalls",
            {"question": "Weather in Paris?", "tools": TOOLS},
            [
                {
                    "text": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "search", "arguments": '{"query": "Paris weather"}'},
                        },
                    ],
                }
            ],
        )
    print(f"wrote {len(list(OUT.glob('*.json')))} cases to {OUT}")


if __name__ == "__main__":
    main()
