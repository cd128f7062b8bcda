#!/usr/bin/env python3
"""The 2-process Python peer: gzip + json over every object, the same Cognito rules as trailsift.

Usage: python_peer.py FILELIST   (one .json.gz path per line)
Prints: auth=N deletions=M (distinct eventIDs), the counts trailsift must match.
"""
import gzip
import json
import sys
from multiprocessing import Pool

AUTH = {"InitiateAuth", "AdminInitiateAuth", "RespondToAuthChallenge", "AdminRespondToAuthChallenge",
        "Login_POST", "Token_POST", "SAML2Response_POST"}
DELETION = {"DeleteUser", "AdminDeleteUser"}


def scan(path):
    auth, deletions = set(), set()
    with gzip.open(path, "rb") as f:
        doc = json.load(f)
    for r in doc.get("Records", []):
        if r.get("eventSource") != "cognito-idp.amazonaws.com":
            continue
        name = r.get("eventName")
        if name in AUTH:
            auth.add(r.get("eventID"))
        elif name in DELETION:
            deletions.add(r.get("eventID"))
    return auth, deletions


def main():
    paths = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    auth, deletions = set(), set()
    with Pool(2) as pool:
        for a, d in pool.imap_unordered(scan, paths, chunksize=16):
            auth |= a
            deletions |= d
    print(f"auth={len(auth)} deletions={len(deletions)}")


if __name__ == "__main__":
    main()
