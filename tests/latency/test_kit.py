"""Profile kits end to end: kit written, its runner run in a venv holding only onnxruntime + numpy (no torch,
no hynas), timings imported into a predictor that names a target, and a search that predicts with it."""

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from hynas.cli import main
from hynas.errors import UserError

from .conftest import TINY_SPACE

SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))
RUNTIME = ("onnxruntime", "numpy", "numpy.libs", "flatbuffers", "packaging")  # onnxruntime's own requirements


def runtime_only_venv(where: Path) -> Path:
    """A fresh venv (no pip) whose site-packages links onnxruntime, numpy and their requirements only."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    site = next(where.glob("lib/python*/site-packages"))
    for name in RUNTIME:
        for src in [SITE / name, *SITE.glob(f"{name}-*.dist-info")]:
            if src.exists():
                (site / src.name).symlink_to(src)
    (site / "google").mkdir()
    (site / "google" / "protobuf").symlink_to(SITE / "google" / "protobuf")
    return where / "bin" / "python"


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A kit for the tiny space, run by its runner in the runtime-only venv."""
    root = tmp_path_factory.mktemp("kit")
    kit = root / "kit"
    main(["profile", "--kit", str(kit), "--target", "tinydev", "--space", TINY_SPACE, "--time-budget", "5s"])
    py = runtime_only_venv(root / "venv")
    probe = "import importlib.util as u; print([m for m in ('torch', 'hynas', 'onnxruntime', 'numpy') if u.find_spec(m)])"
    seen = subprocess.run([str(py), "-c", probe], cwd=kit, capture_output=True, text=True, check=True).stdout
    assert seen.strip() == "['onnxruntime', 'numpy']"  # torch and hynas are not importable there
    subprocess.run([str(py), "run_kit.py"], cwd=kit, check=True, capture_output=True, timeout=300)
    return kit


def test_kit_runner_timings_fit_a_predictor_a_search_uses(kit, tmp_path, monkeypatch, capsys):
    manifest = json.loads((kit / "manifest.json").read_text())
    t = json.loads((kit / "timings.json").read_text())
    assert manifest["space"]["sha256"] and len(manifest["archs"]) >= 12 and all(a["hash"] for a in manifest["archs"])
    assert set(t["entries"]) == {e["id"] for e in manifest["units"] + manifest["archs"]} and not t["failures"]
    out = tmp_path / "preds" / "tinydev.json"
    main(["profile", "--import", str(kit / "timings.json"), "--out", str(out)])
    assert "held-out archs" in capsys.readouterr().out
    pred = json.loads(out.read_text())
    assert pred["target"]["name"] == "tinydev" and pred["target"]["kit"]["manifest_sha256"] == t["kit_sha256"]

    monkeypatch.setenv("HYNAS_PREDICTORS", str(out.parent))
    run = tmp_path / "run"
    main(["search", "--target", "tinydev", "--space", TINY_SPACE, "--proxy", "naswot", "--budget", "2",
          "--run-dir", str(run)])
    assert "evaluated 2 candidates" in capsys.readouterr().out
    from hynas.latency.predict import latency_source

    with pytest.raises(UserError, match="predicts only and cannot be timed on this machine"):
        latency_source("tinydev", measure=True)


def _broken(kit: Path, tmp_path: Path, edit) -> Path:
    bad = tmp_path / "bad"
    shutil.copytree(kit, bad)
    edit(bad)
    return bad / "timings.json"


def _edit_timings(change):
    def edit(d: Path) -> None:
        t = json.loads((d / "timings.json").read_text())
        change(t)
        (d / "timings.json").write_text(json.dumps(t))
    return edit


def _first(t):
    return next(iter(t["entries"].values()))


@pytest.mark.parametrize("edit, message", [
    (lambda d: next((d / "models").glob("a-*.onnx")).unlink(), "missing 1 model file"),
    (lambda d: (d / "timings.json").write_text((d / "timings.json").read_text()[:500]), "truncated or corrupt"),
    (_edit_timings(lambda t: _first(t).update(median_ms=float("nan"))), "finite number of ms above 0"),
    (_edit_timings(lambda t: _first(t).update(p10_ms=-1.0)), "finite number of ms above 0"),
    (_edit_timings(lambda t: t["entries"].update({"a-0123456789abcdef": _first(t)})), "wrong arch hashes"),
    (_edit_timings(lambda t: t.update(kit_sha256="0" * 64)), "made by another kit"),
    (lambda d: (d / "manifest.json").write_text((d / "manifest.json").read_text().replace(
        json.loads((d / "manifest.json").read_text())["space"]["sha256"], "f" * 64)), "another version of space"),
    (lambda d: (d / "manifest.json").unlink(), "the kit manifest is missing"),
])
def test_bad_kit_input_is_refused_and_nothing_written(kit, tmp_path, capsys, edit, message):
    timings = _broken(kit, tmp_path, edit)
    out = tmp_path / "preds" / "dev.json"
    with pytest.raises(SystemExit) as e:
        main(["profile", "--import", str(timings), "--out", str(out)])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not out.parent.exists()


@pytest.mark.parametrize("args, message", [
    (["--kit", "KIT", "--target", "ort-cpu"], "registered target that hynas times itself"),
    (["--kit", "KIT", "--target", "dev@t2"], "must be a plain name"),
    (["--kit", "KIT", "--target", "dev", "--remote", "http://host"], "is not of the form ssh://"),
    (["--kit", "KIT", "--target", "dev", "--remote", "ssh://h", "--ssh-option", "bad opt"], "Key=Value"),
    (["--remote", "ssh://h", "--target", "dev"], "give --kit DIR"),
    (["--kit", "KIT", "--target", "dev", "--remote", "ssh://nobody@127.0.0.1:1"], "failed: "),
    (["--kit", "KIT", "--target", "dev", "--kit-runtime", "tensorrt"], "allowed: onnxruntime, litert"),
])
def test_bad_kit_flags(tmp_path, capsys, args, message):
    args = [str(tmp_path / "k") if a == "KIT" else a for a in args]
    with pytest.raises(SystemExit) as e:
        main(["profile", *args, "--space", TINY_SPACE, "--time-budget", "2s"])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_kit_dir_must_be_new(kit, capsys):
    with pytest.raises(SystemExit) as e:
        main(["profile", "--kit", str(kit), "--target", "dev", "--space", TINY_SPACE])
    assert e.value.code == 2 and "is not an empty directory" in capsys.readouterr().err


def _sshd(tmp: Path) -> tuple[subprocess.Popen, int, list[str]]:
    """An sshd on 127.0.0.1 with its own host key, config and one authorized client key."""
    import getpass
    import socket
    import time

    sshd = Path("/usr/sbin/sshd")
    if not sshd.exists() or not shutil.which("ssh-keygen") or getpass.getuser() != "root":
        pytest.skip("needs /usr/sbin/sshd (Debian: apt-get install -y openssh-server), ssh-keygen and root")
    for key in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / key)], check=True)
    (tmp / "authorized_keys").write_text((tmp / "client.pub").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nHostKey {tmp / 'host'}\nAuthorizedKeysFile {tmp / 'authorized_keys'}\n"
        f"PidFile {tmp / 'sshd.pid'}\nStrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nSubsystem sftp /usr/lib/openssh/sftp-server\n")  # scp speaks SFTP
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([str(sshd), "-D", "-e", "-f", str(tmp / "sshd_config"), "-p", str(port)],
                            stderr=subprocess.PIPE)
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    opts = [f"IdentityFile={tmp / 'client'}", "UserKnownHostsFile=/dev/null", "StrictHostKeyChecking=no",
            "LogLevel=ERROR"]
    return proc, port, opts


@pytest.mark.slow
def test_remote_kit_over_a_real_sshd(tmp_path, capsys):
    proc, port, opts = _sshd(tmp_path)
    try:
        py = runtime_only_venv(tmp_path / "venv")
        out = tmp_path / "preds" / "sshdev.json"
        ssh_opts = [x for o in opts for x in ("--ssh-option", o)]
        main(["profile", "--kit", str(tmp_path / "kit"), "--target", "sshdev", "--space", TINY_SPACE,
              "--time-budget", "5s", "--remote", f"ssh://root@127.0.0.1:{port}", "--remote-python", str(py),
              *ssh_opts, "--out", str(out)])
        assert f"wrote {out}" in capsys.readouterr().out
        assert json.loads(out.read_text())["target"]["name"] == "sshdev"
        assert (tmp_path / "kit" / "timings.json").is_file()
        with pytest.raises(SystemExit) as e:  # the runner fails there: its error comes back, exit 2
            main(["profile", "--kit", str(tmp_path / "kit2"), "--target", "sshdev", "--space", TINY_SPACE,
                  "--time-budget", "2s", "--remote", f"ssh://root@127.0.0.1:{port}", "--remote-python",
                  "/nonexistent/python", *ssh_opts])
        assert e.value.code == 2 and "running the kit failed" in capsys.readouterr().err
    finally:
        proc.terminate()
        proc.wait(timeout=10)


LITERT = ("ai_edge_litert", "numpy", "numpy.libs")  # the LiteRT runtime's own imports for the interpreter


def _litert_missing() -> str | None:
    import importlib.util

    for m in ("litert_torch", "ai_edge_litert"):
        if importlib.util.find_spec(m) is None:
            return f"{m} is not installed (pip install 'hynas[tflite]')"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_litert_missing() is not None, reason=str(_litert_missing()))
def test_litert_kit_runs_with_only_the_litert_runtime_and_fits_a_predictor(tmp_path, capsys, monkeypatch):
    kit = tmp_path / "kit"
    main(["profile", "--kit", str(kit), "--target", "tfdev", "--space", TINY_SPACE, "--time-budget", "5s",
          "--kit-runtime", "litert"])
    assert "needs ai-edge-litert" in capsys.readouterr().out
    manifest = json.loads((kit / "manifest.json").read_text())
    assert manifest["target"]["runtime"] == "litert" and len(manifest["archs"]) >= 4
    files = [e["file"] for e in [manifest["reference"], *manifest["units"], *manifest["archs"]]]
    assert all(f.endswith(".tflite") and (kit / f).stat().st_size > 0 for f in files)
    where = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    site = next(where.glob("lib/python*/site-packages"))
    for name in LITERT:
        for src in [SITE / name, *SITE.glob(f"{name.replace('_', '*')}-*.dist-info")]:
            if src.exists() and not (site / src.name).exists():
                (site / src.name).symlink_to(src)
    py = where / "bin" / "python"
    probe = "import importlib.util as u; print([m for m in ('torch', 'hynas', 'onnxruntime', 'ai_edge_litert') if u.find_spec(m)])"
    seen = subprocess.run([str(py), "-c", probe], cwd=kit, capture_output=True, text=True, check=True).stdout
    assert seen.strip() == "['ai_edge_litert']"  # no torch, no hynas, no onnxruntime there
    subprocess.run([str(py), "run_kit.py"], cwd=kit, check=True, capture_output=True, timeout=600)
    t = json.loads((kit / "timings.json").read_text())
    assert set(t["entries"]) == {e["id"] for e in manifest["units"] + manifest["archs"]} and not t["failures"]
    assert "ai-edge-litert" in t["runtime"]
    out = tmp_path / "preds" / "tfdev.json"
    main(["profile", "--import", str(kit / "timings.json"), "--out", str(out)])
    pred = json.loads(out.read_text())
    assert pred["target"]["name"] == "tfdev" and pred["target"]["runtime"] == "litert"
    monkeypatch.setenv("HYNAS_PREDICTORS", str(out.parent))
    main(["search", "--target", "tfdev", "--space", TINY_SPACE, "--proxy", "naswot", "--budget", "2",
          "--run-dir", str(tmp_path / "run")])
    assert "evaluated 2 candidates" in capsys.readouterr().out


@pytest.mark.skipif(_litert_missing() is None, reason="litert-torch is installed here: the refusal cannot happen")
def test_litert_kit_without_the_converter_is_refused_before_writing(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["profile", "--kit", str(tmp_path / "k"), "--target", "tfdev", "--space", TINY_SPACE,
              "--kit-runtime", "litert"])
    assert e.value.code == 2 and "pip install 'hynas[tflite]'" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()
