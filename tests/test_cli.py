"""The raspc command line: every command in-process, --help in a subprocess, and clear
errors (exit 2, one message, no traceback) for user mistakes."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

from models import cli
from models.verification import NodeFailure, Report


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "reverse"
    assert cli.main(["compile", "reverse", "--max-seq-len", "4", "-o", str(out)]) == 0
    return out


def test_help_runs_as_a_program():
    done = subprocess.run(
        [sys.executable, "-m", "models.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    for command in ("compile", "run", "inspect", "plot", "verify"):
        assert command in done.stdout


def test_compile_prints_the_shape_and_saves(saved, capsys):
    assert (saved / "model.json").is_file() and (saved / "circuit.json").is_file()
    assert json.loads((saved / "circuit.json").read_text())["output"] == "reverse"
    assert cli.main(["list"]) == 0
    assert "sort_unique" in capsys.readouterr().out


def test_run_and_trace(saved, capsys):
    assert cli.main(["run", str(saved), "a", "b", "c"]) == 0
    assert "output: c b a" in capsys.readouterr().out
    assert cli.main(["run", str(saved), "a", "c", "--trace"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.split()[:3] == ["L0", "mlp", "length"] for line in lines)
    assert any(line.split()[:5] == ["L2", "attn", "reverse", "c", "a"] for line in lines)


def test_inspect(saved, capsys):
    assert cli.main(["inspect", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "L2H0" in out and "reverse" in out and "3 layers" in out
    assert cli.main(["inspect", str(saved), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "raspc-circuit"
    assert {n["label"] for n in data["nodes"]} >= {"tokens", "indices", "length", "reverse"}


@pytest.mark.parametrize(
    "args",
    [
        ["attention", "--tokens", "c", "a"],
        ["weights", "--layer", "2", "--matrix", "ov"],
    ],
)
def test_plot(saved, tmp_path, args, capsys):
    out = tmp_path / f"{args[0]}.png"
    assert cli.main(["plot", str(saved), args[0], "-o", str(out), *args[1:]]) == 0
    assert out.stat().st_size > 0
    assert f"wrote {out}" in capsys.readouterr().out


def test_verify_library_and_file_programs(tmp_path, capsys):
    assert cli.main(["verify", "sort_unique", "--max-seq-len", "3", "--vocab", "1,2,3"]) == 0
    assert "0 failing" in capsys.readouterr().out
    source = tmp_path / "prog.py"
    source.write_text(
        "import rasp\n"
        "def make(max_seq_len):\n"
        "    return rasp.Map(lambda x: x + max_seq_len, rasp.tokens).named('shifted')\n"
    )
    spec = f"{source}:make"
    assert cli.main(["verify", spec, "--vocab", "1,2", "--max-seq-len", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    out = tmp_path / "m"
    assert cli.main(["compile", spec, "--vocab", "1,2", "--max-seq-len", "2", "-o", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["run", str(out), "2", "1"]) == 0  # ints parsed for an int vocabulary
    assert "output: 4 3" in capsys.readouterr().out


def test_verify_failure_exits_1(monkeypatch, capsys):
    import models.verification

    def failing(model, inputs, **options):
        bad = NodeFailure("reverse", list(inputs[0]), ["a"], ["b"])
        return Report(len(inputs), 0, tuple(model.layout.nodes), (bad,))

    monkeypatch.setattr(models.verification, "verify", failing)
    assert cli.main(["verify", "reverse", "--max-seq-len", "2"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "node 'reverse'" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compile", "nosuch", "-o", "x"], "unknown program 'nosuch'"),
        (["compile", "missing.py:f", "--vocab", "1", "-o", "x"], "does not exist"),
        (["run", "no_such_dir", "a"], "not a saved raspc model"),
        (["verify", "reverse", "--max-seq-len", "0"], "must be positive"),
    ],
)
def test_user_errors_exit_2_with_one_message(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("raspc: error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_tokens_and_programs(saved, tmp_path, capsys):
    assert cli.main(["run", str(saved), "a", "z"]) == 2
    assert "token 'z' is not in the model's vocabulary" in capsys.readouterr().err
    assert cli.main(["plot", str(saved), "residual", "-o", str(tmp_path / "r.png")]) == 2
    assert "--tokens" in capsys.readouterr().err
    source = tmp_path / "bad.py"
    source.write_text(
        "import rasp\n"
        "def sel():\n"
        "    return rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ)\n"
    )
    assert cli.main(["verify", f"{source}:sel", "--vocab", "a"]) == 2
    assert "expected a rasp.SOp" in capsys.readouterr().err
    assert cli.main(["verify", f"{source}:nope", "--vocab", "a"]) == 2
    assert "has no function 'nope'" in capsys.readouterr().err
    assert cli.main(["plot", str(saved), "bogus", "-o", "x.png"]) == 2  # argparse's errors
    err = capsys.readouterr().err
    assert err.startswith("raspc: error: plot: argument kind: invalid choice: 'bogus'")
    assert len(err.splitlines()) == 1


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"raspc {importlib.metadata.version('raspc')}"


@pytest.mark.parametrize(
    ("text", "vocab"),
    [
        ("0.5,1.5", (0.5, 1.5)),  # was ("0.5", "1.5")
        ("1,2,x", (1, 2, "x")),  # was ("1", "2", "x")
        ("1, 2,3", (1, 2, 3)),
        ("a,b", ("a", "b")),
        ("-1,+2,1e3,.5", (-1, 2, 1000.0, 0.5)),
        ("nan,inf", ("nan", "inf")),  # never non-finite numbers
        ('[0.5, 1.5, "x"]', (0.5, 1.5, "x")),
        ('["1", 1]', ("1", 1)),  # JSON is the way to a string "1"
        ("[true, 2]", (True, 2)),
    ],
)
def test_parse_vocab_keeps_each_token_type(text, vocab):
    got = cli.parse_vocab(text)
    assert got == vocab and [type(t) for t in got] == [type(t) for t in vocab]


def test_float_vocab_was_parsed_as_strings_and_verified_nothing(tmp_path, capsys):
    # --vocab 0.5,1.5 became strings; a numeric program then had 0 inputs in its domain.
    source = tmp_path / "halve.py"
    source.write_text(
        "import rasp\n"
        "def make():\n"
        "    return rasp.numerical(rasp.Map(lambda x: x / 2, rasp.tokens)).named('half')\n"
    )
    assert cli.main(["verify", f"{source}:make", "--vocab", "0.5,1.5", "--max-seq-len", "2"]) == 0
    out = capsys.readouterr().out
    assert "exhaustive: all 6 inputs; 6 inputs checked (0 outside the domain)" in out


def test_mixed_vocab_1_2_x_turned_every_token_into_a_string(tmp_path, capsys):
    source = tmp_path / "kind.py"
    source.write_text(
        "import rasp\n"
        "def make():\n"
        "    return rasp.Map(lambda x: type(x).__name__, rasp.tokens).named('kind')\n"
    )
    out = tmp_path / "kind_model"
    spec = f"{source}:make"
    argv = ["compile", spec, "--vocab", "1,2,x", "--max-seq-len", "3", "-o", str(out)]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main(["run", str(out), "1", "x", "2"]) == 0
    assert "output: int str int" in capsys.readouterr().out


def test_vocab_from_a_file(tmp_path):
    listed = tmp_path / "vocab.json"
    listed.write_text('[0.25, "y"]')
    assert cli.parse_vocab(f"@{listed}") == (0.25, "y")
    assert cli.parse_vocab(str(listed)) == (0.25, "y")
    lines = tmp_path / "tokens"
    lines.write_text("1\n2\nx\n")
    assert cli.parse_vocab(f"@{lines}") == (1, 2, "x")


def test_tokens_that_print_alike_take_the_json_form():
    vocab = (1, "1", 2.5)
    assert cli.parse_tokens(["1", '"1"', "2.5"], vocab) == [1, "1", 2.5]
    assert [type(t) for t in cli.parse_tokens(["1", '"1"'], vocab)] == [int, str]


def test_verify_needed_tqdm(monkeypatch, capsys):
    # `raspc verify` without the compress extra died importing tqdm.
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    with pytest.raises(ImportError):
        import tqdm  # noqa: F401
    assert cli.main(["verify", "length", "--max-seq-len", "2"]) == 0
    assert ": OK" in capsys.readouterr().out


def test_verify_that_checks_nothing_exits_1(tmp_path, capsys):
    source = tmp_path / "boom.py"
    source.write_text(
        "import rasp\n"
        "def make():\n"
        "    return rasp.Map(lambda x: 1 / 0, rasp.tokens).named('boom')\n"
    )
    argv = ["verify", f"{source}:make", "--vocab", "a,b", "--max-seq-len", "3", "--partial"]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert "NOTHING CHECKED" in captured.out
    assert "14 x boom: the function raised ZeroDivisionError" in captured.out
    assert captured.err.startswith("raspc: warning: partial=True")  # one line per warning
    assert cli.main([*argv, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["vacuous"] and not data["passed"] and data["outside"][0]["count"] == 14
