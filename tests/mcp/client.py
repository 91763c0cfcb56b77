#!/usr/bin/env python3
"""A real MCP client (the official Python SDK) driving descoberta for the Rust tests.

Usage: client.py PLAN.json. The plan names the transport ("http": url and headers; "stdio":
the command, its arguments and environment), the lifecycle ("initialize": the handshake with a
session, or "discover": the stateless 2026-07-28 one), and what to do: tool calls, resource
reads, completions and prompts. The tools, resources, templates and prompts are always listed.
Everything the server sent back is printed as one JSON document on stdout; a protocol error is
recorded with its code and message, and anything the SDK itself rejected (a result off its
declared output schema, a dropped transport) as `client_error`.
"""
import asyncio
import json
import sys
import traceback

import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
import mcp.types as types


def dump(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def attempt(coro):
    try:
        return {"result": dump(await coro)}
    except MCPError as e:
        return {"error": {"code": e.error.code, "message": e.error.message, "data": e.error.data}}
    except Exception as e:  # noqa: BLE001 - the test reads what went wrong
        return {"client_error": f"{type(e).__name__}: {e}"}


async def drive(session, plan):
    out = {}
    if plan.get("lifecycle", "initialize") == "discover":
        result = await session.discover()
    else:
        result = await session.initialize()
    out["protocol_version"] = session.protocol_version
    out["server_info"] = dump(session.server_info) if session.server_info else None
    out["lifecycle"] = dump(result)
    out["tools"] = (await attempt(session.list_tools())).get("result", {}).get("tools")
    out["resources"] = await attempt(session.list_resources())
    out["templates"] = await attempt(session.list_resource_templates())
    out["prompts_list"] = await attempt(session.list_prompts())
    calls = []
    for call in plan.get("calls", []):
        entry = {"tool": call["tool"], "arguments": call.get("arguments")}
        entry.update(await attempt(session.call_tool(call["tool"], call.get("arguments"))))
        calls.append(entry)
    out["calls"] = calls
    out["reads"] = [
        {"uri": uri, **(await attempt(session.read_resource(uri)))} for uri in plan.get("reads", [])
    ]
    completions = []
    for c in plan.get("completions", []):
        ref = types.ResourceTemplateReference(type="ref/resource", uri=c["uri"])
        completions.append(
            {"value": c["value"], **(await attempt(session.complete(ref, {"name": c["argument"], "value": c["value"]})))}
        )
    out["completions"] = completions
    out["prompts"] = [
        {"name": p["name"], **(await attempt(session.get_prompt(p["name"], p.get("arguments"))))}
        for p in plan.get("prompts", [])
    ]
    return out


async def main(plan):
    if plan["transport"] == "http":
        async with httpx2.AsyncClient(headers=plan.get("headers", {}), timeout=60) as http:
            async with streamable_http_client(plan["url"], http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    return await drive(session, plan)
    params = StdioServerParameters(
        command=plan["command"], args=plan.get("args", []), env=plan.get("env"), cwd=plan.get("cwd")
    )
    with open(plan.get("stderr", "/dev/null"), "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                return await drive(session, plan)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    try:
        result = asyncio.run(main(plan))
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        sys.exit(1)
    json.dump(result, sys.stdout)
