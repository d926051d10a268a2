# Records the system prompts of DSPy 3.4.1 ProgramOfThought("question -> answer") and
# CodeAct("question -> answer", tools=[get_weather]) stages (ChatAdapter), keyed by predictor
# path, into dspy_code_prompts.json: python record_dspy_code_prompts.py > dspy_code_prompts.json
import json, warnings
warnings.filterwarnings("ignore")
import dspy
from dspy.adapters.chat_adapter import ChatAdapter
pot = dspy.ProgramOfThought("question -> answer")
def get_weather(city: str) -> str:
    """Get the weather."""
    return "x"
act = dspy.CodeAct("question -> answer", tools=[get_weather])
a = ChatAdapter()
out = {}
for name, pred in pot.named_predictors() + act.named_predictors():
    msgs = a.format(pred.signature, demos=[], inputs={k: "X" for k in pred.signature.input_fields})
    out[name] = msgs[0]["content"]
print(json.dumps(out))
