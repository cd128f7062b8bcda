#!/usr/bin/env python3
"""The DuckDB peer of `trailsift events`: read_json over every object with 2 threads.

Usage: events_duckdb.py FILELIST QUERY    (QUERY: cognito | regex | all)
Prints: events=N (distinct eventIDs of the records the query selects).
"""
import sys

import duckdb

WHERE = {
    "cognito": "r->>'eventSource' = 'cognito-idp.amazonaws.com'",
    "regex": "regexp_matches(r->>'eventName', '^(Delete|Put)')",
    "all": "true",
}


def main():
    paths = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    con = duckdb.connect()
    con.execute("SET threads = 2")
    query = f"""
        WITH recs AS (
            SELECT unnest(from_json(Records, '["JSON"]')) AS r
            FROM read_json(?, columns = {{'Records': 'JSON'}}, format = 'auto',
                           compression = 'gzip', maximum_object_size = 268435456)
        )
        SELECT count(DISTINCT r->>'eventID') FROM recs WHERE {WHERE[sys.argv[2]]}
    """
    (n,) = con.execute(query, [paths]).fetchone()
    print(f"events={n}")


if __name__ == "__main__":
    main()
