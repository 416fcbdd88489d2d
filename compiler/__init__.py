"""raspc's compiler: RASP program -> named blocks -> layers -> residual space -> weights.

Only numpy and networkx are used here, and nothing from ``models``: the compiler's
result is plain data (:mod:`compiler.artifact`: config, parameters under
``param_path`` names, layout, hook names), and :func:`compile_rasp_to_model` hands
it to a back end registered as an entry point (:mod:`compiler.backend`), raspc's
Haiku model by default.  To check a model against the evaluator use
``models.verify``.
"""

from compiler.compiling import (
    CompiledProgram as CompiledProgram,
)
from compiler.compiling import (
    compile_rasp as compile_rasp,
)
from compiler.compiling import (
    compile_rasp_to_model as compile_rasp_to_model,
)

__all__ = ["CompiledProgram", "compile_rasp", "compile_rasp_to_model"]
