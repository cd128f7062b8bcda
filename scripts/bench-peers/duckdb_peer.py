#!/usr/bin/env python3
"""The DuckDB peer: read_json over every object with 2 threads, the same Cognito rules.

Usage: duckdb_peer.py FILELIST
Prints: auth=N deletions=M (distinct eventIDs).
"""
import sys

import duckdb

AUTH = ["InitiateAuth", "AdminInitiateAuth", "RespondToAuthChallenge", "AdminRespondToAuthChallenge",
        "Login_POST", "Token_POST", "SAML2Response_POST"]
DELETION = ["DeleteUser", "AdminDeleteUser"]


def main():
    paths = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("CREATE TEMP TABLE files AS SELECT unnest(?::VARCHAR[]) AS f", [paths])
    names = ", ".join(f"'{n}'" for n in AUTH + DELETION)
    dels = ", ".join(f"'{n}'" for n in DELETION)
    query = f"""
        WITH recs AS (
            SELECT unnest(from_json(Records, '["JSON"]')) AS r
            FROM read_json(?, columns = {{'Records': 'JSON'}}, format = 'auto',
                           compression = 'gzip', maximum_object_size = 268435456)
        ), cognito AS (
            SELECT r->>'eventName' AS name, r->>'eventID' AS id FROM recs
            WHERE r->>'eventSource' = 'cognito-idp.amazonaws.com' AND r->>'eventName' IN ({names})
        )
        SELECT count(DISTINCT id) FILTER (WHERE name NOT IN ({dels})),
               count(DISTINCT id) FILTER (WHERE name IN ({dels}))
        FROM cognito
    """
    auth, deletions = con.execute(query, [paths]).fetchone()
    print(f"auth={auth} deletions={deletions}")


if __name__ == "__main__":
    main()
