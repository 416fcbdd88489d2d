"""Ground truth must be reproducible: the same program compiles to the same bytes.

Labels come from the program's structure, never from a process-wide counter
(issue 12), so compiling the same program twice, in this process or in a fresh
one, gives byte-identical circuit JSON and saved model files.  The program has
what used to break this: unnamed nodes (counter-numbered labels), a name used
twice (Tracr's ``make_pair_balance`` called once per bracket pair names its
nodes ``bools_open`` each time), a Map named like a primitive, and an ``|``
across different Selects (the compiler builds new nodes for it).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import compiler
import rasp
from compiler.circuit import circuit_map
from models.io import save_model
from tests.tracr_port import ported_lib

VOCAB = {"(", ")", "{", "}"}
MAX_LEN = 4

# Runs in a fresh interpreter: build, compile, print the fingerprint.
_CHILD = """
import sys
sys.path.insert(0, {root!r})
from tests.test_reproducible import fingerprint
print(fingerprint({out!r}))
"""


def build_program() -> rasp.SOp:
    """A program with every labelling hazard (see the module docstring)."""
    dyck = ported_lib().make_shuffle_dyck(pairs=["()", "{}"])  # bools_open twice
    fake_indices = rasp.Map(lambda i: i + 1, rasp.indices).named("indices")
    either = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ) | rasp.Select(
        fake_indices, rasp.indices, rasp.Comparison.LT
    )
    width = rasp.SelectorWidth(either)  # unnamed
    return rasp.SequenceMap(lambda d, w: (d, w), dyck, width)  # unnamed output


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def fingerprint(out: str, program: rasp.SOp | None = None) -> str:
    """Compile (a fresh ``build_program()`` unless given), save under ``out``, and return
    the circuit JSON and a hash of every saved file, as one JSON string."""
    program = build_program() if program is None else program
    model = compiler.compile_rasp_to_model(program, VOCAB, MAX_LEN)
    path = save_model(model, Path(out))
    circuit = json.dumps(circuit_map(model).to_json(), sort_keys=True)
    return json.dumps({"circuit": circuit, "files": _digest(path)}, sort_keys=True)


def test_duplicate_names_compile_with_distinct_labels():
    compiled = compiler.compile_rasp(build_program(), VOCAB, MAX_LEN)
    labels = set(compiled.graph.order)
    assert {"bools_open", "bools_open_2", "bools_close", "bools_close_2"} <= labels
    assert {"indices", "indices_2"} <= labels  # the primitive keeps its label
    assert rasp.IndicesType is type(compiled.graph.expr("indices"))
    assert not any(
        label.split("_")[-1].isdigit() and int(label.split("_")[-1]) > 50 for label in labels
    )  # numbered within the program, not by a counter


def test_same_program_twice_in_one_process_is_byte_identical(tmp_path):
    program = build_program()
    first = fingerprint(str(tmp_path / "a"), program)
    again = fingerprint(str(tmp_path / "b"), program)  # the very same object
    rebuilt = fingerprint(str(tmp_path / "c"))  # built anew: other unique_ids
    assert first == again == rebuilt
    files = json.loads(first)["files"]
    assert set(files) >= {"params.npz", "model.json"}


def test_same_program_in_two_processes_is_byte_identical(tmp_path):
    root = str(Path(__file__).resolve().parents[1])
    outs = []
    for name in ("p1", "p2"):
        script = _CHILD.format(root=root, out=str(tmp_path / name))
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=root
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append(done.stdout.strip().splitlines()[-1])
    here = fingerprint(str(tmp_path / "here"))
    assert outs[0] == outs[1] == here
