"""BPRMF (Rendle et al., UAI 2009): matrix factorisation trained with BPR.

The score is s(u, i) = <e_u, e_i>, the inner product of the ID embeddings (U x d, I x d).
The loss of a batch is BPR on (user, positive, negative) triples (``mf_loss``) plus
``emb_loss`` = decay * (l2 of the batch's ID rows: users, positive and negative items) /
batch_size, the L2 term every model here shares.

The class is also the frame of the graph baselines (model/lightgcn.py, model/ngcf.py): they
keep its ID tables, loss and ranking and replace ``vectors``, how the ID tables become the
user and item vectors that are scored (and ``_build_weights`` for weights of their own).
Shape letters: model/__init__.py.
"""
import collections

from model.base import Recommender, config_record
from model.layers import batch_rows, bpr_of_vectors, id_embeddings, l2_penalty
from model.ranking import inner_product_ranking


class BPRMF(Recommender):
    """Inner product of ID embeddings, BPR loss, L2 on the batch's ID (ego) rows."""
    Config = config_record("BPRMFConfig", embed_size=64, lr=0.001, batch_size=2048, decay=1e-1)

    def _build(self):
        config, inputs = self.config, self.inputs
        self.user_embedding, self.item_embedding = id_embeddings(self.n_users, self.n_items,
                                                                 config.embed_size)
        self._build_weights()
        users, items = self.vectors(training=True)
        mf_loss = bpr_of_vectors(*batch_rows(users, items, inputs))
        # The layer-0 (ego) rows, whatever the model propagates them into.
        emb_loss = l2_penalty(batch_rows(self.user_embedding, self.item_embedding, inputs),
                              config.decay, config.batch_size)
        self.training = self._optimise(mf_loss + emb_loss, collections.OrderedDict(
            [("mf_loss", mf_loss), ("emb_loss", emb_loss)]), config.lr)
        self.ranking = inner_product_ranking(*self.vectors(training=False))

    def _build_weights(self):
        """Variables besides the ID tables: BPRMF has none."""

    def vectors(self, training):
        """User (U x D) and item (I x D) vectors whose inner products are the scores.

        ``training`` False: as evaluation sees them (no dropout, where a model has any).
        """
        return self.user_embedding, self.item_embedding
