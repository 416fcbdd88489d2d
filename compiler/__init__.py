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

__all__ = ["CompiledProgram", "compile_rasp", "compile_rasp_to_model", "verify"]


def verify(model, inputs=None, **options):
    """Check a compiled model against the evaluator at every node (``models.verify``).

    Imports jax (via ``models``); kept here so ``compiler.verify(model)`` reads naturally.
    """
    from models.verification import verify as _verify

    return _verify(model, inputs, **options)
