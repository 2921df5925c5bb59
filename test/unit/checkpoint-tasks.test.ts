import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  hasCapSysResource,
  readTasks,
  refuseTasks,
  type TaskFacts,
} from "../../src/container/checkpoint-tasks.js";

const task = (pid: number, o: Partial<TaskFacts> = {}): TaskFacts => ({
  pid,
  comm: `p${pid}`,
  uts: "uts:[1]",
  ipc: "ipc:[2]",
  ids: [0, 0, 0, 0, 0, 0],
  ...o,
});

describe("checkpoint: the container's processes", () => {
  test("a zombie (its namespace links unreadable) is no nested namespace", () => {
    assert.equal(
      refuseTasks([task(1), task(5, { comm: "srv.sh", uts: "", ipc: "" })], {
        privileged: false,
        canReadLimits: true,
      }),
      undefined,
    );
  });

  test("a nested UTS or IPC namespace is refused with CRIU's words", () => {
    assert.equal(
      refuseTasks([task(1), task(2)], { privileged: true, canReadLimits: false }),
      undefined,
    );
    assert.match(
      refuseTasks([task(1), task(7, { comm: "systemd-logind", uts: "uts:[9]" })], {
        privileged: false,
        canReadLimits: true,
      }) ?? "",
      /process 7 \(systemd-logind\) runs in a UTS namespace of its own .*"Can't dump nested uts namespace for 7"/,
    );
    assert.match(
      refuseTasks([task(1), task(8, { ipc: "ipc:[9]" })], {
        privileged: false,
        canReadLimits: true,
      }) ?? "",
      /IPC namespace of its own/,
    );
  });

  test("another uid in a privileged container: refused only without CAP_SYS_RESOURCE", () => {
    const tasks = [task(1), task(5, { comm: "dbus-daemon", ids: [100, 100, 100, 101, 101, 101] })];
    assert.match(
      refuseTasks(tasks, { privileged: true, canReadLimits: false }) ?? "",
      /process 5 \(dbus-daemon\) runs as uid\/gid 100\/101, .*lacks CAP_SYS_RESOURCE.*"Can't get rlimit 0: Operation not permitted"/,
    );
    assert.equal(refuseTasks(tasks, { privileged: true, canReadLimits: true }), undefined);
    assert.equal(refuseTasks(tasks, { privileged: false, canReadLimits: false }), undefined);
  });

  test("CAP_SYS_RESOURCE is bit 24 of CapEff", () => {
    assert.equal(
      hasCapSysResource("CapPrm:\t000001ffffffffff\nCapEff:\t000001fffeffffff\n"),
      false,
    );
    assert.equal(hasCapSysResource("CapEff:\t000001ffffffffff\n"), true);
    assert.equal(hasCapSysResource(""), false);
  });

  test("this process's tree is read from /proc, itself first", () => {
    const [self] = readTasks(process.pid);
    assert.equal(self?.pid, process.pid);
    assert.match(self?.uts ?? "", /^uts:\[\d+\]$/);
    assert.equal(self?.ids.length, 6);
  });
});
