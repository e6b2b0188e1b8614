"""TensorBoard event files of a run, under ``<out_dir>/tensorboard/``.

Written with the ``compat.v1`` FileWriter and ``Summary`` protos, which TensorFlow 1.15 and
2.x share in graph mode (no TensorBoard package is needed to write them). The step of every
scalar is the epoch. Tags group what TensorBoard shows side by side:

    loss/loss, loss/mf_loss, loss/emb_loss        every epoch
    time/train_seconds, time/eval_seconds         every epoch / every evaluation
    test/hit@10, test/full_recall@20, ...         every evaluation (test split)
    valid/hit@10, ...                             every evaluation, with --valid

A fresh run removes the event files an earlier run left in the folder; a resumed run keeps
them and never writes a tag at an epoch the files already hold, nor the graph twice.
"""
import glob
import os

EVENT_FILE_PATTERN = "events.out.tfevents.*"


def tag_of(key):
    """TensorBoard tag of a history-record key, or None for keys that are not scalars."""
    if key == "epoch":
        return None
    if key == "loss" or key.endswith("_loss"):
        return "loss/" + key
    if key.endswith("_seconds"):
        return "time/" + key
    if key.startswith("valid_"):
        return "valid/" + key[len("valid_"):]
    if "@" in key:
        return "test/" + key
    return "other/" + key


def scalars_of(record):
    """{tag: value} of the numeric entries of a history record."""
    return {tag_of(key): float(value) for key, value in record.items()
            if tag_of(key) and isinstance(value, (int, float)) and not isinstance(value, bool)}


def read_events(directory):
    """Every event of the event files in ``directory``, oldest file first."""
    import tensorflow.compat.v1 as tf
    events = []
    for path in sorted(glob.glob(os.path.join(directory, EVENT_FILE_PATTERN))):
        events.extend(tf.train.summary_iterator(path))
    return events


def written_scalars(directory):
    """{tag: {step: value}} of the scalar summaries in ``directory``'s event files."""
    scalars = {}
    for event in read_events(directory):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars


def has_graph(directory):
    return any(event.HasField("graph_def") for event in read_events(directory))


class RunEvents(object):
    """The event writer of one run (see the module docstring for tags and resuming)."""

    def __init__(self, out_dir, resumed):
        self.directory = os.path.join(out_dir, "tensorboard")
        os.makedirs(self.directory, exist_ok=True)
        if resumed:
            self.written = {tag: set(steps) for tag, steps in
                            written_scalars(self.directory).items()}
            self.graph_written = has_graph(self.directory)
        else:
            for path in glob.glob(os.path.join(self.directory, EVENT_FILE_PATTERN)):
                os.remove(path)
            self.written, self.graph_written = {}, False
        self.writer = None

    def open(self, graph):
        """Start the event file and write ``graph`` (unless an earlier part of the run did)."""
        import tensorflow.compat.v1 as tf
        # Event file names hold the time in whole seconds, and TF 1.15 truncates a file of
        # the same name: a part number keeps a quickly resumed run from erasing the first.
        part = ".part%d" % (len(glob.glob(os.path.join(self.directory, EVENT_FILE_PATTERN)))
                            + 1)
        with graph.as_default():  # the v1 FileWriter refuses to be built in eager mode
            self.writer = tf.summary.FileWriter(self.directory, filename_suffix=part)
        if not self.graph_written:
            self.writer.add_graph(graph)
            self.graph_written = True
        self.writer.flush()

    def add(self, step, scalars):
        """Write ``scalars`` ({tag: value}) at ``step``, skipping tags already written there;
        flushed at once, so that a run that dies keeps every epoch it finished."""
        import tensorflow.compat.v1 as tf
        fresh = [(tag, value) for tag, value in sorted(scalars.items())
                 if step not in self.written.get(tag, ())]
        if not fresh:
            return
        summary = tf.Summary(value=[tf.Summary.Value(tag=tag, simple_value=value)
                                    for tag, value in fresh])
        self.writer.add_summary(summary, step)
        self.writer.flush()
        for tag, _ in fresh:
            self.written.setdefault(tag, set()).add(step)

    def add_record(self, record, step=None):
        """A history record's scalars at its epoch (or at ``step``)."""
        self.add(record.get("epoch", 0) if step is None else step, scalars_of(record))

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
