"""Drive a V2 server with kserve's own ``InferenceRESTClient`` knowing nothing but its model metadata.

Run with the transformer image's interpreter (kserve lives there, not in the root env):
``model_server/transformer/.venv/bin/python tests/serving/v2_client_probe.py BASE MODEL ROWS.json``.
Reads ``GET /v2/models/MODEL``, builds every declared input from ROWS (a list of rows, ``null`` = missing)
with the declared name, datatype and width, calls ``infer`` and prints one JSON object: the metadata and
each output tensor as the client decoded it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64}


async def probe(base: str, model: str, rows: list[list[float | None]]) -> dict[str, Any]:
    meta = httpx.get(f"{base}/v2/models/{model}", timeout=10.0).json()
    inputs = []
    for tensor in meta["inputs"]:
        width = tensor["shape"][1]
        x = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=NUMPY[tensor["datatype"]])
        if x.shape[1] != width:
            raise SystemExit(f"rows have {x.shape[1]} columns, metadata declares {width}")
        inp = InferInput(tensor["name"], [len(rows), width], tensor["datatype"])
        inp.set_data_from_numpy(x, binary_data=False)
        inputs.append(inp)
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        result = await client.infer(base, InferRequest(model_name=model, infer_inputs=inputs), model_name=model)
    finally:
        await client.close()
    outputs = {}
    for out in result.outputs:
        data = out.as_numpy().ravel().tolist()
        data = [d.decode() if isinstance(d, bytes) else d for d in data]
        outputs[out.name] = {"shape": list(out.shape), "datatype": out.datatype, "data": data}
    return {"metadata": meta, "outputs": outputs}


if __name__ == "__main__":
    base_url, model_name, rows_file = sys.argv[1:4]
    with open(rows_file) as fh:
        print(json.dumps(asyncio.run(probe(base_url, model_name, json.load(fh)))))
