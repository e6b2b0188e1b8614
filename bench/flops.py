"""Analytic floating-point operation counts of the MCLN graph, from the shapes alone.

Conventions
-----------
* A dense (m x k) by (k x n) product costs 2·m·k·n FLOPs (one multiply and one add per
  multiply-accumulate); a sparse (N x N, nnz non-zeros) by dense (N x d) product 2·nnz·d.
* Only products are counted. Element-wise work (softmax, LayerNorm, ReLU, biases, the loss,
  gathers, Adam) is memory-bound and small in FLOPs; it is left out, so the achieved GFLOP/s
  derived from these counts is a lower bound on the rate the hardware actually sustains.
* Training = 3 x forward: each product in the forward pass has two products of the same size
  in the backward pass (the gradient with respect to each operand). This is the usual
  convention; it slightly over-counts products whose one operand needs no gradient (the
  fixed adjacency, the fixed feature matrices), which together are ~1 % of a Beauty step.

Symbols: B rows per attention group (the batch), c = (1 + M)·d the joint width, d the
embedding size, D_m the width of modality m's features, K graph layers, C counterfactual
(``n_mca``) layers, nnz the non-zeros of the normalised adjacency (2·distinct edges + nodes).

Forward pass of one training step (model/MCLN.py):

    propagation          K · 2·nnz·d
    feature projections  3 · Σ_m 2·B·D_m·d        gather-then-project for pos, neg and int rows
    c x c forms          C · 3 · 2·c³              F = QK^T, G = Q_int K_int^T, V·linear, once
                                                   per step (the logits are bilinear forms)
    row projections      C · 2 paths · 2 · 2·B·c²  h F and h V·linear (the release: Q, K, V,
                                                   linear, 4 products)
    counterfactual rows  C · 2·B·c²                zc G on the counterfactual (int) rows (the
                                                   release: Q_int, K_int, 2 products)
    B x B products       C · (3 + 2) · 2·B²·c      positive path: (hF)h^T and (zcG)zc^T as one
                                                   product over 2c columns, softmax·(hVL);
                                                   negative path: the first and the last
    feed-forward         C · 2 paths · 2 · 2·B·c·4c
    output projections   2 paths · 2·B·c·d
"""


def joint_width(embed_size, feature_dims):
    return (1 + len(feature_dims)) * embed_size


def _widths(feature_dims):
    return list(feature_dims.values()) if isinstance(feature_dims, dict) else list(feature_dims)


def training_forward_flops(batch, embed_size, feature_dims, n_layers, n_mca, nnz):
    """Forward FLOPs of one training step, by component (a dict; see the module docstring).

    ``feature_dims`` is the list (or dict values) of feature widths, one per modality.
    """
    dims = _widths(feature_dims)
    B, d, C = batch, embed_size, n_mca
    c = joint_width(d, dims)
    return {
        "propagation": n_layers * 2 * nnz * d,
        "feature_projections": 3 * sum(2 * B * D * d for D in dims),
        "weight_forms": C * 3 * 2 * c ** 3,
        "row_projections": C * 2 * 2 * 2 * B * c * c,
        "counterfactual_projections": C * 2 * B * c * c,
        "attention_products": C * (3 + 2) * 2 * B * B * c,
        "feed_forward": C * 2 * 2 * 2 * B * c * 4 * c,
        "output_projections": 2 * 2 * B * c * d,
    }


def training_step_flops(*args, **kwargs):
    """Forward + backward FLOPs of one training step: 3 x the forward count."""
    return 3 * sum(training_forward_flops(*args, **kwargs).values())


def evaluation_flops(n_users_scored, candidates, n_items, embed_size, feature_dims, n_layers,
                     n_mca, nnz):
    """Forward FLOPs of one evaluation: the per-item cache refresh plus the scoring.

    Refresh (once): propagation, every item's feature projections, the c x c forms, and for
    every item the first layer's queries z (F + G) and values z V·linear and each later
    layer's counterfactual queries z G. Scoring, per user with G candidates: the first
    layer's 2 G x G products (2·G²·c each) and each later layer's 3 plus its row products
    h F and h V·linear; every layer's feed-forward block; the output projection.
    """
    dims = _widths(feature_dims)
    d, C, G, I = embed_size, n_mca, candidates, n_items
    c = joint_width(d, dims)
    refresh = (n_layers * 2 * nnz * d + sum(2 * I * D * d for D in dims) + C * 3 * 2 * c ** 3
               + (2 + C - 1) * 2 * I * c * c)
    per_user = (C * 2 * 2 * G * c * 4 * c + 2 * 2 * G * G * c
                + (C - 1) * (3 * 2 * G * G * c + 2 * 2 * G * c * c) + 2 * G * c * d)
    return {"refresh": refresh, "scoring": n_users_scored * per_user, "per_user": per_user}


def matmul_flops(m, k, n):
    return 2 * m * k * n
