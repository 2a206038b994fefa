"""Drives `paneherd mcp` with the official MCP Python SDK (an implementation nobody at paneherd
wrote) and checks what a real client sees: the handshake, every tool, the error results and the
completion notification.

usage: python mcp_sdk_check.py legacy|modern PANEHERD_BINARY

legacy: the `initialize` handshake (protocol 2025-11-25); modern: `server/discover` with
per-request metadata (protocol 2026-07-28). The server gets this process's environment (the test
sets PANEHERD_DATA_DIR, PANEHERD_RUNTIME_DIR and PANEHERD_CONFIG to temporary paths). Prints one
line per check and exits 1 on the first that fails.
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPDeprecationWarning

warnings.simplefilter("ignore", MCPDeprecationWarning)

TOOLS = {"task", "background_output", "background_cancel", "delegation_list", "delegation_read"}


class Failed(Exception):
    pass


def check(ok: bool, what: str, detail: object = "") -> None:
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if not ok else ""), flush=True)
    if not ok:
        raise Failed(what)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def run(mode: str, binary: str) -> None:
    logs: list[str] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data if isinstance(params.data, str) else json.dumps(params.data))

    server = StdioServerParameters(command=binary, args=["mcp"], env=dict(os.environ))
    async with stdio_client(server) as (read, write):
        async with ClientSession(
            read,
            write,
            logging_callback=on_log,
            client_info=types.Implementation(name="paneherd-sdk-check", version="1"),
            log_level="info",
        ) as session:
            if mode == "legacy":
                await session.initialize()
                check(session.discover_result is None, "legacy initialize handshake")
            else:
                await session.discover()
                check(session.discover_result is not None, "server/discover negotiation")
            check(session.protocol_version is not None, f"protocol {session.protocol_version}")
            info = session.server_info
            check(info is not None and info.name == "paneherd", "serverInfo names paneherd", info)
            check(bool(info.version), "serverInfo has a version", info)
            if mode == "legacy":
                await session.set_logging_level("info")
                check(True, "logging/setLevel answered")

            tools = (await session.list_tools()).tools
            names = {t.name for t in tools}
            check(names == TOOLS, "tools/list has the five tools", names)
            for t in tools:
                schema = t.input_schema or {}
                check(schema.get("type") == "object", f"{t.name} has an object input schema", schema)
            task_schema = next(t for t in tools if t.name == "task").input_schema
            check("prompt" in task_schema.get("properties", {}), "task's schema names prompt")

            r = await session.call_tool(
                "task",
                {"prompt": "echo from-python-sdk", "subagent_type": "shell", "description": "sdk check"},
            )
            out = text_of(r)
            check(not r.is_error and "Do not poll" in out, "task hands off in the background", out)
            m = re.search(r"Task (\S+) started", out)
            check(m is not None, "task names its id", out)
            task_id = m.group(1)

            with anyio.move_on_after(20):
                while not any(task_id in l for l in logs):
                    await anyio.sleep(0.05)
            notice = next((l for l in logs if task_id in l), None)
            check(notice is not None, "a completion notification arrives unasked", logs)
            check("[BACKGROUND TASK RESULT READY]" in notice, "it says the result is ready", notice)

            r = await session.call_tool(
                "background_output", {"task_id": task_id, "block": True, "timeout": 20000}
            )
            out = text_of(r)
            check(not r.is_error and out.startswith("Task Result"), "background_output: result", out)
            check("from-python-sdk" in out, "the result holds the output", out)

            r = await session.call_tool("delegation_list", {})
            check(task_id in text_of(r), "delegation_list lists it", text_of(r))
            r = await session.call_tool("delegation_read", {"id": task_id[:6]})
            check("from-python-sdk" in text_of(r), "delegation_read by prefix", text_of(r))

            for name, args, words in [
                ("task", {"prompt": 5}, "invalid type"),
                ("task", {"prompt": "x", "subagent_type": "nope"}, "unknown agent"),
                ("task", {"prompt": " ", "subagent_type": "shell"}, "prompt is empty"),
                ("background_output", {"task_id": task_id, "timeout": 600001}, "out of range"),
                ("background_output", {"task_id": "no-such-task"}, "no task with id"),
                ("background_cancel", {}, "give task_id"),
                ("delegation_read", {}, "missing field"),
            ]:
                r = await session.call_tool(name, args)
                check(
                    r.is_error is True and words in text_of(r),
                    f"{name} {json.dumps(args)} is an error result the model can read",
                    (r.is_error, text_of(r)),
                )
            r = await session.call_tool("delegation_list", {})
            check(task_id in text_of(r), "the server serves on after errors")
    print("all checks passed", flush=True)


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("legacy", "modern"):
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    try:
        anyio.run(run, sys.argv[1], sys.argv[2])
    except* Failed:
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
