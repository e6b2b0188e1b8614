"""Model selection: the best evaluation by one metric, and early stopping (``--patience``)."""


class Selection(object):
    """The best evaluated history record by ``metric`` and the evaluations since it.

    Improvement is strict, so on a tie the earlier epoch stays the best. With ``patience``
    > 0, ``exhausted`` turns true once that many evaluations in a row brought none.
    """

    def __init__(self, metric, patience=0):
        self.metric, self.patience = metric, patience
        self.best, self.since_best = None, 0

    def update(self, record):
        """Take an evaluated record into account; True when it is the new best."""
        if self.best is None or record[self.metric] > self.best[self.metric]:
            self.best, self.since_best = record, 0
            return True
        self.since_best += 1
        return False

    def replay(self, history):
        """Rebuild the state from a history (a resumed run's)."""
        for record in history:
            if self.metric in record:
                self.update(record)

    @property
    def exhausted(self):
        return self.patience > 0 and self.since_best >= self.patience
