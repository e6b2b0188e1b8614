"""Matching MovieLens 100K titles to MovieLens 1M titles, whose ids name the posters:
tiers of rules from the exact title to a year one apart, each accepting a single candidate."""
import collections
import re
import unicodedata

from utility.common.errors import located

ARTICLES = ("the", "a", "an", "les", "le", "la", "l'", "il", "das", "der", "die", "el")
TRAILING_ARTICLE = re.compile(r"^(.*\S),\s*(%s)$" % "|".join(re.escape(a) for a in ARTICLES),
                              re.IGNORECASE)
# Tiers of the match, tried in this order on the movies still unmatched; each accepts a movie
# only when exactly one 1M movie qualifies (several: ambiguous, left unmatched).
MATCH_RULES = ("exact", "normalised", "alternative title", "title segment", "year +-1")


def article_first(title):
    """``Godfather, The`` -> ``The Godfather`` (``Double vie, La`` -> ``La Double vie``)."""
    match = TRAILING_ARTICLE.match(title.strip())
    if not match:
        return title.strip()
    article = match.group(2)
    return ("%s%s" if article.endswith("'") else "%s %s") % (article, match.group(1))


def normalised(title):
    """A comparison key: article first, accents and case dropped, ``&`` -> ``and``,
    apostrophes dropped, other punctuation -> spaces (``Alien³`` == ``Alien 3``)."""
    text = unicodedata.normalize("NFKD", article_first(title))
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    text = re.sub(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])", " ", text)  # Alien3 = Alien 3
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


AKA = re.compile(r"(?:^|,)\s*a\.k\.a\.\s*", re.IGNORECASE)


def title_parts(title):
    """``(main title, [alternative titles])`` of ``Main (Alt) (a.k.a. Alt2, a.k.a. Alt3)``."""
    alternatives = []
    while True:
        match = re.match(r"^(.*\S)\s*\(([^()]*)\)$", title.strip())
        if not match:
            break
        title = match.group(1)
        names = AKA.split(match.group(2)) if AKA.search(match.group(2)) else [match.group(2)]
        alternatives[:0] = [name.strip() for name in names if name.strip()]
    return title.strip(), alternatives


def read_ml1m_movies(path):
    """``{movie id: (title, year, genres)}`` from ``id::Title (Year)::Genres`` (ISO-8859-1)."""
    movies = {}
    with open(path, encoding="iso-8859-1") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("::")
            dated = re.match(r"^(.*\S)\s*\((\d{4})\)$", fields[1].strip()) \
                if len(fields) == 3 else None
            if not dated or not fields[0].isdigit():
                raise located(path, line_no, "expected 'movieId::Title (Year)::Genres', got %r"
                              % line.strip()[:60])
            movies[int(fields[0])] = (dated.group(1), dated.group(2), fields[2].split("|"))
    return movies


def _keys(title):
    main, alternatives = title_parts(title)
    return normalised(main), {normalised(name) for name in [main] + alternatives} - {""}


def _segments(title):
    """Normalised pieces of every name of a title split at ``:`` and `` - ``."""
    pieces = set()
    main, alternatives = title_parts(title)
    for name in [main] + alternatives:
        pieces.update(normalised(piece) for piece in re.split(r":|\s-\s", name))
    return pieces - {""}


def match_movies(movies, ml1m):
    """Match each ML-100K movie (``{item: (title, year, genres)}``) to an ML-1M movie.

    Returns ``(matches, unmatched)``: ``{item: (1M id, rule)}`` and ``{item: reason}``. The
    rules (``MATCH_RULES``), tried in order on the movies still open, each needing the same
    year unless said otherwise and accepting only a single candidate (several: the movie is
    ambiguous and stays unmatched, later rules are not tried):

    1. exact: the same title string;
    2. normalised: the same main title after :func:`normalised` (article moved back to the
       front, case, accents, punctuation);
    3. alternative title: a main or parenthesised alternative title in common
       (``Ma vie en rose (My Life in Pink)`` = ``My Life in Pink (Ma vie en rose)``);
    4. title segment: the 100K title is a ``:``/`` - `` piece of the 1M title
       (``Star Wars`` = ``Star Wars: Episode IV - A New Hope``);
    5. year +-1: the same normalised main title, the years one apart.
    """
    by_year = collections.defaultdict(list)
    for movie, (title, year, _) in ml1m.items():
        main, names = _keys(title)
        by_year[year].append((movie, title, main, names, _segments(title)))

    def candidates(rule, title, year):
        main, names = _keys(title)
        if rule == "year +-1":
            nearby = [str(int(year) + step) for step in (-1, 1)] if year else []
            return {entry[0] for near in nearby for entry in by_year.get(near, ())
                    if entry[2] == main}
        found = set()
        for movie, other, other_main, other_names, other_segments in by_year.get(year, ()):
            if ((rule == "exact" and other == title)
                    or (rule == "normalised" and other_main == main)
                    or (rule == "alternative title" and names & other_names)
                    or (rule == "title segment" and main in other_segments)):
                found.add(movie)
        return found

    matches, unmatched = {}, {}
    for rule in MATCH_RULES:
        for item in sorted(movies):
            if item in matches or item in unmatched:  # an ambiguity is final
                continue
            title, year, _ = movies[item]
            if not title or not year:
                unmatched[item] = "no title or year"
                continue
            found = candidates(rule, title, year)
            if len(found) == 1:
                matches[item] = (found.pop(), rule)
            elif found:
                unmatched[item] = "ambiguous (%s): 1M movies %s" % (
                    rule, ", ".join(map(str, sorted(found))))
    for item in movies:
        if item not in matches and item not in unmatched:
            unmatched[item] = "no MovieLens-1M title matches"
    return matches, unmatched
