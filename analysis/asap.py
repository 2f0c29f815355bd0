"""ASAP active sampling in batch (``mst``) mode: which pairs to compare next.

Mikhailiuk, Wilmot, Perez-Ortiz, Yue & Mantiuk, "Active Sampling for Pairwise Comparisons
via Approximate Message Passing and Information Gain Maximization", ICPR 2020; official
code gfxdisp/asap (MIT), ``python/asap_cpu.py`` at commit 90082a3, which every number and
step here follows:

- scores are TrueSkill posteriors by expectation propagation (``TrueSkillSolver.solve``):
  prior N(0, 0.5), performance noise variance 1, 6 sweeps (4 for hypothetical outcomes);
- the expected information gain of a pair weights the KL divergence (``kl_divergence_approx``)
  after each hypothetical outcome by that outcome's probability Φ(Δμ / √(1 + σ²ᵢ + σ²ⱼ));
  the ``approx`` variant updates only the two conditions online (``solve_approx``, with
  √(2 + σ²ᵢ + σ²ⱼ));
- a batch is the minimum spanning tree of 1 / gain (N − 1 pairs that connect every
  condition); before N − 1 comparisons exist the gains are uniform random numbers.

As in the official code, each hypothetical solve starts from the current posterior and the
factor messages the previous hypothetical solve left behind, pairs in the order
(1, 0), (2, 0), (2, 1), … . ``psi`` uses log Φ for stability; values agree to rounding.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr

__all__ = ["PRIOR_VAR", "information_gain", "next_pairs", "spanning_pairs", "trueskill",
           "unroll"]

#: prior variance of every score (``TrueSkillSolver.pv`` and the initial ``Vs``)
PRIOR_VAR = 0.5
#: EP sweeps for the posterior and for each hypothetical outcome (``solve`` defaults / EIG)
SWEEPS, HYPOTHETICAL_SWEEPS = 6, 4


def _psi(x: np.ndarray) -> np.ndarray:
    """φ(x) / Φ(x)."""
    return np.exp(-0.5 * x * x - 0.5 * np.log(2 * np.pi) - log_ndtr(x))


def _lamb(x: np.ndarray) -> np.ndarray:
    p = _psi(x)
    return p * (p + x)


def unroll(wins: np.ndarray) -> np.ndarray:
    """Wins matrix (``wins[i, j]`` = times i was chosen over j) → rows (winner, loser)."""
    i, j = np.nonzero(wins)
    return np.repeat(np.stack([i, j], axis=1), wins[i, j].astype(int), axis=0)


def trueskill(games: np.ndarray, n: int, mean: np.ndarray | None = None,
              var: np.ndarray | None = None, messages: tuple | None = None,
              sweeps: int = SWEEPS) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Posterior means and variances of ``n`` scores from (winner, loser) rows.

    Starts from ``mean``/``var`` (the prior by default) and the factor ``messages`` (zero by
    default); returns the messages for a warm start, as the official solver keeps them.
    """
    prec: np.ndarray = 1.0 / (np.full(n, PRIOR_VAR) if var is None else var)
    mu = np.zeros(n) if mean is None else mean.copy()
    k = len(games)
    p_msg, m_msg = messages if messages is not None else (np.zeros((k, 2)), np.zeros((k, 2)))
    flat = games.ravel()
    for _ in range(sweeps):
        p_cav = prec[games] - p_msg
        m_cav = (prec[games] * mu[games] - p_msg * m_msg) / p_cav
        v_perf = 1.0 + np.sum(1.0 / p_cav, axis=1)
        m_perf = m_cav[:, 0] - m_cav[:, 1]
        t = m_perf / np.sqrt(v_perf)
        m_trunc = m_perf + np.sqrt(v_perf) * _psi(t)
        p_trunc = 1.0 / (v_perf * (1.0 - _lamb(t)))
        p_back = p_trunc - 1.0 / v_perf
        m_back = (m_trunc * p_trunc - m_perf / v_perf) / p_back
        p_msg = 1.0 / (1.0 + (1.0 / p_back)[:, None] + 1.0 / p_cav[:, ::-1])
        m_msg = np.stack([m_back, -m_back], axis=1) + m_cav[:, ::-1]
        prec = 1.0 / PRIOR_VAR + np.bincount(flat, p_msg.ravel(), minlength=n)
        mu = np.bincount(flat, (p_msg * m_msg).ravel(), minlength=n) / prec
    return mu, 1.0 / prec, (p_msg, m_msg)


def _kl(mean1, var1, mean2, var2) -> float:
    """The official ``kl_divergence_approx``: twice the Gaussian KL divergence, plus N."""
    return float(np.sum(np.log(var2)) - np.sum(np.log(var1)) + np.sum(var1 / var2)
                 + np.dot(1.0 / var2, (mean1 - mean2) ** 2))


def _online(mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One TrueSkill update of two scores after the first beat the second (``solve_approx``)."""
    c = np.sqrt(2.0 + var[0] + var[1])
    t = (mean[0] - mean[1]) / c
    f1, f2 = _psi(t), _lamb(t)
    new_mean = np.array([mean[0] + var[0] / c * f1, mean[1] - var[1] / c * f1])
    return new_mean, var * (1.0 - var * f2 / c ** 2)


def _win_prob(mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``p[i, j]`` = P(j beats i) = Φ((μⱼ − μᵢ) / √(1 + σ²ᵢ + σ²ⱼ)), zero diagonal."""
    p = ndtr((mean[None, :] - mean[:, None]) / np.sqrt(1.0 + var[:, None] + var[None, :]))
    np.fill_diagonal(p, 0.0)
    return p


def information_gain(wins: np.ndarray, approx: bool = False,
                     selective: np.random.Generator | None = None) -> np.ndarray:
    """Lower-triangular expected information gain of comparing i and j (i > j).

    ``selective`` (a random generator) skips pairs far apart on the scale, as the official
    ``selective_eig``; skipped pairs get −1.
    """
    n = len(wins)
    games = unroll(wins)
    mean, var, _ = trueskill(games, n)
    prob = _win_prob(mean, var)
    gate = np.ones((n, n))
    if selective is not None:
        gate = np.tril(np.minimum(prob, 1.0 - prob))
        top = gate.max(axis=1, keepdims=True)
        gate = np.divide(gate, top, out=np.zeros_like(gate), where=top != 0)
    gain = np.zeros((n, n))
    k = len(games)
    messages = (np.zeros((k + 1, 2)), np.zeros((k + 1, 2)))
    for i in range(1, n):
        for j in range(i):
            if selective is not None and gate[i, j] < selective.random():
                gain[i, j] = -1.0
                continue
            kls = []
            for w, l in ((i, j), (j, i)):
                if approx:
                    m2, v2 = _online(mean[[w, l]], var[[w, l]])
                    kls.append(_kl(m2, v2, mean[[w, l]], var[[w, l]]))
                else:
                    m2, v2, messages = trueskill(np.vstack([games, [w, l]]), n, mean, var,
                                                 messages, HYPOTHETICAL_SWEEPS)
                    kls.append(_kl(m2, v2, mean, var))
            gain[i, j] = prob[j, i] * kls[0] + prob[i, j] * kls[1]
    return gain


def spanning_pairs(gain: np.ndarray) -> list[tuple[int, int]]:
    """Minimum spanning tree (Kruskal) of 1 / gain over pairs with positive gain, edges in
    order of decreasing gain; a spanning forest when those pairs do not connect everything."""
    sym = gain + gain.T
    n = len(sym)
    edges = sorted((1.0 / sym[i, j], i, j) for i in range(n) for j in range(i + 1, n)
                   if sym[i, j] > 0)
    root = list(range(n))

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    tree = []
    for _, i, j in edges:
        ri, rj = find(i), find(j)
        if ri != rj:
            root[ri] = rj
            tree.append((i, j))
    return tree


def next_pairs(wins: np.ndarray, rng: np.random.Generator, allowed: np.ndarray | None = None,
               approx: bool = False, selective: bool = False) -> list[tuple[int, int]]:
    """The next batch: up to N − 1 pairs (i < j) to compare, most informative first.

    ``allowed`` (symmetric bool) limits the batch to the pairs the design has; a pair it
    excludes never enters the tree.
    """
    n = len(wins)
    if wins.sum() < n - 1:  # the official warm-up: random gains until N − 1 comparisons
        gain = np.tril(rng.random((n, n)), -1)
    else:
        gain = information_gain(wins, approx, rng if selective else None)
    if allowed is not None:
        gain = np.where(allowed, gain, 0.0)
    return [(min(i, j), max(i, j)) for i, j in spanning_pairs(gain)]
