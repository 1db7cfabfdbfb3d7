"""LightGBM's single-row fast C API, for the API's one-lead requests.

Why: ``Booster.predict`` on a one-row matrix costs ~45 us, almost all of it Python-side argument checks,
parameter-string parsing and predictor set-up that are redone on every call; the tree walk itself takes a few
microseconds. LightGBM's ``LGBM_BoosterPredictForMatSingleRowFast`` does that set-up once
(``...FastInit``) and then predicts a row from a raw pointer. It runs the same trees with the same
predictor, so its raw margin is bit-for-bit the one ``Booster.predict(raw_score=True)`` returns (the bundle's
tests check this on many rows). The python package does not wrap this API, hence ctypes on its own library
handle.

The fast config is not thread-safe, so calls are serialised by a lock (they take microseconds). The handle is
freed when the predictor is garbage collected, and it is never pickled (bundles rebuild it lazily).
"""

from __future__ import annotations

import ctypes
import threading
import weakref

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _safe_call

_C_API_PREDICT_RAW_SCORE = 1
_C_API_DTYPE_FLOAT64 = 1


class SingleRowPredictor:
    """Raw margins of one row at a time through a prepared LightGBM fast config.

    Args:
        booster: the trained booster (kept alive as long as this predictor).
    """

    def __init__(self, booster: lgb.Booster) -> None:
        self.n_features = booster.num_feature()
        handle = ctypes.c_void_p()
        # Same iteration choice as Booster.predict(num_iteration=None): best_iteration (<= 0 means all trees).
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_C_API_PREDICT_RAW_SCORE),
                ctypes.c_int(0),
                ctypes.c_int(booster.best_iteration),
                ctypes.c_int(_C_API_DTYPE_FLOAT64),
                ctypes.c_int32(self.n_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(handle),
            )
        )
        self._handle = handle
        self._lock = threading.Lock()
        self._out = np.zeros(1, dtype=np.float64)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        self._out_len_ref = ctypes.byref(self._out_len)
        self._predict_one = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        # The booster goes into the finaliser's arguments so it outlives the handle that points into it.
        self._finalizer = weakref.finalize(self, _free, handle, booster)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw margin per row of a float64 matrix (n, n_features); rows are predicted one by one."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got shape {X.shape}")
        out = np.empty(len(X), dtype=np.float64)
        # Row addresses as plain integers: numpy's ``.ctypes`` accessors cost microseconds per call.
        address, stride = X.ctypes.data, X.strides[0]
        with self._lock:
            for i in range(len(X)):
                _safe_call(
                    self._predict_one(
                        self._handle, ctypes.c_void_p(address + i * stride), self._out_len_ref, self._out_ptr
                    )
                )
                out[i] = self._out[0]
        return out


def _free(handle: ctypes.c_void_p, _booster: lgb.Booster) -> None:
    _LIB.LGBM_FastConfigFree(handle)
