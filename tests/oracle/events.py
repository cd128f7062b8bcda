#!/usr/bin/env python3
"""An independent computation of `trailsift events` over test fixtures (standard library only).

Usage: events.py FILTER PATH...   prints the sorted eventIDs of the matching events, one a line

FILTER is one of: all, source=VALUE, name-regex=REGEX, errors.
It shares no code with trailsift: its own walk, gunzip, JSON parsing and unwrapping of the
formats the fixtures use. Files that Python cannot parse are skipped (trailsift reports them).
"""

import gzip
import json
import os
import re
import sys

LOG_EXTENSIONS = (".json", ".gz", ".jsonl", ".ndjson", ".log")


def files(path):
    if os.path.isfile(path):
        yield path
        return
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in ("CloudTrail-Digest", "CloudTrail-Insight"))
        for name in sorted(names):
            if not name.startswith(".") and name.lower().endswith(LOG_EXTENSIONS):
                yield os.path.join(root, name)


def documents(data):
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except Exception:
            return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return []
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    decoder, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        try:
            doc, i = decoder.raw_decode(text, i)
        except ValueError:
            return docs
        docs.append(doc)
    return docs


def items(doc):
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        return []
    for key in ("Records", "Events", "events", "logEvents"):
        if isinstance(doc.get(key), list):
            return doc[key]
    if "digestStartTime" in doc:
        return []
    return [doc]


def unwrap(item):
    if isinstance(item, str):
        item = json.loads(item)
    elif isinstance(item, dict) and isinstance(item.get("CloudTrailEvent"), str):
        item = json.loads(item["CloudTrailEvent"])
    elif isinstance(item, dict) and "timestamp" in item and isinstance(item.get("message"), str):
        item = json.loads(item["message"])
    if isinstance(item, dict) and "detail-type" in item:
        item = item.get("detail")
    return item if isinstance(item, dict) else None


def failed(rec):
    code = rec.get("errorCode")
    if isinstance(code, str) and code:
        return True
    status = ((rec.get("additionalEventData") or {}).get("responseParameters") or {}).get("status")
    try:
        return status is not None and float(status) >= 400
    except (TypeError, ValueError):
        return False


def main():
    what, paths = sys.argv[1], sys.argv[2:]
    if what == "all":
        keep = lambda r: True
    elif what.startswith("source="):
        keep = lambda r, v=what[7:]: r.get("eventSource") == v
    elif what.startswith("name-regex="):
        keep = lambda r, rx=re.compile(what[11:]): re.search(rx, str(r.get("eventName", ""))) is not None
    elif what == "errors":
        keep = failed
    else:
        sys.exit(f"unknown filter {what}")
    ids = set()
    for path in paths:
        for f in files(path):
            with open(f, "rb") as fh:
                data = fh.read()
            for doc in documents(data):
                if isinstance(doc, dict) and doc.get("messageType") == "CONTROL_MESSAGE":
                    continue
                for item in items(doc):
                    try:
                        rec = unwrap(item)
                    except ValueError:
                        continue
                    if rec and isinstance(rec.get("eventTime"), str) and keep(rec):
                        ids.add(str(rec.get("eventID", "")))
    for i in sorted(ids):
        print(i)


if __name__ == "__main__":
    main()
