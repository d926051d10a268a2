"""Seeded random replies parsed by DSPy 3.4.1's XMLAdapter, for a
differential test of Kestrel's (tests/integration/xml_adapter.rs).

Run with a Python that has `dspy==3.4.1` installed (never committed):

    python crates/kestrel-core/tests/dspy_reference/xml_random.py [COUNT] \
        > crates/kestrel-core/tests/integration/xml_random_cases.json

For each of three signatures, COUNT replies (default 250): mostly the output
tags in a random order with random fillings (text, entities, CDATA,
comments, processing instructions, nested and unknown tags, JSON text), the
rest random token soup (malformed XML: expat's errors). Written: each
reply and DSPy's outputs or full error message.
"""

import json
import random
import sys

import dspy
from dspy.utils.exceptions import AdapterParseError

TOKENS = [
    "<answer>", "</answer>", "<n>", "</n>", "<tags>", "<item>", "</item>", "</tags>", "<d>", "</d>", "<k>", "</k>",
    "&amp;", "&", "<", " ", "\n", "x", "1", "22", "<!-- c -->", "<![CDATA[a<b]]>", "<b/>", "<b>", "</b>",
    "<entry key='n y'>", "</entry>", "&#65;", "\u00e9", "\r\n", "]]>", "<?pi?>", "'", '"', ">", "=", "<x a='1'>",
    "</x>", "[1, 2]", "None", "  ", "\t", "<answer/>", "<d/>", "<tags/>", "&lt;", "&gt;", "<a:b>", "[\"p\"]",
    "{\"k\": 3}", "true", "3.5", "-", "\u4e2d",
]
MALFORMING = {"&", "<", "]]>", "<a:b>", "<b>", "<x a='1'>", "</x>", "</b>", "</entry>", "<entry key='n y'>"}
SIGNATURES = [
    "q -> answer, n: int, tags: list[str], d: Optional[dict[str, int]]",
    "q -> answer: list[dict[str, Any]], n: Literal['x', 'y', '1'], tags: Optional[str], d: dict[str, list[float]]",
    "q -> answer, n, tags: Optional[list[str]], d",
]


def reply(rng):
    if rng.random() >= 0.7:
        return "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 14)))
    pool = TOKENS[12:] if rng.random() < 0.3 else [t for t in TOKENS[12:] if t not in MALFORMING]

    def fill():
        return "".join(rng.choice(pool) for _ in range(rng.randint(0, 4)))

    parts = [
        f"<answer>{fill()}</answer>",
        f"<n>{rng.choice(['1', ' 2 ', 'x', '3.0', '', 'y', 'True', '[1]'])}</n>",
        rng.choice(["<tags><item>a</item><item>" + fill() + "</item></tags>", "<tags>" + fill() + "</tags>", ""]),
        rng.choice(["<d><k>1</k></d>", "<d>" + fill() + "</d>", "<d><entry key='a b'>2</entry><k>" + fill() + "</k></d>", ""]),
    ]
    rng.shuffle(parts)
    return fill().join(parts)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 250
    rng = random.Random(20261203)
    out = []
    for text in SIGNATURES:
        sig = dspy.Signature(text)
        cases = []
        for _ in range(count):
            completion = reply(rng)
            try:
                cases.append({"completion": completion, "outputs": dspy.XMLAdapter().parse(sig, completion)})
            except AdapterParseError as e:
                cases.append({"completion": completion, "error": str(e)})
        out.append({"signature": text, "cases": cases})
    print(json.dumps(out, ensure_ascii=False))


main()
