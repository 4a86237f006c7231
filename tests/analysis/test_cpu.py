"""The analysis' CPU cost: one BLAS thread while analysing, frames block by block without a
padded copy of the signal, peaks without a copy of |y| (each the same numbers as before).
The cost itself is measured by bench/analysis_bench.py."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import audio
from analysis.framing import frame_blocks, frame_count


def _padded_frames(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """The frames as they were taken before: a zero-padded copy seen through sliding windows."""
    pad = n_fft // 2
    yp = np.pad(y, (pad, pad))
    if len(yp) < n_fft:
        yp = np.pad(yp, (0, n_fft - len(yp)))
    return np.lib.stride_tricks.sliding_window_view(yp, n_fft)[::hop]


@pytest.mark.parametrize("n", [0, 1, 300, 511, 512, 513, 1024, 2047, 2048, 2049, 9999])
@pytest.mark.parametrize("n_fft,hop", [(1024, 256), (2048, 1024)])
@pytest.mark.parametrize("block", [1, 3, 256])
def test_frame_blocks_are_the_padded_signal_s_frames(n, n_fft, hop, block):
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    expected = _padded_frames(y, n_fft, hop)
    blocks = list(frame_blocks(y, n_fft, hop, block))
    assert [i for i, _ in blocks] == list(range(0, len(expected), block))
    assert frame_count(n, n_fft, hop) == len(expected)
    assert np.array_equal(np.concatenate([f for _, f in blocks]), expected)


def test_inner_blocks_are_views_of_the_signal():
    y = np.zeros(100_000, np.float32)
    blocks = list(frame_blocks(y, 1024, 256, 64))
    assert not np.shares_memory(blocks[0][1], y)  # the first block is padded: a copy
    assert all(np.shares_memory(f, y) for _, f in blocks[1:-1])


@pytest.mark.parametrize("n", [1, 7, 1999, 2000, 2001, 66_151])
def test_peaks_are_the_blocks_maxima_of_abs(n):
    y = np.clip(np.random.default_rng(n).standard_normal(n), -1.2, 1.2).astype(np.float32)
    for points in (1, 5, 2000):
        block = -(-n // points)
        padded = np.zeros(-(-n // block) * block, np.float32)
        padded[:n] = np.abs(y)
        expected = np.round(np.clip(padded.reshape(-1, block).max(axis=1), 0, 1).astype(np.float64), 4)
        assert audio._peaks(y, points) == expected.tolist()


def _blas_threads() -> list[int]:
    import scipy.linalg  # noqa: F401  (scipy's BLAS beside numpy's, as in analyse)
    threadpoolctl = pytest.importorskip("threadpoolctl")

    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]


def _clicks(sr: int = 22050, seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (np.sin(2 * np.pi * 880 * t) * np.exp(-(t % 0.5) * 40)).astype(np.float32)


def test_analyse_runs_on_one_blas_thread_and_restores_the_setting(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    envelopes = audio.onset_envelopes

    def spy(y, sr):
        seen.append(_blas_threads())
        return envelopes(y, sr)

    monkeypatch.setattr(audio, "onset_envelopes", spy)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        audio.analyse(_clicks(), 22050)
        after = _blas_threads()
    assert before and all(n == 2 for n in before)
    assert seen and seen[0] == [audio._BLAS_THREADS] * len(before)
    assert after == before


def test_an_analysis_that_fails_restores_the_setting():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with pytest.raises(audio.AudioError):
            audio.analyse(np.zeros(22050, np.float32), 22050)  # silent
        assert _blas_threads() == before
