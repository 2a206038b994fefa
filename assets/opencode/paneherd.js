// paneherd's OpenCode plugin (installed by `paneherd install opencode`).
//
// 1. A background task's end reaches the session that delegated it. The plugin notes which
//    session submitted which task (paneherd's MCP `task` tool, or `paneherd run` in the bash
//    tool), follows `paneherd events --json` (one child process, started at the first
//    delegation), and when such a task ends posts paneherd's notice into that session with
//    `client.session.prompt`: with `noReply` while others of the session still run, and as a
//    prompt that wakes the model when the last one has ended. `paneherd inbox --ack ID` marks
//    each end told, so nothing is told twice (nor after the agent read the result itself).
// 2. When OpenCode itself runs as a paneherd task (PANEHERD_TASK_ID is set), its own events are
//    reported as `paneherd signal`: busy → working, a permission asked → waiting, the main
//    session idle → done, and its session id for `paneherd continue`.

import { execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";

// `paneherd install` writes the absolute path of the binary here.
const PANEHERD_BIN = "paneherd";

const ENDED = new Set(["completed", "error", "cancelled", "interrupted"]);

function paneherd(bin, args) {
  return new Promise((resolve) => {
    execFile(bin, args, { env: process.env, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ ok: !error, stdout: String(stdout), stderr: String(stderr || error?.message || "") });
    });
  });
}

// The task ids a finished tool call submitted: paneherd's MCP `task` tool says
// "Task ID started in the background"; `paneherd run` (without --wait) prints the id alone.
export function submittedIds(tool, args, output) {
  if (typeof output !== "string" || !tool) return [];
  if (/(^|[_.])task$/.test(tool)) {
    const m = output.match(/Task (\S+) started in the background/);
    return m ? [m[1]] : [];
  }
  if (tool === "bash") {
    const command = String(args?.command ?? "");
    if (!/\bpaneherd\s+(run|retry|continue)\b/.test(command) || /\s--wait\b/.test(command)) return [];
    return output.split("\n").map((l) => l.trim()).filter((l) => /^[a-z0-9]+(-[a-z0-9]+)+$/.test(l));
  }
  return [];
}

export const PaneherdPlugin = async ({ client }) => {
  const bin = process.env.PANEHERD_BIN || PANEHERD_BIN;
  const log = (message) =>
    client?.app?.log?.({ body: { service: "paneherd", level: "warn", message } })?.catch?.(() => {});
  const owner = new Map(); // task id → the session that submitted it, until told
  const telling = new Set();
  const again = new Set(); // asked again while a check was under way
  let events = null;
  let closing = false;

  async function tell(id) {
    const session = owner.get(id);
    if (!session) return;
    if (telling.has(id)) return void again.add(id);
    telling.add(id);
    try {
      const r = await paneherd(bin, ["inbox", "--ack", "--json", id]);
      if (!r.ok) return log(`paneherd inbox ${id}: ${r.stderr.trim()}`);
      const data = JSON.parse(r.stdout);
      if (!data.tasks?.length) return; // not ended yet, or told already
      owner.delete(id);
      const others = [...owner.values()].filter((s) => s === session).length;
      await client.session.prompt({
        path: { id: session },
        body: { noReply: others > 0, parts: [{ type: "text", text: data.notice }] },
      });
    } catch (e) {
      log(`telling ${id}: ${e?.message ?? e}`);
    } finally {
      telling.delete(id);
      // An end reported while the check ran (it may have seen the task still running).
      if (again.delete(id)) tell(id);
    }
  }

  function follow() {
    if (events || closing) return;
    events = spawn(bin, ["events", "--json", "--no-output"], { stdio: ["ignore", "pipe", "ignore"] });
    events.on("error", (e) => log(`paneherd events: ${e.message}`));
    createInterface({ input: events.stdout }).on("line", (line) => {
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        return;
      }
      if (ev.kind === "task_changed" && ENDED.has(ev.task?.status) && owner.has(ev.task.id)) {
        tell(ev.task.id);
      }
    });
    events.on("close", () => {
      events = null;
      if (closing || owner.size === 0) return;
      // The daemon stopped or restarted: follow again, and tell what ended meanwhile.
      setTimeout(() => {
        follow();
        for (const id of owner.keys()) tell(id);
      }, 1000).unref();
    });
  }
  process.once("exit", () => {
    closing = true;
    events?.kill();
  });

  function noted(sessionID, tool, args, output) {
    if (!sessionID) return;
    for (const id of submittedIds(tool, args, output)) {
      if (owner.has(id)) continue;
      owner.set(id, sessionID);
      follow();
      tell(id); // it may have ended before the call returned
    }
  }

  // A task's own OpenCode: report its state to paneherd.
  const task = process.env.PANEHERD_TASK_ID;
  let main = null;
  let last = null;
  function signal(...args) {
    const key = args.join(" ");
    if (key === last) return;
    last = key;
    paneherd(bin, ["signal", ...args, "--task", task]).then((r) => {
      if (!r.ok) log(`paneherd signal ${key}: ${r.stderr.trim()}`);
    });
  }
  function report(event) {
    const p = event.properties ?? {};
    switch (event.type) {
      case "session.created":
        if (!main && p.info?.id && !p.info.parentID) {
          main = p.info.id;
          signal("session", main);
        }
        break;
      case "session.status":
        if (p.sessionID === main && p.status?.type === "busy") signal("working");
        break;
      case "permission.asked":
      case "permission.updated":
        if (!p.sessionID || p.sessionID === main) {
          signal("waiting", `OpenCode asks permission: ${p.title ?? p.permission ?? "a tool call"}`);
        }
        break;
      case "session.idle":
        if (p.sessionID === main) signal("done");
        break;
    }
  }

  return {
    "tool.execute.after": async (input, output) => {
      noted(input?.sessionID, input?.tool, input?.args, output?.output);
    },
    event: async ({ event }) => {
      if (event?.type === "message.part.updated") {
        const part = event.properties?.part;
        if (part?.type === "tool" && part.state?.status === "completed") {
          noted(part.sessionID, part.tool, part.state.input, part.state.output);
        }
      }
      if (task && event?.type) report(event);
    },
  };
};
