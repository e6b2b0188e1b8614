"""Restoring model variables by name from a TensorFlow checkpoint (e.g. the release's)."""
import tensorflow.compat.v1 as tf

from utility.errors import InputError


def variable_name(variable):
    return variable.op.name


def restore_variables(session, variables, checkpoint_path):
    """Restore ``variables`` from ``checkpoint_path`` by name; extra entries are ignored.

    Every requested variable must be present with the same shape: otherwise an InputError
    names it, before anything is assigned.
    """
    try:
        reader = tf.train.load_checkpoint(checkpoint_path)
    except (tf.errors.OpError, ValueError) as error:
        raise InputError("%s: cannot read checkpoint (%s)"
                         % (checkpoint_path, str(error).splitlines()[0]))
    stored = reader.get_variable_to_shape_map()
    for variable in variables:
        name = variable_name(variable)
        if name not in stored:
            raise InputError("%s: variable %s is missing" % (checkpoint_path, name))
        if list(stored[name]) != variable.shape.as_list():
            raise InputError("%s: variable %s has shape %s, the model needs %s"
                             % (checkpoint_path, name, stored[name], variable.shape.as_list()))
    with session.graph.as_default():
        saver = tf.train.Saver({variable_name(v): v for v in variables})
    saver.restore(session, checkpoint_path)
