"""The recogniser's instruction-set cap: one width of int8 kernels on every x86 CPU, so
replicas on different machines run the same kernels."""

import os
import platform
import subprocess
import sys

import pytest
from pydantic import ValidationError

from src.config import Settings
from src.voice.speech.engine import cap_cpu_isa
from src.voice.speech.service import SpeechService
from tests.processes import PROJECT_ROOT

VARIABLE = "ONEDNN_MAX_CPU_ISA"
BACKEND = "CT2_USE_MKL"  # CTranslate2 takes Intel MKL on Intel CPUs unless told not to

pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN's cap is x86 only"
)


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The variables unset now and restored after the test."""
    for name in (VARIABLE, BACKEND):
        monkeypatch.setenv(name, "placeholder")  # recorded, so undone afterwards
        monkeypatch.delenv(name)
    return monkeypatch


def test_the_cap_is_set_before_the_model_loads(unset: pytest.MonkeyPatch) -> None:
    service = SpeechService(Settings(ASR_CPU_ISA="AVX512_CORE", ASR_PRELOAD=False))
    service.load()
    service.threads.shutdown()
    assert service.ready
    assert os.environ[VARIABLE] == "AVX512_CORE"
    assert os.environ[BACKEND] == "0"  # oneDNN, which the cap governs, on Intel CPUs too


def test_int8_products_run_on_the_capped_library_on_every_x86_cpu() -> None:
    # A fresh process, as a worker starts: CTranslate2 says which library it chose.
    env = {k: v for k, v in os.environ.items() if k not in (VARIABLE, BACKEND)}
    load = (
        "from src.config import Settings; from src.voice.speech.service import SpeechService; "
        "s = SpeechService(Settings(ASR_PRELOAD=False)); s.load(); s.threads.shutdown()"
    )
    done = subprocess.run(
        [sys.executable, "-c", load], env={**env, "CT2_VERBOSE": "1"}, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "GEMM_S8 backend: DNNL" in done.stderr, done.stderr[-2000:]


def test_a_cap_the_operator_set_in_the_environment_wins(unset: pytest.MonkeyPatch) -> None:
    unset.setenv(VARIABLE, "ALL")
    unset.setenv(BACKEND, "1")
    cap_cpu_isa("AVX2")
    assert os.environ[VARIABLE] == "ALL" and os.environ[BACKEND] == "1"


def test_an_empty_setting_leaves_each_cpu_its_fastest(unset: pytest.MonkeyPatch) -> None:
    cap_cpu_isa("")
    assert VARIABLE not in os.environ and BACKEND not in os.environ


def test_an_unknown_instruction_set_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="ASR_CPU_ISA"):
        Settings(ASR_CPU_ISA="AVX3")  # type: ignore[arg-type]
