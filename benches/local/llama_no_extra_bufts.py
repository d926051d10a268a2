"""Makes llama-cpp-python load models without llama.cpp's extra buffer types.

llama.cpp moves some weights into "extra" CPU buffer types at load time
(AMX tiles on CPUs that have AMX, repacked k-quant layouts). On this
project's development VM (Intel Xeon with AMX_INT8, llama-cpp-python
0.3.36 built with GGML_NATIVE) the AMX path segfaults on the first decode;
with `use_extra_bufts = False` every weight stays in the plain CPU buffer
and llama.cpp runs its AVX-512 / VNNI dot products. Setting
LLAMA_EXTRA_BUFTS=1 keeps llama.cpp's default (for machines where it works).

Import it before creating a `Llama` (llama_speed.py does), or run the
server through it:

    python benches/local/llama_no_extra_bufts.py --model M.gguf ...   # = python -m llama_cpp.server ...
"""

import os
import runpy

import llama_cpp.llama_cpp as _lib

EXTRA_BUFTS = os.environ.get("LLAMA_EXTRA_BUFTS", "0") == "1"

if not EXTRA_BUFTS:
    _default_params = _lib.llama_model_default_params

    def _params_without_extra_bufts():
        params = _default_params()
        params.use_extra_bufts = False
        return params

    _lib.llama_model_default_params = _params_without_extra_bufts

if __name__ == "__main__":
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
