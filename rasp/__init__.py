"""RASP: the language raspc compiles.

Mirrors Tracr's ``tracr.rasp.rasp`` names, so a Tracr program ports by
changing its import to ``import rasp``.  This package depends on numpy only.
"""

from rasp.errors import (
    CompileError as CompileError,
    EvaluationError as EvaluationError,
    RaspcError as RaspcError,
    RaspcTypeError as RaspcTypeError,
    RaspcValueError as RaspcValueError,
    UnsupportedProgramError as UnsupportedProgramError,
)
from rasp.evaluate import evaluate as evaluate, evaluate_all as evaluate_all
from rasp.expr import (
    Aggregate as Aggregate,
    Comparison as Comparison,
    ConstantSelector as ConstantSelector,
    ConstantSOp as ConstantSOp,
    Encoding as Encoding,
    Full as Full,
    IndicesType as IndicesType,
    LengthType as LengthType,
    LinearSequenceMap as LinearSequenceMap,
    Map as Map,
    RASPExpr as RASPExpr,
    Select as Select,
    Selector as Selector,
    SelectorAnd as SelectorAnd,
    SelectorNot as SelectorNot,
    SelectorOr as SelectorOr,
    SelectorWidth as SelectorWidth,
    SequenceMap as SequenceMap,
    SOp as SOp,
    TokensType as TokensType,
    annotate as annotate,
    categorical as categorical,
    get_encoding as get_encoding,
    indices as indices,
    is_categorical as is_categorical,
    is_numerical as is_numerical,
    length as length,
    numerical as numerical,
    tokens as tokens,
)
from rasp.walk import postorder as postorder

__all__ = [
    "Aggregate", "Comparison", "CompileError", "ConstantSOp", "ConstantSelector",
    "Encoding", "EvaluationError", "Full", "IndicesType", "LengthType",
    "LinearSequenceMap", "Map", "RASPExpr", "RaspcError", "RaspcTypeError",
    "RaspcValueError", "SOp", "Select", "Selector", "SelectorAnd", "SelectorNot",
    "SelectorOr", "SelectorWidth", "SequenceMap", "TokensType",
    "UnsupportedProgramError", "annotate", "categorical", "evaluate", "evaluate_all",
    "get_encoding", "indices", "is_categorical", "is_numerical", "length", "numerical",
    "postorder", "tokens",
]
