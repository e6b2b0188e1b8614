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
    V·linear fusion      C · 2·c³                  the model multiplies V by linear once per step
    Q, K, V·linear       C · 2 paths · 3 · 2·B·c²  (4 products, Q K V linear, if not fused)
    Q_int, K_int         C · 2 · 2·B·c²            on the counterfactual (int) rows
    B x B products       C · (3 + 2) · 2·B²·c      positive path: hQ(hK)^T, the counterfactual
                                                   term (zcQ_int)(zcK_int)^T, softmax·(hVL);
                                                   negative path: the first and the last
    feed-forward         C · 2 paths · 2 · 2·B·c·4c
    output projections   2 paths · 2·B·c·d
"""


def joint_width(embed_size, feature_dims):
    return (1 + len(feature_dims)) * embed_size


def training_forward_flops(batch, embed_size, feature_dims, n_layers, n_mca, nnz,
                           fused_value_linear=True):
    """Forward FLOPs of one training step, by component (a dict; see the module docstring).

    ``feature_dims`` is the list (or dict values) of feature widths, one per modality.
    """
    dims = list(feature_dims.values()) if isinstance(feature_dims, dict) else list(feature_dims)
    B, d, C = batch, embed_size, n_mca
    c = joint_width(d, dims)
    row_products = 3 if fused_value_linear else 4
    return {
        "propagation": n_layers * 2 * nnz * d,
        "feature_projections": 3 * sum(2 * B * D * d for D in dims),
        "value_linear_fusion": C * 2 * c ** 3 if fused_value_linear else 0,
        "qkv_projections": C * 2 * row_products * 2 * B * c * c,
        "counterfactual_projections": C * 2 * 2 * B * c * c,
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

    Refresh (once): propagation, every item's feature projections, the first layer's
    Q, K, V·linear rows and every layer's Q_int, K_int rows. Scoring, per user with G
    candidates: per layer 3 G x G products (2·G²·c each) and the feed-forward block; the
    Q, K, V·linear products of layers after the first; the output projection.
    """
    dims = list(feature_dims.values()) if isinstance(feature_dims, dict) else list(feature_dims)
    d, C, G, I = embed_size, n_mca, candidates, n_items
    c = joint_width(d, dims)
    refresh = (n_layers * 2 * nnz * d + sum(2 * I * D * d for D in dims) + C * 2 * c ** 3
               + 3 * 2 * I * c * c + C * 2 * 2 * I * c * c)
    per_user = (C * (3 * 2 * G * G * c + 2 * 2 * G * c * 4 * c)
                + (C - 1) * 3 * 2 * G * c * c + 2 * G * c * d)
    return {"refresh": refresh, "scoring": n_users_scored * per_user, "per_user": per_user}


def matmul_flops(m, k, n):
    return 2 * m * k * n
