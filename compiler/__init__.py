"""raspc's compiler: RASP program -> named blocks -> layers -> residual space -> weights.

Only numpy and networkx are used here; :func:`compile_rasp_to_model` imports
the Haiku model (``models``) at its end.
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
