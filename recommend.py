"""Top-K recommendations of a trained run, ranked as the full evaluation protocol ranks.

    python recommend.py --run runs/demo --users 3,17
    python recommend.py --run runs/demo --users_file users.txt --k 10 --format json

Every item is scored for each user; the items the user trained on are excluded. The run's
best checkpoint is used unless --checkpoint names another. See docs/using-a-model.md.
"""
import argparse
import sys

from utility.common.errors import exit_on_input_error
# TensorFlow-free at import: --help and bad requests answer before TensorFlow starts.
from utility.serve.recommend import FORMATS, add_run_arguments, parse_user_ids, read_user_file, recommend


def build_parser():
    parser = argparse.ArgumentParser(
        description="Print the top-K items (and their scores) of a trained run for some users.")
    add_run_arguments(parser)
    users = parser.add_mutually_exclusive_group(required=True)
    users.add_argument("--users", help="user ids, comma separated, e.g. 3,17")
    users.add_argument("--users_file",
                       help="file of user ids (commas or white space between them, # comments)")
    parser.add_argument("--k", type=int, default=20, help="items per user (default 20)")
    parser.add_argument("--format", choices=("csv", "json"), default="csv",
                        help="csv: user,rank,item,score lines (default); json: one object")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    ids = read_user_file(args.users_file) if args.users_file else parse_user_ids(args.users)
    result = recommend(args.run, ids, args.k, args.checkpoint, args.data_path, args.tf_log)
    sys.stdout.write(FORMATS[args.format](result))


if __name__ == "__main__":
    exit_on_input_error(main)
