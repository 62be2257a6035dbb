"""msb's correlation-ID manager: a Triton Python-backend model that hands out sequence correlation IDs.

Published by `msb cid model add` (src/cid/manager.ts writes its config.pbtxt); see docs/cid.md. One request
acquires, renews or releases a lease on an ID of a named target model; the answer is a [1] tensor `CORRID`
(TYPE_UINT64, or TYPE_STRING for targets whose CONTROL_SEQUENCE_CORRID is TYPE_STRING), the lease's `TOKEN` and
`EXPIRES_AT`.

The leases themselves are msb's: this model is a client of `msb serve`'s `/v1/sequences` API, which keeps them in
Redis with msb's guarantees (unique among live leases, TTL, renew and release by the token holder only, quarantine
before reuse). It uses only the Python standard library (http.client, json), because the Python backend's stub
environment has nothing else by default; the bearer token comes from the environment, never from the config,
which Triton serves to anyone who asks for it.

Errors are one line `msb: CODE: message` in the response, with a Triton error code that says whether to retry
(UNAVAILABLE: msb serve or its Redis cannot be reached, the model's IDs are exhausted or capped).
"""

import http.client
import json
import os
import urllib.parse

import numpy as np
import triton_python_backend_utils as pb_utils

ACTIONS = ("acquire", "renew", "release")


class ManagerError(Exception):
    """An error answered to the client: msb's code, its message and the Triton error code."""

    def __init__(self, code, message, triton_code):
        super().__init__(message)
        self.code = code
        self.triton_code = triton_code


def _parameter(config, name, default=None):
    value = config.get("parameters", {}).get(name, {}).get("string_value")
    return default if value in (None, "") else value


def _positive_int(config, name, default):
    text = _parameter(config, name, str(default))
    if not text.isdigit() or int(text) < 1:
        raise pb_utils.TritonModelException(
            f"msb: MSB_CID_OPTION: parameter {name} is {text!r}: a positive integer is needed"
        )
    return int(text)


def _text(request, name):
    """The one element of an optional [1] STRING input as str, or None when the request does not carry it."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    values = tensor.as_numpy().reshape(-1)
    if len(values) != 1:
        raise ManagerError("MSB_CID_REQUEST", f"input {name} must hold one element, not {len(values)}", "INVALID_ARG")
    value = values[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# Triton's answer for each HTTP status of msb serve (the status says whose fault it is and whether to retry).
_TRITON_CODES = {400: "INVALID_ARG", 404: "NOT_FOUND", 409: "INVALID_ARG", 429: "UNAVAILABLE"}


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.name = args["model_name"]
        output = next((o for o in config.get("output", []) if o["name"] == "CORRID"), None)
        if output is None or output.get("data_type") not in ("TYPE_UINT64", "TYPE_STRING"):
            raise pb_utils.TritonModelException(
                "msb: MSB_CID_OPTION: the CORRID output must be TYPE_UINT64 or TYPE_STRING"
            )
        self.kind = "string" if output["data_type"] == "TYPE_STRING" else "uint64"
        api = _parameter(config, "api_url")
        url = urllib.parse.urlsplit(api or "")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise pb_utils.TritonModelException(
                f"msb: MSB_CID_OPTION: parameter api_url is {api!r}: msb serve's http:// or https:// URL is needed"
            )
        self.api = api.rstrip("/")
        self.base_path = url.path.rstrip("/")
        self.secure = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port
        self.timeout = _positive_int(config, "timeout_ms", 5000) / 1000
        self.ttl = _positive_int(config, "ttl_ms", 30000)
        targets = _parameter(config, "targets", "")
        self.targets = {t for t in targets.split(",") if t}
        token_env = _parameter(config, "token_env", "MSB_CID_TOKEN")
        token = os.environ.get(token_env, "")
        self.headers = {"content-type": "application/json", "accept": "application/json"}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self.connection = None

    def finalize(self):
        if self.connection is not None:
            self.connection.close()

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                responses.append(self._answer(request))
            except ManagerError as err:
                code = getattr(pb_utils.TritonError, err.triton_code)
                error = pb_utils.TritonError(f"msb: {err.code}: {err}", code)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
        return responses

    def _answer(self, request):
        action = _text(request, "ACTION") or "acquire"
        if action not in ACTIONS:
            raise ManagerError(
                "MSB_CID_REQUEST", f"ACTION is {action!r}: acquire, renew or release is needed", "INVALID_ARG"
            )
        model = _text(request, "MODEL")
        if not model:
            raise ManagerError("MSB_CID_REQUEST", "the MODEL input (the sequence model's name) is needed", "INVALID_ARG")
        if self.targets and model not in self.targets:
            raise ManagerError(
                "MSB_CID_REQUEST",
                f"model {model!r} is not served by {self.name} (its targets: {', '.join(sorted(self.targets))})",
                "INVALID_ARG",
            )
        ttl = pb_utils.get_input_tensor_by_name(request, "TTL_MS")
        ttl_ms = self.ttl if ttl is None else int(ttl.as_numpy().reshape(-1)[0])
        if ttl_ms < 1:
            raise ManagerError("MSB_CID_TTL", f"TTL_MS is {ttl_ms}: a positive number of milliseconds is needed", "INVALID_ARG")
        path = f"{self.base_path}/v1/sequences/{urllib.parse.quote(model, safe='')}"
        if action == "acquire":
            lease = self._call("POST", path, {"kind": self.kind, "ttlMs": ttl_ms})
            return self._lease(lease["id"], lease["token"], lease["expiresAt"])
        cid = _text(request, "CORRID")
        token = _text(request, "TOKEN")
        if not cid or not token:
            raise ManagerError("MSB_CID_REQUEST", f"{action} needs the CORRID and TOKEN of the lease", "INVALID_ARG")
        path = f"{path}/{urllib.parse.quote(cid, safe='')}"
        if action == "renew":
            lease = self._call("POST", f"{path}/renew", {"token": token, "ttlMs": ttl_ms})
            return self._lease(cid, token, lease["expiresAt"])
        released = self._call("DELETE", path, {"token": token})
        return self._lease(cid, token, released["releasedAt"])

    def _lease(self, cid, token, time_ms):
        if self.kind == "string":
            ids = np.array([cid.encode("utf-8")], dtype=np.object_)
        else:
            ids = np.array([int(cid)], dtype=np.uint64)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("CORRID", ids),
                pb_utils.Tensor("TOKEN", np.array([token.encode("utf-8")], dtype=np.object_)),
                pb_utils.Tensor("EXPIRES_AT", np.array([int(time_ms)], dtype=np.int64)),
            ]
        )

    def _call(self, method, path, body):
        """One request to msb serve on a kept-alive connection, and its JSON answer or a ManagerError."""
        data = json.dumps(body).encode("utf-8")
        for attempt in (1, 2):
            reused = self.connection is not None
            if self.connection is None:
                cls = http.client.HTTPSConnection if self.secure else http.client.HTTPConnection
                self.connection = cls(self.host, self.port, timeout=self.timeout)
            try:
                self.connection.request(method, path, body=data, headers=self.headers)
                response = self.connection.getresponse()
                payload = response.read()
                break
            except (OSError, http.client.HTTPException) as err:
                self.connection.close()
                self.connection = None
                # msb serve closes idle kept-alive connections: a request that fails on one was never read, so it
                # is sent once more on a new connection. Anything else is msb serve unreachable.
                if reused and attempt == 1 and not isinstance(err, TimeoutError):
                    continue
                if isinstance(err, TimeoutError):
                    raise ManagerError(
                        "MSB_CID_API_TIMEOUT",
                        f"msb serve at {self.api} did not answer within {self.timeout * 1000:.0f} ms"
                        " (is its Redis reachable?); retry later",
                        "UNAVAILABLE",
                    ) from err
                raise ManagerError(
                    "MSB_CID_API_UNREACHABLE",
                    f"cannot reach msb serve at {self.api}: {err or type(err).__name__}; retry later",
                    "UNAVAILABLE",
                ) from err
        try:
            answer = json.loads(payload or b"{}")
        except ValueError:
            answer = {}
        if 200 <= response.status < 300:
            return answer
        code = answer.get("code") or f"HTTP_{response.status}"
        detail = answer.get("detail") or payload[:200].decode("utf-8", "replace")
        triton = _TRITON_CODES.get(response.status, "UNAVAILABLE" if response.status >= 500 else "INTERNAL")
        raise ManagerError(code, f"msb serve answered {response.status}: {detail}", triton)
