"""Amazon Beauty 2014 5-core (22,363 users, 12,101 items) with product titles: the
interactions of one public repository joined to the titles of another through the ASINs."""
import csv
import json
import os

from utility.common.errors import InputError, located
from utility.common.text_files import utf8_lines
from utility.data.content.folder import (interaction_counts, leave_one_out, statistics,
                                         text_statistics, write_splits, write_table,
                                         write_text_features)
from utility.data.content.sources import GithubFile, fetched
from utility.data.features.text import clean_title

IDGENREC = ("agiresearch/IDGenRec", "a297185aa5b6cd6de9dcf8b8182052ee8e0b3261")
LLM_SEQREC = ("dh-r/LLM-Sequential-Recommendation", "6464b39064f369b251580c63edbf635de0934101")

BEAUTY_SOURCES = {
    "sequences": GithubFile(
        IDGENREC[0], IDGENREC[1], "rec_datasets/Beauty/user_sequence.txt",
        "47197cbee7bdc1896926e10d96b807dce0aecb9a1f0c2ccc887c21090237c9b7"),
    "item_ids": GithubFile(
        LLM_SEQREC[0], LLM_SEQREC[1], "beauty/item_id_to_int.json",
        "3d1a1d362c7daeddf616057fae8fa24af9d70902fdaf4631852231a9953afa50"),
    "titles": GithubFile(
        LLM_SEQREC[0], LLM_SEQREC[1], "beauty/products_lookup.csv",
        "65133eca0615999df67fc5b26a93a7da762e53e613a083fd6b9e37174896d128"),
}


def read_sequences(path):
    """``<user> <item> <item> ...`` lines -> ``(user names, item-name lists)`` in file order."""
    users, sequences, first_line = [], [], {}
    for line_no, line in utf8_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise located(path, line_no, "expected '<user> <item> <item> ...', got %r"
                          % line.strip()[:60])
        if fields[0] in first_line:
            raise located(path, line_no, "user %s already has a line (line %d)"
                          % (fields[0], first_line[fields[0]]))
        first_line[fields[0]] = line_no
        users.append(fields[0])
        sequences.append(fields[1:])
    if not users:
        raise InputError("%s: no interactions found" % path)
    return users, sequences


def read_item_index(path):
    """``{ASIN: item id}`` from a JSON object whose ids are exactly 0..n-1."""
    try:
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError("%s: not a valid JSON file (%s)" % (path, error))
    if not isinstance(index, dict) or not all(
            isinstance(value, int) and not isinstance(value, bool) for value in index.values()):
        raise InputError("%s: expected a JSON object of item name -> integer id" % path)
    ids = sorted(index.values())
    if ids != list(range(len(ids))):
        raise InputError("%s: the ids are not exactly 0..%d (duplicates or gaps)"
                         % (path, len(ids) - 1))
    return index


def read_product_names(path):
    """``{global_product_id: name}`` from a CSV with the columns ``,global_product_id,name``."""
    names, first_line = {}, {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None or header[1:] != ["global_product_id", "name"]:
                raise located(path, 1, "expected the header ',global_product_id,name', got %r"
                              % (",".join(header or []),))
            for row in reader:
                line_no = reader.line_num
                if not row:
                    continue
                if len(row) != 3 or not row[1].strip().isdigit():
                    raise located(path, line_no, "expected '<row>,<global_product_id>,<name>' "
                                                 "with an integer id, got %r" % (row,))
                product = int(row[1])
                if product in names:
                    raise located(path, line_no, "global_product_id %d already has a row "
                                                 "(line %d)" % (product, first_line[product]))
                names[product], first_line[product] = row[2], line_no
        except (csv.Error, UnicodeDecodeError) as error:
            raise located(path, reader.line_num, "not a readable CSV row (%s)" % error)
    return names


def beauty_titles(index, names, names_path):
    """Title of each item id: ASIN -> id (``index``) -> the row whose global_product_id is
    that id (not the CSV's row number), HTML entities unescaped, spaces collapsed."""
    titles = [""] * len(index)
    missing = sorted(item for item in index.values() if item not in names)
    if missing:
        raise InputError("%s: no row for global_product_id %s (of %d)"
                         % (names_path, ", ".join(map(str, missing[:5])), len(missing)))
    for item in index.values():
        titles[item] = clean_title(names[item])
    return titles


def build_beauty14(work, paths, text_encoder, log=print):
    """Write the beauty14 folder into ``work`` from verified source ``paths``."""
    users, sequences = read_sequences(paths["sequences"])
    index = read_item_index(paths["item_ids"])
    titles = beauty_titles(index, read_product_names(paths["titles"]), paths["titles"])
    item_sequences = []
    for position, sequence in enumerate(sequences):
        unknown = [name for name in sequence if name not in index]
        if unknown:
            raise InputError("%s: user %s has item %s, which %s does not list"
                             % (paths["sequences"], users[position], unknown[0],
                                os.path.basename(paths["item_ids"])))
        item_sequences.append([index[name] for name in sequence])
    n_items = len(index)
    train, validation, test = leave_one_out(item_sequences)
    write_splits(work, train, validation, test)
    asins = sorted(index, key=index.get)
    write_table(os.path.join(work, "items.tsv"), enumerate(titles))
    write_table(os.path.join(work, "item_map.tsv"), enumerate(asins))
    write_table(os.path.join(work, "user_map.tsv"), enumerate(users))

    text = write_text_features(work, text_encoder, titles, n_items, log)

    stats = statistics("beauty14", len(users), n_items, train, validation, test)
    stats["text"] = text_statistics(text, titles, interaction_counts(train, test, n_items))
    return stats


def fetch_beauty14(mirror, log):
    return {key: fetched(source, mirror, log) for key, source in BEAUTY_SOURCES.items()}
