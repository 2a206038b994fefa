"""A stand-in for Claude Code's process, as paneherd sees it from below: it starts `paneherd mcp`
as its child and talks MCP to it over stdio, starts `paneherd hook claude` as its child with hook
input written as Claude Code writes it (field names from the hooks reference, Claude Code
v2.1.240 docs), and runs `paneherd run` through a shell as its Bash tool does. The test copies
this file to a directory as `claude` and runs `python3 …/claude`, so that paneherd knows the
process as that agent (as it knows `node …/claude`).

    python3 claude BIN SCENARIO  →  one JSON object on stdout with what it saw
"""

import json
import os
import subprocess
import sys

BIN = sys.argv[1]
SCENARIO = sys.argv[2]
SESSION = "4f0c9a52-8c59-4a4e-9b8a-3c2d1e0f9a77"


class Mcp:
    def __init__(self, env=None):
        self.p = subprocess.Popen(
            [BIN, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.n = 0
        self.call("initialize", {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "claude-code", "version": "2.1.240"},
        })
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.p.stdin.write(json.dumps(msg) + "\n")
        self.p.stdin.flush()

    def call(self, method, params):
        self.n += 1
        self.send({"jsonrpc": "2.0", "id": self.n, "method": method, "params": params})
        while True:
            msg = json.loads(self.p.stdout.readline())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]

    def tool(self, name, args):
        return self.call("tools/call", {"name": name, "arguments": args})

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


def hook_input(event, **fields):
    base = {
        "session_id": SESSION,
        "transcript_path": os.path.expanduser(f"~/.claude/projects/p/{SESSION}.jsonl"),
        "cwd": os.getcwd(),
        "permission_mode": "default",
        "hook_event_name": event,
    }
    base.update(fields)
    return base


def post_tool_use(tool_name, tool_input, tool_response):
    return hook_input(
        "PostToolUse",
        tool_name=tool_name,
        tool_input=tool_input,
        tool_response=tool_response,
        tool_use_id="toolu_01ABC123",
        duration_ms=12,
    )


def start_hook(data):
    p = subprocess.Popen(
        [BIN, "hook", "claude"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    p.stdin.write(json.dumps(data))
    p.stdin.close()
    return p


def finish(p):
    out, err = p.stdout.read(), p.stderr.read()
    return {"code": p.wait(30), "stdout": out, "stderr": err}


def task_id(result):
    text = result["content"][0]["text"]
    return text.split()[1]


seen = {"pid": os.getpid()}
if SCENARIO == "delegate":
    mcp = Mcp()
    # 1. A task through MCP; the async-rewake hook on the tool call wakes the session.
    args = {"prompt": "sleep 0.3; echo alpha", "subagent_type": "shell", "description": "alpha"}
    r = mcp.tool("task", args)
    seen["first"] = task_id(r)
    seen["woken"] = finish(start_hook(post_tool_use("mcp__paneherd__task", args, r["content"])))
    # 2. Another, whose result the agent reads itself first: the hook stays silent.
    args = {"prompt": "sleep 0.8; echo beta", "subagent_type": "shell", "description": "beta"}
    r = mcp.tool("task", args)
    seen["second"] = task_id(r)
    hook = start_hook(post_tool_use("mcp__paneherd__task", args, r["content"]))
    mcp.tool("background_output", {"task_id": seen["second"], "block": True, "timeout": 20000})
    seen["read_first"] = finish(hook)
    # 3. A task from the Bash tool (`paneherd run` under a shell), left to the next prompt.
    out = subprocess.run(
        ["bash", "-c", f"{BIN} run --agent shell 'echo gamma'"], capture_output=True, text=True
    )
    seen["third"] = out.stdout.strip()
    subprocess.run([BIN, "wait", seen["third"]], capture_output=True)
    # 4. One more through MCP, left undelivered for the other agent's inbox check.
    r = mcp.tool("task", {"prompt": "echo delta", "subagent_type": "shell", "description": "delta"})
    seen["fourth"] = task_id(r)
    subprocess.run([BIN, "wait", seen["fourth"]], capture_output=True)
    mcp.close()
    # Another agent (its own process) sees none of this one's ends; this one sees its two.
    other = subprocess.run(
        [sys.executable, sys.argv[0], BIN, "inbox"], capture_output=True, text=True
    )
    seen["other"] = json.loads(other.stdout)
    mine = subprocess.run([BIN, "inbox", "--json"], capture_output=True, text=True)
    seen["mine"] = json.loads(mine.stdout)
    # The next prompt: the ends not yet told come as context, once.
    seen["context"] = finish(start_hook(hook_input("UserPromptSubmit", prompt="go on")))
    seen["again"] = finish(start_hook(hook_input("UserPromptSubmit", prompt="and?")))
elif SCENARIO == "print":
    # `claude -p` (this process's own arguments carry -p): the hook must not hold it up.
    import time
    mcp = Mcp()
    args = {"prompt": "sleep 3; echo later", "subagent_type": "shell", "description": "later"}
    r = mcp.tool("task", args)
    seen["task"] = task_id(r)
    t0 = time.monotonic()
    seen["hook"] = finish(start_hook(post_tool_use("mcp__paneherd__task", args, r["content"])))
    seen["hook_secs"] = time.monotonic() - t0
    mcp.close()
elif SCENARIO == "foreground":
    # The Bash tool waits for results itself: they are told by what it printed.
    out = subprocess.run(
        ["bash", "-c", f"{BIN} run --agent shell --wait 'echo waited'"], capture_output=True, text=True
    )
    seen["waited_out"] = out.stdout.strip()
    out = subprocess.run(
        ["bash", "-c", f"{BIN} run --agent shell 'sleep 0.3; echo read'"], capture_output=True, text=True
    )
    seen["read"] = out.stdout.strip()
    out = subprocess.run(
        ["bash", "-c", f"{BIN} output {seen['read']} --wait"], capture_output=True, text=True
    )
    seen["read_out"] = out.stdout.strip()
    mine = subprocess.run([BIN, "inbox", "--json"], capture_output=True, text=True)
    seen["mine"] = json.loads(mine.stdout)
elif SCENARIO == "tmux":
    # Inside tmux, with an MCP server started without $TMUX (as a host may trim it).
    trimmed = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    mcp = Mcp(trimmed)
    r = mcp.tool("task", {"prompt": "sleep 1; echo in a pane", "subagent_type": "shell"})
    seen["task"] = task_id(r)
    mcp.close()
elif SCENARIO == "inbox":
    out = subprocess.run([BIN, "inbox", "--json"], capture_output=True, text=True)
    seen["inbox"] = json.loads(out.stdout)
print(json.dumps(seen))
