"""The same job as the Rust runner, the way a line-by-line Python runner does it: `requests`
streams the file, each line is parsed and mapped, batches are POSTed in order, progress is PUT
to the callback. Prints the number of records sent. Used by `examples/bench.rs` only."""

import json
import sys
import time

import requests


def main():
    job = json.loads(sys.argv[1])
    s = job["settings"]
    mapping = s.get("field_mapping")
    batch_size = s.get("batch_size", 500)
    session = requests.Session()
    callback = job["callback_url"] + job["webhook_id"]
    headers = {"Authorization": "Bearer " + job["access_token"]}

    def report(state, progress):
        session.put(callback, json={"state": state, "progress": progress, "errors": []},
                    headers=headers, timeout=60).raise_for_status()

    report("running", 0.0)
    sent = 0
    batch = []
    last = time.monotonic()
    with session.get(job["data_url"], stream=True, timeout=(10, 60)) as r:
        r.raise_for_status()
        for line in r.iter_lines(chunk_size=64 * 1024):
            if not line.strip():
                continue
            record = json.loads(line)
            if mapping:
                record = {to: record[k] for k, to in mapping.items() if k in record}
            batch.append(record)
            if len(batch) >= batch_size:
                session.post(s["destination_url"], json=batch, timeout=60).raise_for_status()
                sent += len(batch)
                batch = []
                if time.monotonic() - last >= 5:
                    last = time.monotonic()
                    report("running", 0.0)
    if batch:
        session.post(s["destination_url"], json=batch, timeout=60).raise_for_status()
        sent += len(batch)
    report("succeeded", 1.0)
    print(sent)


if __name__ == "__main__":
    main()
