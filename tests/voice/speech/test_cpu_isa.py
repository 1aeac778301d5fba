"""The recogniser's instruction-set cap: one width of int8 kernels on every x86 CPU, so
replicas on different machines run the same kernels."""

import os
import platform

import pytest
from pydantic import ValidationError

from src.config import Settings
from src.voice.speech.engine import cap_cpu_isa
from src.voice.speech.service import SpeechService

VARIABLE = "ONEDNN_MAX_CPU_ISA"

pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN's cap is x86 only"
)


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The variable unset now and restored after the test."""
    monkeypatch.setenv(VARIABLE, "placeholder")  # recorded, so undone afterwards
    monkeypatch.delenv(VARIABLE)
    return monkeypatch


def test_the_cap_is_set_before_the_model_loads(unset: pytest.MonkeyPatch) -> None:
    service = SpeechService(Settings(ASR_CPU_ISA="AVX512_CORE", ASR_PRELOAD=False))
    service.load()
    service.threads.shutdown()
    assert service.ready
    assert os.environ[VARIABLE] == "AVX512_CORE"


def test_a_cap_the_operator_set_in_the_environment_wins(unset: pytest.MonkeyPatch) -> None:
    unset.setenv(VARIABLE, "ALL")
    cap_cpu_isa("AVX2")
    assert os.environ[VARIABLE] == "ALL"


def test_an_empty_setting_leaves_each_cpu_its_fastest(unset: pytest.MonkeyPatch) -> None:
    cap_cpu_isa("")
    assert VARIABLE not in os.environ


def test_an_unknown_instruction_set_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="ASR_CPU_ISA"):
        Settings(ASR_CPU_ISA="AVX3")  # type: ignore[arg-type]
