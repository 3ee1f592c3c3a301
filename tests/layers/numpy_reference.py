"""Attention written directly from the papers' equations, in NumPy float64.

These functions share no code with the library: they are the oracles its
layers are tested against.
"""

import numpy as np


def softmax(scores, mask):
    """Softmax over the last axis restricted to `mask`; all-masked rows -> 0."""
    weights = np.zeros_like(scores, dtype=np.float64)
    for index in np.ndindex(scores.shape[:-1]):
        row_mask = mask[index]
        if not row_mask.any():
            continue
        row = scores[index][row_mask]
        exp = np.exp(row - row.max())
        weights[index][row_mask] = exp / exp.sum()
    return weights


def bahdanau(query, keys, values, value_mask, W_q, W_k, v, b=None, g=None):
    """Bahdanau et al. 2014, appendix A.1.2: e_ij = v^T tanh(W q + U h + b)."""
    batch, tq, _ = query.shape
    tv = keys.shape[1]
    if g is not None:
        v = g * v / np.linalg.norm(v)
    scores = np.zeros((batch, tq, tv))
    for n in range(batch):
        for i in range(tq):
            for j in range(tv):
                hidden = W_q.T @ query[n, i] + W_k.T @ keys[n, j]
                if b is not None:
                    hidden = hidden + b
                scores[n, i, j] = v @ np.tanh(hidden)
    mask = np.broadcast_to(value_mask[:, None, :], scores.shape)
    weights = softmax(scores, mask)
    return np.einsum("bij,bjd->bid", weights, values), weights


def luong_scores(score, query, keys, W=None, W_k=None, v=None):
    """Luong et al. 2015, equation 8, for every (t, s)."""
    batch, tq, _ = query.shape
    tv = keys.shape[1]
    scores = np.zeros((batch, tq, tv))
    for n in range(batch):
        for t in range(tq):
            h_t = query[n, t]
            if score == "location":
                # a_t = softmax(W_a h_t); W is stored as [d, S_max].
                scores[n, t] = (W.T @ h_t)[:tv]
                continue
            for s in range(tv):
                h_s = keys[n, s]
                if score == "dot":
                    scores[n, t, s] = h_t @ h_s
                elif score == "general":
                    # W maps queries to the key space: q^T W k == (W^T q)^T k
                    # with the Dense kernel W^T of shape [d_q, d_k].
                    scores[n, t, s] = h_t @ W @ h_s
                elif score == "concat":
                    # v_a^T tanh(W_a [h_t; h_s]) with W_a = [W_q | W_k].
                    stacked = np.concatenate([W, W_k], axis=0)
                    hidden = stacked.T @ np.concatenate([h_t, h_s])
                    scores[n, t, s] = v @ np.tanh(hidden)
    return scores


def luong(
    score,
    query,
    keys,
    values,
    value_mask,
    alignment="global",
    window=None,
    position_weights=None,
    query_start_index=0,
    **score_weights,
):
    """Luong et al. 2015, section 3.1 and 3.2 (equations 8, 9 and 10)."""
    scores = luong_scores(score, query, keys, **score_weights)
    batch, tq, tv = scores.shape
    mask = np.broadcast_to(value_mask[:, None, :], scores.shape)
    if alignment == "global":
        weights = softmax(scores, mask)
    else:
        window_mask = np.zeros_like(mask)
        gaussian = np.ones_like(scores)
        for n in range(batch):
            length = value_mask[n].sum()
            for t in range(tq):
                if alignment == "local-m":
                    p_t = query_start_index + t + 1
                else:
                    W_p, v_p = position_weights
                    p_t = length / (
                        1 + np.exp(-(v_p @ np.tanh(W_p.T @ query[n, t])))
                    )
                for s in range(1, tv + 1):
                    window_mask[n, t, s - 1] = abs(s - p_t) <= window
                    sigma = window / 2
                    gaussian[n, t, s - 1] = np.exp(
                        -((s - p_t) ** 2) / (2 * sigma**2)
                    )
        weights = softmax(scores, mask & window_mask)
        if alignment == "local-p":
            weights = weights * gaussian
    return np.einsum("bij,bjd->bid", weights, values), weights


def multi_head(query, key, value, mask, weights, num_heads, kv_heads):
    """Vaswani et al. 2017, section 3.2.2, with grouped key/value heads.

    `mask` is boolean [batch, Tq, Tv].
    `weights` are Keras's EinsumDense layouts: query/key/value kernels
    [d, heads, head_dim] with biases [heads, head_dim], output kernel
    [heads, head_dim, d_out] with bias [d_out].
    """
    qk, qb, kk, kb, vk, vb, ok, ob = weights
    head_dim = qk.shape[-1]
    q = np.einsum("btd,dnh->btnh", query, qk) + qb
    k = np.einsum("bsd,dnh->bsnh", key, kk) + kb
    v = np.einsum("bsd,dnh->bsnh", value, vk) + vb
    group = num_heads // kv_heads
    k = np.repeat(k, group, axis=2)
    v = np.repeat(v, group, axis=2)
    scores = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(head_dim)
    attention = softmax(scores, np.broadcast_to(mask[:, None], scores.shape))
    heads = np.einsum("bnts,bsnh->btnh", attention, v)
    return np.einsum("btnh,nhe->bte", heads, ok) + ob, attention
