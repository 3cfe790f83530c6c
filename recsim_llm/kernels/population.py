"""The population step as one fused numba pass per served user (``simulator.kernel="numba"``).

:func:`serve` does, for every served user at once (a ``prange`` over chunks of users, each
user's arithmetic in one thread), what :meth:`recsim_llm.simulator.Simulator._apply` does with
numpy passes: the slate dot products with the interests, the dislike and the fatigue; the
soft-max pooling of the interests, taste, boredom and click utility; the MNL (or cascade)
choice from the pre-drawn uniforms; the realised satisfaction and dwell from the pre-drawn
normals; per-interest drift toward a consumed item (responsibility-weighted), the fatigue,
budget and counter updates and the session end. Every equation is the one of
:mod:`recsim_llm.users.dynamics` / :mod:`recsim_llm.users.choice` (``docs/user_model.md``),
in the same dtypes (float32 vectors and utilities, float64 satisfaction and budget).

Float32 sums (dot products, norms) are reassociated for SIMD (``fastmath`` reassoc/contract),
so they differ from numpy's by float32 rounding; the float64 bookkeeping (satisfaction,
dwell, budget) runs in strict helpers, so equal float32 inputs give bit-equal float64 outputs.
:func:`overnight` is the nightly interest update and :func:`first_bad_slate` the slate check.
No random numbers are drawn here.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

FAST = {"reassoc", "contract", "nsz"}
"""fastmath flags of the float32 vector loops: reassociation lets LLVM vectorise the sums; no
``nnan``/``ninf`` (NaN dwell and -inf padding weights must survive)"""
CHUNK = 256
"""served users per parallel task (per-task scratch arrays, not per user)"""
PARALLEL_MIN = 4096
"""fewer rows than this run in the calling thread (waking numba's workers costs more)"""

P_TEMPERATURE, P_NO_CLICK, P_LAM, P_BETA, P_TAU, P_W_VALUE, P_SAT_NOISE, P_DWELL_NOISE, \
    P_NO_CLICK_SAT, P_DRIFT, P_DECAY, P_SHOWN_W, P_COST, P_REFUND, P_DRIFT_BY_SAT = range(15)
N_FLOAT_PARAMS = 15


def params(cfg: object) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], bool]:
    """The step's constants from a ``ScenarioConfig``: (floats, ints, cascade)."""
    ch, dy = cfg.choice, cfg.dynamics  # type: ignore[attr-defined]
    f = np.array([ch.temperature, ch.no_click_utility, ch.lam_dislike, ch.beta_fatigue,
                  ch.pool_temperature, dy.w_value, dy.satisfaction_noise, dy.dwell_noise,
                  dy.no_click_satisfaction, dy.drift_rate, dy.fatigue_decay,
                  dy.shown_fatigue_weight, dy.request_cost, dy.refund,
                  1.0 if dy.drift_by == "satisfaction" else 0.0], np.float64)
    i = np.array([dy.patience, dy.max_session_len], np.int64)
    return f, i, ch.model == "cascade"


@nb.njit(cache=True, nogil=True)
def _satisfaction(y32: np.float32, clicked: bool, sat_noise: float, eps: float,
                  no_click: float) -> float:
    """``y = (a - b + w v) + noise * eps`` in float64 as numpy forms it (strict: no FMA)."""
    if not clicked:
        return no_click
    return np.float64(y32) + sat_noise * eps


@nb.njit(cache=True, nogil=True)
def _dwell(y: float, clicked: bool, dwell_noise: float, eps: float) -> float:
    if not clicked:
        return np.nan
    return y + dwell_noise * eps


@nb.njit(cache=True, nogil=True)
def _budget(budget: float, y: float, clicked: bool, cost: float, refund: float) -> float:
    gain = refund * max(y, 0.0) if clicked else 0.0
    return max(budget - cost + gain, 0.0)


@nb.njit(cache=True, nogil=True)
def _drift_weight(drift: float, y: float, resp: np.float32, by_sat: bool) -> np.float32:
    """``(eta * max(y, 0)) * r_k`` (``(eta * 1) * r_k`` unless ``by_sat``) in float64, cast to
    float32 (as ``drift_toward``)."""
    gain = max(y, 0.0) if by_sat else 1.0
    return np.float32((drift * gain) * np.float64(resp))


@nb.njit(cache=True, nogil=True, fastmath=FAST)
def _serve_rows(lo, hi, S, idx, item_emb, appeal, value, pen, interest, logw, dislike, fatigue,
                hook, budget, misses, requests, day_requests, day_clicks, day_sat_sum,
                in_session, u_choice, eps_sat, eps_dwell, prm, iprm, cascade, pos_out,
                item_out, y_out, dwell_out, ended_out, shown_out, v_out):  # pragma: no cover
    """Rows [lo, hi) of :func:`serve` in this thread."""
    m, k = S.shape
    n_int = interest.shape[1]
    d = item_emb.shape[1]
    T = np.float32(prm[P_TEMPERATURE])
    v_none = np.float32(prm[P_NO_CLICK])
    lam = np.float32(prm[P_LAM])
    beta = np.float32(prm[P_BETA])
    tau = np.float32(prm[P_TAU])
    inv_tau = np.float32(1.0 / prm[P_TAU])
    w_value = np.float32(prm[P_W_VALUE])
    decay = np.float32(prm[P_DECAY])
    keep = np.float32(1.0 - prm[P_DECAY])
    shown_w = np.float32(prm[P_SHOWN_W])
    consumed_w = np.float32(1.0 - prm[P_SHOWN_W])
    k32 = np.float32(k)
    patience, max_len = iprm[0], iprm[1]
    by_sat = prm[P_DRIFT_BY_SAT] != 0.0
    keep_v = v_out.shape[0] == m
    cp = np.empty((n_int, k), np.float32)
    a = np.empty(k, np.float32)
    b = np.empty(k, np.float32)
    v = np.empty(k, np.float32)
    z = np.empty(n_int, np.float32)
    wk = np.empty(n_int, np.float32)
    ez = np.empty(k, np.float32)
    x = np.empty(d, np.float32)
    for i in range(lo, hi):
        uu = idx[i]
        for t in range(d):
            x[t] = 0.0
        # --- slate products: interests, dislike, fatigue; slate sum
        for kk in range(n_int):
            wk[kk] = np.exp(logw[uu, kk])
        for j in range(k):
            it = S[i, j]
            sq = np.float32(0.0)
            sf = np.float32(0.0)
            if n_int == 2:  # the synthetic personas' two interests: one fused pass
                s0 = np.float32(0.0)
                s1 = np.float32(0.0)
                for t in range(d):
                    e = item_emb[it, t]
                    s0 += e * interest[uu, 0, t]
                    s1 += e * interest[uu, 1, t]
                    sq += e * dislike[uu, t]
                    sf += e * fatigue[uu, t]
                cp[0, j] = s0
                cp[1, j] = s1
            else:
                for kk in range(n_int):
                    s = np.float32(0.0)
                    for t in range(d):
                        s += item_emb[it, t] * interest[uu, kk, t]
                    cp[kk, j] = s
                for t in range(d):
                    sq += item_emb[it, t] * dislike[uu, t]
                    sf += item_emb[it, t] * fatigue[uu, t]
            for t in range(d):
                x[t] += item_emb[it, t]
            # --- taste (soft max of the interests), boredom, click utility
            if n_int == 1:
                taste = cp[0, j]
            else:
                best = 0
                for kk in range(1, n_int):
                    if cp[kk, j] > cp[best, j]:
                        best = kk
                cmax = cp[best, j]
                zs = wk[best]  # exp(0) * w_best: one exp fewer per slot
                for kk in range(n_int):
                    if kk != best:
                        zs += wk[kk] * np.exp((cp[kk, j] - cmax) * inv_tau)
                taste = cmax + tau * np.log(zs)
            a[j] = taste - lam * max(sq, np.float32(0.0))
            b[j] = beta * max(sf, np.float32(0.0))
            v[j] = T * (a[j] - b[j]) + hook[uu] * appeal[it] - pen[j]
            if keep_v:
                v_out[i, j] = v[j]
        for t in range(d):
            shown_out[i, t] = x[t] / k32
        # --- choice from the pre-drawn uniforms
        pos = -1
        if cascade:
            for j in range(k):
                pc = np.float32(1.0) / (np.float32(1.0) + np.exp(-(v[j] - v_none)))
                if u_choice[uu, j] < pc:
                    pos = j
                    break
        else:
            mx = v_none
            for j in range(k):
                mx = max(mx, v[j])
            tot = np.float32(0.0)
            for j in range(k):
                ez[j] = np.exp(v[j] - mx)
                tot += ez[j]
            tot += np.exp(v_none - mx)
            cdf = np.float32(0.0)
            for j in range(k):
                cdf += ez[j] / tot
                if cdf > u_choice[uu, 0]:
                    pos = j
                    break
        clicked = pos >= 0
        pj = pos if clicked else 0
        it = S[i, pj]
        y32 = a[pj] - b[pj] + w_value * value[it]
        y = _satisfaction(y32, clicked, prm[P_SAT_NOISE], eps_sat[uu], prm[P_NO_CLICK_SAT])
        pos_out[i] = pos
        item_out[i] = it if clicked else -1
        y_out[i] = y
        dwell_out[i] = _dwell(y, clicked, prm[P_DWELL_NOISE], eps_dwell[uu])
        # --- drift of the interests toward the consumed item (drift_by="satisfaction": only a
        # satisfying one)
        if clicked and (y > 0 or not by_sat):
            if n_int > 1:
                zmax = cp[0, pj] * inv_tau + logw[uu, 0]
                for kk in range(n_int):
                    z[kk] = cp[kk, pj] * inv_tau + logw[uu, kk]
                    zmax = max(zmax, z[kk])
                zs = np.float32(0.0)
                for kk in range(n_int):
                    z[kk] = np.exp(z[kk] - zmax)
                    zs += z[kk]
                for kk in range(n_int):
                    z[kk] = z[kk] / zs
            else:
                z[0] = np.float32(1.0)
            for kk in range(n_int):
                w = _drift_weight(prm[P_DRIFT], y, z[kk], by_sat)
                nrm = np.float32(0.0)
                for t in range(d):
                    p = interest[uu, kk, t]
                    x[t] = p + w * (item_emb[it, t] - p)
                    nrm += x[t] * x[t]
                nrm = np.sqrt(nrm)
                if nrm > 0:
                    for t in range(d):
                        interest[uu, kk, t] = x[t] / nrm
                else:
                    for t in range(d):
                        interest[uu, kk, t] = x[t]
        # --- fatigue, budget, counters, session end
        wc = consumed_w if clicked else np.float32(0.0)
        for t in range(d):
            target = shown_w * shown_out[i, t] + wc * item_emb[it, t]
            fatigue[uu, t] = decay * fatigue[uu, t] + keep * target
        budget[uu] = _budget(budget[uu], y, clicked, prm[P_COST], prm[P_REFUND])
        misses[uu] = 0 if clicked else misses[uu] + 1
        requests[uu] += 1
        day_requests[uu] += 1
        day_clicks[uu] += 1 if clicked else 0
        day_sat_sum[uu] += y
        ended = budget[uu] <= 0 or misses[uu] >= patience or requests[uu] >= max_len
        ended_out[i] = ended
        if ended:
            in_session[uu] = False


@nb.njit(parallel=True, cache=True, nogil=True)
def _serve_parallel(S, idx, item_emb, appeal, value, pen, interest, logw, dislike, fatigue,
                    hook, budget, misses, requests, day_requests, day_clicks, day_sat_sum,
                    in_session, u_choice, eps_sat, eps_dwell, prm, iprm, cascade, pos_out,
                    item_out, y_out, dwell_out, ended_out, shown_out,
                    v_out):  # pragma: no cover
    m = S.shape[0]
    for c in nb.prange((m + CHUNK - 1) // CHUNK):
        _serve_rows(c * CHUNK, min(m, (c + 1) * CHUNK), S, idx, item_emb, appeal, value, pen,
                    interest, logw, dislike, fatigue, hook, budget, misses, requests,
                    day_requests, day_clicks, day_sat_sum, in_session, u_choice, eps_sat,
                    eps_dwell, prm, iprm, cascade, pos_out, item_out, y_out, dwell_out,
                    ended_out, shown_out, v_out)


def serve(S, idx, item_emb, appeal, value, pen, interest, logw, dislike, fatigue, hook,
          budget, misses, requests, day_requests, day_clicks, day_sat_sum, in_session,
          u_choice, eps_sat, eps_dwell, prm, iprm, cascade,
          pos_out, item_out, y_out, dwell_out, ended_out, shown_out, v_out) -> None:
    """One request for the users ``idx`` [m] shown slates ``S`` [m, k]; state updated in place.

    Args:
        item_emb [n_items, d], appeal/value [n_items] float32; pen [k] float32 position
        penalty; interest [n, K, d], logw [n, K], dislike/fatigue [n, d], hook [n] (already
        times ``w_appeal``) float32; budget, day_sat_sum [n] float64; misses, requests,
        day_requests, day_clicks [n] int64; in_session [n] bool; u_choice [n, 1] (MNL) or
        [n, k] (cascade), eps_sat, eps_dwell [n] float64: the draws over all users of this
        request; prm/iprm: :func:`params`.
    Writes:
        pos_out [m] (-1 = no click), item_out [m] (-1), y_out, dwell_out [m] float64,
        ended_out [m] bool, shown_out [m, d] float32 (mean slate embedding); v_out [m, k]
        float32, the click utilities, when it has m rows (pass [0, k] to skip them).
    """
    args = (S, idx, item_emb, appeal, value, pen, interest, logw, dislike, fatigue, hook,
            budget, misses, requests, day_requests, day_clicks, day_sat_sum, in_session,
            u_choice, eps_sat, eps_dwell, prm, iprm, cascade, pos_out, item_out, y_out,
            dwell_out, ended_out, shown_out, v_out)
    if len(idx) >= PARALLEL_MIN:
        _serve_parallel(*args)
    else:  # waking the worker threads costs more than a few hundred users
        _serve_rows(0, len(idx), *args)


def overnight(interest, interest0, noise, alive, anchor_rate, drift_noise) -> None:
    """``p_k <- normalize(p_k + kappa (p0_k - p_k) + sigma noise_k)`` in place for alive users
    (``dynamics.overnight_interest``); interest/interest0/noise [n, K, d] float32."""
    if len(interest) >= PARALLEL_MIN:
        _overnight_parallel(interest, interest0, noise, alive, anchor_rate, drift_noise)
    else:
        _overnight_rows(0, len(interest), interest, interest0, noise, alive, anchor_rate,
                        drift_noise)


@nb.njit(parallel=True, cache=True, nogil=True)
def _overnight_parallel(interest, interest0, noise, alive, anchor_rate,
                        drift_noise):  # pragma: no cover
    n = interest.shape[0]
    for c in nb.prange((n + CHUNK - 1) // CHUNK):
        _overnight_rows(c * CHUNK, min(n, (c + 1) * CHUNK), interest, interest0, noise, alive,
                        anchor_rate, drift_noise)


@nb.njit(cache=True, nogil=True, fastmath=FAST)
def _overnight_rows(lo, hi, interest, interest0, noise, alive, anchor_rate,
                    drift_noise):  # pragma: no cover
    _, n_int, d = interest.shape
    kappa = np.float32(anchor_rate)
    sigma = np.float32(drift_noise)
    x = np.empty(d, np.float32)
    for u in range(lo, hi):
        if not alive[u]:
            continue
        for kk in range(n_int):
            nrm = np.float32(0.0)
            for t in range(d):
                p = interest[u, kk, t]
                x[t] = p + kappa * (interest0[u, kk, t] - p) + sigma * noise[u, kk, t]
                nrm += x[t] * x[t]
            nrm = np.sqrt(nrm)
            if nrm > 0:
                for t in range(d):
                    interest[u, kk, t] = x[t] / nrm
            else:
                for t in range(d):
                    interest[u, kk, t] = x[t]


@nb.njit(cache=True, nogil=True)
def first_bad_slate(S, n_available):  # pragma: no cover
    """Index of the first row of ``S`` [m, k] with an id outside [0, n_available) or a repeated
    id, -1 if all rows are valid (the numpy validator then words the error)."""
    m, k = S.shape
    for i in range(m):
        for j in range(k):
            s = S[i, j]
            if s < 0 or s >= n_available:
                return i
            for jj in range(j):
                if S[i, jj] == s:
                    return i
    return -1


__all__ = ["first_bad_slate", "overnight", "params", "serve"]
