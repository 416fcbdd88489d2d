"""Every user error of the command line is one line ``raspc: error: ...`` on stderr and
exit status 2: each corrupted model folder, each bad argument, a closed pipe."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models import cli
from tests.model_files import CORRUPTIONS


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli_errors") / "reverse"
    argv = ["compile", "reverse", "--vocab", "a,b", "--max-seq-len", "3", "-o", str(out)]
    assert cli.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> Path:
    """A folder of program files that go wrong in different ways."""
    folder = tmp_path_factory.mktemp("programs")
    (folder / "ok.py").write_text(
        "import rasp\ndef make():\n    return rasp.Map(lambda x: x, rasp.tokens).named('same')\n"
    )
    (folder / "syntax.py").write_text("def make(:\n")
    (folder / "raises.py").write_text("raise RuntimeError('no import for you')\n")
    (folder / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (folder / "builder_raises.py").write_text("def make():\n    return 1 / 0\n")
    (folder / "not_sop.py").write_text("def make():\n    return lambda x: x\n")
    (folder / "refused.py").write_text(
        "import rasp\ndef make():\n    return rasp.Map(lambda x: 1 / 0, rasp.tokens)\n"
    )
    (folder / "nested.json").write_text("[[1, 2]]")
    return folder


def _one_error_line(capsys, status: int) -> str:
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("raspc: error: ") and err.endswith("\n"), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("case", CORRUPTIONS, ids=[c.name for c in CORRUPTIONS])
@pytest.mark.parametrize("command", ["run", "inspect"])
def test_corrupted_model_folder_is_one_line_and_status_2(case, command, saved, tmp_path, capsys):
    # They gave 17-67-line tracebacks (BadZipFile, JSONDecodeError, a Haiku shape error,
    # "ModelConfig got an unexpected keyword '__class__'") with exit status 1.
    folder = Path(shutil.copytree(saved, tmp_path / "m"))
    case.apply(folder)
    argv = ["run", str(folder), "a", "b"] if command == "run" else ["inspect", str(folder)]
    err = _one_error_line(capsys, cli.main(argv))
    assert case.match in err


BAD_ARGUMENTS = [
    ([], "the following arguments are required: COMMAND"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["list", "--bogus"], "unrecognized arguments: --bogus"),
    (["compile", "reverse"], "the following arguments are required: -o/--output"),
    (["verify", "reverse", "--max-seq-len", "x"], "invalid int value: 'x'"),
    (["verify", "reverse", "--max-seq-len", "0"], "must be positive"),
    (["verify", "reverse", "--samples", "0"], "--samples must be positive"),
    (["verify", "reverse", "--vocab", ""], "is empty"),
    (["verify", "reverse", "--vocab", " , "], "is empty"),
    (["verify", "reverse", "--vocab", "[1,"], "not a valid JSON list"),
    (["verify", "reverse", "--vocab", "[]"], "is empty"),
    (["verify", "reverse", "--vocab", "[null]"], "None is the value 'no value'"),
    (["verify", "reverse", "--vocab", "[[1]]"], "tokens must be strings or numbers"),
    (["verify", "reverse", "--vocab", '{"a": 1}'], "expected a JSON list"),
    (["verify", "reverse", "--vocab", "[NaN]"], "not a finite number"),
    (["verify", "reverse", "--vocab", "1,1e400"], "overflows to inf"),
    (["verify", "reverse", "--vocab", "[1, 1.0]"], "lists the token 1.0 and 1"),
    (["verify", "reverse", "--vocab", "a,b,a"], "lists the token 'a' twice"),
    (["verify", "reverse", "--vocab", "@no_such_vocab.json"], "cannot read the vocabulary"),
    (["verify", "{programs}/nested.json:make", "--vocab", "a"], "unknown program"),
    (["verify", "reverse", "--vocab", "@{programs}/nested.json"], "tokens must be strings"),
    (["compile", "nosuch", "-o", "x"], "unknown program 'nosuch'"),
    (["compile", "missing.py:f", "--vocab", "1", "-o", "x"], "does not exist"),
    (["verify", "{programs}/ok.py:make"], "--vocab is needed"),
    (["verify", "{programs}/ok.py:nope", "--vocab", "a"], "has no function 'nope'"),
    (["verify", "{programs}/syntax.py:make", "--vocab", "a"], "SyntaxError"),
    (["verify", "{programs}/raises.py:make", "--vocab", "a"], "no import for you"),
    (["verify", "{programs}/exits.py:make", "--vocab", "a"], "SystemExit"),
    (["verify", "{programs}/builder_raises.py:make", "--vocab", "a"], "ZeroDivisionError"),
    (["verify", "{programs}/not_sop.py:make", "--vocab", "a"], "expected a rasp.SOp"),
    (["verify", "{programs}/refused.py:make", "--vocab", "a"], "cannot compile the program"),
    (["run", "no_such_dir", "a"], "not a saved raspc model"),
    (["run", "{saved}", "z"], "token 'z' is not in the model's vocabulary"),
    (["run", "{saved}", "a", "a", "a", "a"], "4 tokens, but the model takes at most 3"),
    (["plot", "{saved}", "bogus", "-o", "x.png"], "invalid choice: 'bogus'"),
    (["plot", "{saved}", "residual", "-o", "{tmp}/r.png"], "--tokens"),
    (["compile", "reverse", "-o", "{saved}/model.json/inside"], "model.json"),
]


@pytest.mark.parametrize(
    ("argv", "message"), BAD_ARGUMENTS, ids=[" ".join(argv)[:60] for argv, _ in BAD_ARGUMENTS]
)
def test_bad_argument_is_one_line_and_status_2(argv, message, saved, programs, tmp_path, capsys):
    places = {"{saved}": saved, "{programs}": programs, "{tmp}": tmp_path}
    filled = [_fill(a, places) for a in argv]
    err = _one_error_line(capsys, cli.main(filled))
    assert message in err


def _fill(arg: str, places: dict) -> str:
    for key, value in places.items():
        arg = arg.replace(key, str(value))
    return arg


def test_compile_refusal_with_many_lines_is_one_line(programs, capsys):
    argv = ["compile", f"{programs}/refused.py:make", "--vocab", "a,b", "-o", "x"]
    err = _one_error_line(capsys, cli.main(argv))
    assert "ZeroDivisionError" in err and "partial=True" in err


def _raspc(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "models.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        **options,
    )


def test_truncated_model_in_a_real_process_is_one_line(saved, tmp_path):
    folder = Path(shutil.copytree(saved, tmp_path / "m"))
    data = (folder / "params.npz").read_bytes()
    (folder / "params.npz").write_bytes(data[: len(data) // 3])
    done = _raspc("run", str(folder), "a")
    assert done.returncode == 2
    assert done.stderr.startswith("raspc: error: ") and len(done.stderr.splitlines()) == 1
    assert "params.npz" in done.stderr and done.stdout == ""


def test_broken_pipe_printed_a_traceback(saved):
    # `raspc inspect --json | head -1` printed a BrokenPipeError traceback.
    shell = f"{sys.executable} -m models.cli inspect {saved} --json | true; echo $PIPESTATUS"
    done = subprocess.run(
        ["bash", "-c", shell.replace("$PIPESTATUS", "${PIPESTATUS[0]}")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() == "2", done.stderr
    assert done.stderr == (
        "raspc: error: output closed early (broken pipe); the command's output was cut off\n"
    )
