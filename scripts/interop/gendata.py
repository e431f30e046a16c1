"""Seeded datasets and results written by pyarrow, for the join and apply oracle tests.

Written independently of xcomply's own generator (`xcomply_sink::synth`) on purpose: a different
writer, different row-group sizes and hand-rolled snowflakes, so that the oracle tests check the
join against DuckDB on files xcomply did not write itself.
"""

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

X_EPOCH_MS = 1_288_834_974_657
START_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
DAY_MS = 86_400_000
# Post events (action, reason) in the live vocabulary (September 2026 on) and in the legacy one
# (results downloaded before the cutover: every action `delete`, a geo scrub as a reason).
POST_EVENTS = {
    "live": [("delete", "deleted"), ("delete", "deleted"), ("delete", "protected"), ("delete", "suspended"),
             ("rehydrate", "tweet_edited"), ("rehydrate", "tweet_edited"),
             ("scrub_geo", "geo_scrubbed"), ("scrub_geo", "geo_scrubbed")],
    "legacy": [("delete", "deleted"), ("delete", "deleted"), ("delete", "deleted"), ("delete", "scrub_geo"),
               ("delete", "scrub_geo"), ("delete", "protected"), ("delete", "suspended"), ("delete", "bounced")],
}
USER_REASONS = ["deleted", "suspended", "protected", "deactivated"]
GEO_COLUMNS = ["geo_lat", "geo_lon", "place_id"]


def snowflake(ms: int, low: int) -> int:
    return ((ms - X_EPOCH_MS) << 22) | (low & 0x3FFFFF)


def author_id(idx: int) -> int:
    # Even slots: old sequential accounts; odd slots: snowflake accounts.
    return 12 + idx * 7919 if idx % 2 == 0 else snowflake(1_325_376_000_000 + idx * 60_000, idx)


def make_dataset(root: Path, seed: int = 7, files: int = 4, rows: int = 4000, row_group: int = 700,
                 authors: int = 300, id_type: str = "int64", repeated_rows: int = 150) -> dict:
    """Writes `files` hive-partitioned files and returns the IDs it used (for flagging)."""
    rng = random.Random(seed)
    total = files * rows
    repeated_start = (files // 2) * rows + rows // 3
    repeated_id = None
    post_ids = []
    for f in range(files):
        ids, auth, lat, lon, place, text = [], [], [], [], [], []
        for r in range(rows):
            g = f * rows + r
            ms = START_MS + g * 7 * DAY_MS // total
            pid = snowflake(ms, (rng.getrandbits(10) << 12) | (g & 0xFFF))
            if repeated_start <= g < repeated_start + repeated_rows:
                if repeated_id is None:
                    repeated_id = pid
                pid = repeated_id
            ids.append(None if rng.random() < 0.005 else pid)
            u = rng.random()
            auth.append(None if rng.random() < 0.005 else author_id(int(authors * u ** 3)))
            if rng.random() < 0.3:
                lat.append(rng.uniform(-60, 70))
                lon.append(rng.uniform(-180, 180))
                place.append(f"{rng.getrandbits(64):016x}")
            else:
                lat.append(None)
                lon.append(None)
                place.append(None)
            text.append(" ".join(rng.choice(["data", "news", "open", "paper", "city"]) for _ in range(rng.randint(2, 8))))
        post_ids.extend(i for i in ids if i is not None)
        if id_type == "int64":
            id_arr, au_arr = pa.array(ids, pa.int64()), pa.array(auth, pa.int64())
        elif id_type == "uint64":
            id_arr, au_arr = pa.array(ids, pa.uint64()), pa.array(auth, pa.uint64())
        else:
            id_arr = pa.array([None if i is None else str(i) for i in ids], pa.string())
            au_arr = pa.array([None if a is None else str(a) for a in auth], pa.string())
        table = pa.table({
            "id": id_arr,
            "author_id": au_arr,
            "text": pa.array(text, pa.string()),
            "geo_lat": pa.array(lat, pa.float64()),
            "geo_lon": pa.array(lon, pa.float64()),
            "place_id": pa.array(place, pa.string()),
        })
        day = (START_MS + f * rows * 7 * DAY_MS // total) // DAY_MS
        date = f"2020-01-{day - START_MS // DAY_MS + 1:02d}"
        path = root / f"date={date}" / f"part-{f}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, row_group_size=row_group)
    return {"post_ids": sorted(set(post_ids)), "repeated_id": repeated_id, "authors": authors}


def write_results(results: Path, ids: dict, seed: int = 11, post_rate: float = 0.04, user_rate: float = 0.03,
                  vocabulary: str = "live") -> None:
    """Results files in the results contract: posts (`tweets-00001.parquet`) and users.

    One post in six gets a second event (as results of two jobs over the same IDs would hold), so
    that the oracles check the fold of duplicate events too; the repeated post ID is edited
    (`rehydrate`) in the live vocabulary, so that one rehydrate ID matches many rows.
    """
    rng = random.Random(seed)
    results.mkdir(parents=True, exist_ok=True)
    events = POST_EVENTS[vocabulary]
    posts = []
    for i in ids["post_ids"]:
        if rng.random() < post_rate:
            posts.append((i, *rng.choice(events)))
            if rng.random() < 1 / 6:
                posts.append((i, *rng.choice(events)))
    posts.append((ids["repeated_id"], "rehydrate", "tweet_edited") if vocabulary == "live"
                 else (ids["repeated_id"], "delete", "deleted"))
    posts.sort()
    users = {author_id(i): rng.choice(USER_REASONS) for i in range(ids["authors"]) if rng.random() < user_rate}
    # The most prolific author is flagged too, so some rows carry both a post and a user reason.
    users[author_id(0)] = "suspended"
    users = [(k, "delete", users[k]) for k in sorted(users)]
    dictionary = pa.dictionary(pa.int32(), pa.string())
    ts = pa.timestamp("ms", tz="UTC")
    schema = pa.schema([
        pa.field("id", pa.int64(), nullable=False),
        pa.field("action", dictionary, nullable=False),
        pa.field("reason", dictionary, nullable=False),
        pa.field("created_at", ts, nullable=False),
        pa.field("redacted_at", ts),
        pa.field("job_id", pa.int64()),
        pa.field("job_type", dictionary, nullable=False),
    ])
    for kind, flagged in (("tweets", posts), ("users", users)):
        keys = [e[0] for e in flagged]
        n = len(keys)
        table = pa.table({
            "id": pa.array(keys, pa.int64()),
            "action": pa.array([e[1] for e in flagged]).dictionary_encode(),
            "reason": pa.array([e[2] for e in flagged]).dictionary_encode(),
            "created_at": pa.array([1_600_000_000_000 + k % 1000 for k in keys], ts),
            "redacted_at": pa.array([None if k % 5 == 0 else 1_640_995_200_000 + k % 86_400_000 for k in keys], ts),
            "job_id": pa.array([None] * n, pa.int64()),
            "job_type": pa.array([kind] * n).dictionary_encode(),
        }, schema=schema)
        pq.write_table(table, results / f"{kind}-00001.parquet", compression="zstd")
