"""Export a trained run as a SavedModel for TensorFlow Serving.

    python export.py --run runs/demo --export_dir exported/mcln      # writes exported/mcln/1

The serving model answers user ids (and k) with the top-k item ids and scores, exactly as
recommend.py does; its graph holds the user and item vectors computed once from the run's
best checkpoint. See docs/using-a-model.md for serving it.
"""
import argparse

from utility.common.errors import exit_on_input_error
from utility.serve.recommend import add_run_arguments


def build_parser():
    parser = argparse.ArgumentParser(
        description="Export a trained run as a SavedModel (signature serving_default: user_ids "
                    "and k in, item_ids and scores out).")
    add_run_arguments(parser)
    parser.add_argument("--export_dir", required=True,
                        help="model base directory; the model goes into a numbered version "
                             "sub-directory, as TensorFlow Serving expects")
    parser.add_argument("--version", type=int, default=None,
                        help="version number (default: one more than the highest there, or 1)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    # Imported once the flags are known to be good: --help answers before TensorFlow starts.
    from utility.serve.export import export
    path, checkpoint = export(args.run, args.export_dir, args.checkpoint, args.data_path,
                              args.version, args.tf_log)
    print("exported %s as SavedModel %s (signature serving_default)" % (checkpoint, path))


if __name__ == "__main__":
    exit_on_input_error(main)
