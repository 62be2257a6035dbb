"""One sequence client of the correlation-ID tests (run with the tritonclient of .venv/triton).

Gets a correlation ID one of three ways (`source`): from the manager model in Triton, from `msb cid acquire`, or
from `POST /v1/sequences`; prints `{"event": "acquired", ...}`; waits for a line `go` on stdin (so the test can
see every client holding its ID at once); runs `steps` requests of one sequence (START on the first, END on the
last) on the accumulator model, checking each answer against its own running sum; releases the ID the same way
it got it; prints `{"event": "done", ...}` with the number of wrong sums. With `stop_after`, it prints
`{"event": "mid"}` after that many steps and waits to be killed.

Argument: one JSON object (see the keys read below).
"""

import json
import random
import subprocess
import sys
import time
import urllib.request

import numpy as np
import tritonclient.http as http


def say(**event):
    print(json.dumps(event), flush=True)


def text_tensor(name, value):
    t = http.InferInput(name, [1], "BYTES")
    t.set_data_from_numpy(np.array([value.encode()], dtype=np.object_))
    return t


class Manager:
    """IDs from the manager model: one inference per acquire / release."""

    def __init__(self, client, cfg):
        self.client, self.cfg = client, cfg

    def acquire(self):
        inputs = [text_tensor("MODEL", self.cfg["model"])]
        if "ttl" in self.cfg:
            t = http.InferInput("TTL_MS", [1], "INT64")
            t.set_data_from_numpy(np.array([self.cfg["ttl"]], dtype=np.int64))
            inputs.append(t)
        r = self.client.infer(self.cfg["manager"], inputs)
        self.cid, self.token = r.as_numpy("CORRID"), r.as_numpy("TOKEN")
        value = self.cid[0]
        return value.decode() if isinstance(value, bytes) else int(value)

    def release(self):
        cid = http.InferInput("CORRID", [1], "BYTES" if self.cid.dtype == np.object_ else "UINT64")
        cid.set_data_from_numpy(self.cid)
        token = http.InferInput("TOKEN", [1], "BYTES")
        token.set_data_from_numpy(self.token)
        self.client.infer(self.cfg["manager"], [text_tensor("ACTION", "release"), text_tensor("MODEL", self.cfg["model"]), cid, token])


class Cli:
    """IDs from `msb cid acquire` / `msb cid release` (the command line the test passes)."""

    def __init__(self, cfg):
        self.cfg = cfg

    def run(self, *args):
        out = subprocess.run([*self.cfg["msb"], "cid", *args, "--redis", self.cfg["redis"], "--json"],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    def acquire(self):
        lease = self.run("acquire", self.cfg["model"], "--kind", self.cfg["kind"], "--ttl", str(self.cfg.get("ttl", 30000)))
        self.token = lease["token"]
        self.id = lease["id"]
        return self.id if self.cfg["kind"] == "string" else int(self.id)

    def release(self):
        self.run("release", self.cfg["model"], str(self.id), "--token", self.token)


class Api:
    """IDs from msb serve's `POST /v1/sequences/MODEL` with a bearer token."""

    def __init__(self, cfg):
        self.cfg = cfg

    def call(self, method, path, body):
        req = urllib.request.Request(self.cfg["api"] + path, data=json.dumps(body).encode(), method=method, headers={
            "content-type": "application/json", "authorization": "Bearer " + self.cfg["token"]})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def acquire(self):
        lease = self.call("POST", "/v1/sequences/" + self.cfg["model"], {"kind": self.cfg["kind"], "ttlMs": self.cfg.get("ttl", 30000)})
        self.id, self.token = lease["id"], lease["token"]
        return self.id if self.cfg["kind"] == "string" else int(self.id)

    def release(self):
        self.call("DELETE", f"/v1/sequences/{self.cfg['model']}/{self.id}", {"token": self.token})


def main():
    cfg = json.loads(sys.argv[1])
    client = http.InferenceServerClient(cfg["triton"], network_timeout=120)
    source = {"manager": lambda: Manager(client, cfg), "cli": lambda: Cli(cfg), "http": lambda: Api(cfg)}[cfg["source"]]()
    cid = source.acquire()
    say(event="acquired", id=str(cid), at=time.time())
    if sys.stdin.readline().strip() != "go":
        return
    rng = random.Random(cfg.get("seed", 0))
    total, wrong, answers = 0, 0, []
    steps = cfg.get("steps", 8)
    for step in range(steps):
        value = rng.randint(1, 1000)
        total += value
        t = http.InferInput("INPUT", [1, 1], "INT32")
        t.set_data_from_numpy(np.array([[value]], dtype=np.int32))
        r = client.infer(cfg["model"], [t], sequence_id=cid, sequence_start=step == 0, sequence_end=step == steps - 1)
        got = int(r.as_numpy("OUTPUT").reshape(-1)[0])
        answers.append(got)
        wrong += got != total
        if cfg.get("stop_after") == step + 1:
            say(event="mid", id=str(cid), answers=answers)
            time.sleep(3600)
    source.release()
    say(event="done", id=str(cid), wrong=wrong, answers=answers, total=total)


if __name__ == "__main__":
    main()
