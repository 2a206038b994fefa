"""Starts `paneherd mcp` with the official MCP Python SDK the way an MCP host does, submits a task
with the `task` tool, reads its result with `background_output(block=true)`, and prints one JSON
line: {"id": ..., "text": ...}.

usage: python mcp_env.py trimmed|inherit PANEHERD_BINARY AGENT PROMPT

trimmed: the SDK's default environment for a server (HOME, PATH, SHELL, TERM, USER, LOGNAME: no
PANEHERD_* or XDG_RUNTIME_DIR), as Codex and the SDKs start servers; inherit: this process's whole
environment.
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


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def run(mode: str, binary: str, agent: str, prompt: str) -> None:
    env = None if mode == "trimmed" else dict(os.environ)
    server = StdioServerParameters(command=binary, args=["mcp"], env=env)
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            started = await session.call_tool(
                "task",
                {"prompt": prompt, "subagent_type": agent, "run_in_background": True},
            )
            said = text_of(started)
            if started.is_error:
                raise SystemExit(f"task failed: {said}")
            found = re.search(r"\b([a-z]+-[a-z]+)\b", said)
            if not found:
                raise SystemExit(f"no task id in: {said}")
            task_id = found.group(1)
            out = await session.call_tool(
                "background_output", {"task_id": task_id, "block": True, "timeout": 60000}
            )
            print(json.dumps({"id": task_id, "text": text_of(out)}), flush=True)


if __name__ == "__main__":
    anyio.run(run, *sys.argv[1:5])
