"""Drives Galaxy's OpenAI-compatible endpoint with the official Python SDK, unmodified: only
base_url and api_key set. Prints what it saw as JSON for openai.spec.ts to check.

usage: GALAXY_TOKEN=gx_... python sdk_check.py <base_url> <model>
"""

import json
import os
import sys

import openai
from openai import OpenAI

base_url, model = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=os.environ["GALAXY_TOKEN"], max_retries=0)
messages = [{"role": "user", "content": "Greet the tester."}]

whole = client.chat.completions.create(model=model, messages=messages)

text, finish, usage, ids = "", None, None, set()
stream = client.chat.completions.create(
    model=model, messages=messages, stream=True, stream_options={"include_usage": True}
)
for chunk in stream:
    ids.add(chunk.id)
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    if chunk.usage:
        usage = chunk.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})

try:
    client.chat.completions.create(model="agent/no-such-agent", messages=messages)
    missing = "answered"
except openai.NotFoundError as e:
    missing = e.code

print(json.dumps({
    "whole": {
        "id": whole.id,
        "content": whole.choices[0].message.content,
        "finish_reason": whole.choices[0].finish_reason,
        "usage": whole.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}),
    },
    "stream": {"ids": sorted(ids), "content": text, "finish_reason": finish, "usage": usage},
    "missing": missing,
}))
