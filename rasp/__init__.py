"""RASP: the language raspc compiles.

Mirrors Tracr's ``tracr.rasp.rasp`` names (every public name of that module is
here, a test checks it), so a Tracr program ports by changing its import to
``import rasp``.  This package depends on numpy only.
"""

from rasp.errors import CompileError as CompileError
from rasp.errors import EvaluationError as EvaluationError
from rasp.errors import RaspcError as RaspcError
from rasp.errors import RaspcTypeError as RaspcTypeError
from rasp.errors import RaspcValueError as RaspcValueError
from rasp.errors import RaspcWarning as RaspcWarning
from rasp.errors import UnsupportedProgramError as UnsupportedProgramError
from rasp.evaluate import DefaultRASPEvaluator as DefaultRASPEvaluator
from rasp.evaluate import RASPEvaluator as RASPEvaluator
from rasp.evaluate import evaluate as evaluate
from rasp.evaluate import evaluate_all as evaluate_all
from rasp.expr import DEFAULT_ANNOTATORS as DEFAULT_ANNOTATORS
from rasp.expr import VT as VT
from rasp.expr import Aggregate as Aggregate
from rasp.expr import Annotator as Annotator
from rasp.expr import Comparison as Comparison
from rasp.expr import ConstantSelector as ConstantSelector
from rasp.expr import ConstantSOp as ConstantSOp
from rasp.expr import Encoding as Encoding
from rasp.expr import Full as Full
from rasp.expr import IndicesType as IndicesType
from rasp.expr import LengthType as LengthType
from rasp.expr import LinearSequenceMap as LinearSequenceMap
from rasp.expr import Map as Map
from rasp.expr import NumericValue as NumericValue
from rasp.expr import Predicate as Predicate
from rasp.expr import RASPExpr as RASPExpr
from rasp.expr import RASPExprT as RASPExprT
from rasp.expr import Select as Select
from rasp.expr import Selector as Selector
from rasp.expr import SelectorAnd as SelectorAnd
from rasp.expr import SelectorNot as SelectorNot
from rasp.expr import SelectorOr as SelectorOr
from rasp.expr import SelectorValue as SelectorValue
from rasp.expr import SelectorWidth as SelectorWidth
from rasp.expr import SequenceMap as SequenceMap
from rasp.expr import SOp as SOp
from rasp.expr import SOpT as SOpT
from rasp.expr import T as T
from rasp.expr import TokensType as TokensType
from rasp.expr import Value as Value
from rasp.expr import annotate as annotate
from rasp.expr import categorical as categorical
from rasp.expr import default_encoding as default_encoding
from rasp.expr import default_name as default_name
from rasp.expr import get_encoding as get_encoding
from rasp.expr import indices as indices
from rasp.expr import is_categorical as is_categorical
from rasp.expr import is_numerical as is_numerical
from rasp.expr import length as length
from rasp.expr import numerical as numerical
from rasp.expr import selector_and as selector_and
from rasp.expr import selector_not as selector_not
from rasp.expr import selector_or as selector_or
from rasp.expr import sop_not as sop_not
from rasp.expr import tokens as tokens
from rasp.walk import assign_labels as assign_labels
from rasp.walk import postorder as postorder

__all__ = [
    "Aggregate",
    "Annotator",
    "Comparison",
    "CompileError",
    "ConstantSOp",
    "ConstantSelector",
    "DEFAULT_ANNOTATORS",
    "DefaultRASPEvaluator",
    "Encoding",
    "EvaluationError",
    "Full",
    "IndicesType",
    "LengthType",
    "LinearSequenceMap",
    "Map",
    "NumericValue",
    "Predicate",
    "RASPEvaluator",
    "RASPExpr",
    "RASPExprT",
    "RaspcError",
    "RaspcTypeError",
    "RaspcValueError",
    "RaspcWarning",
    "SOp",
    "SOpT",
    "Select",
    "Selector",
    "SelectorAnd",
    "SelectorNot",
    "SelectorOr",
    "SelectorValue",
    "SelectorWidth",
    "SequenceMap",
    "T",
    "TokensType",
    "UnsupportedProgramError",
    "VT",
    "Value",
    "annotate",
    "assign_labels",
    "categorical",
    "default_encoding",
    "default_name",
    "evaluate",
    "evaluate_all",
    "get_encoding",
    "indices",
    "is_categorical",
    "is_numerical",
    "length",
    "numerical",
    "postorder",
    "selector_and",
    "selector_not",
    "selector_or",
    "sop_not",
    "tokens",
]
