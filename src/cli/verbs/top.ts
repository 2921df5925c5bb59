import { type Command, Option } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption } from "../common.js";
import { cliContext } from "../context.js";
import { humanBytes, printJson, printTable } from "../output.js";

const SORTS = [
  "name",
  "cpu",
  "time",
  "mem",
  "peak",
  "swap",
  "pids",
  "read",
  "write",
  "rx",
  "tx",
] as const;

function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n <= 0)
    throw new LxtError("usage", `--delay: not a positive number of seconds: "${value}"`);
  return n;
}

/** `top`: a refreshing table of running containers (lxc-top, docker stats). */
export function register(program: Command): void {
  program
    .command("top")
    .description("live resource use of all running containers, refreshed every --delay seconds")
    .addOption(lxcpathOption())
    .addOption(
      new Option("-s, --sort <column>", "sort by this column")
        .choices(SORTS)
        .default("name" as const),
    )
    .option("-d, --delay <seconds>", "seconds between refreshes (and CPU samples)", seconds, 1)
    .option("-i, --iterations <n>", "stop after this many refreshes", (v) => Number(v))
    .addOption(
      new Option("--format <format>", "json: one sample over --delay, then exit").choices([
        "json",
      ] as const),
    )
    .action(async (opts) => {
      const { sampleTop, sortTopRows } = await import("../../container/top.js");
      const ctx = cliContext(opts);
      const wait = () => new Promise((r) => setTimeout(r, opts.delay * 1000));
      let { sample } = await sampleTop(ctx);
      const tty = process.stdout.isTTY;
      for (let i = 0; opts.iterations === undefined || i < opts.iterations; i++) {
        await wait();
        const next = await sampleTop(ctx, sample);
        sample = next.sample;
        const rows = sortTopRows(next.rows, opts.sort);
        if (opts.format === "json") {
          printJson(
            rows.map((r) => ({
              name: r.name,
              state: r.state,
              pid: r.pid ?? null,
              cpu_percent: r.cpuPercent === undefined ? null : Number(r.cpuPercent.toFixed(2)),
              cpu_seconds: r.cpuSeconds ?? null,
              memory_bytes: r.memoryBytes ?? null,
              memory_peak_bytes: r.memoryPeakBytes ?? null,
              memory_swap_bytes: r.memorySwapBytes ?? null,
              pids: r.pids ?? null,
              io_read_bytes: r.ioReadBytes ?? null,
              io_write_bytes: r.ioWriteBytes ?? null,
              net_rx_bytes: r.netRxBytes,
              net_tx_bytes: r.netTxBytes,
            })),
          );
          return;
        }
        const b = (n: number | undefined) => (n === undefined ? "-" : humanBytes(n));
        if (tty) process.stdout.write("\x1b[H\x1b[2J");
        printTable(
          [
            "NAME",
            "STATE",
            "CPU%",
            "CPU TIME",
            "MEMORY",
            "PEAK",
            "SWAP",
            "PIDS",
            "READ",
            "WRITE",
            "NET RX",
            "NET TX",
          ],
          rows.map((r) => [
            r.name,
            r.state,
            r.cpuPercent === undefined ? "-" : r.cpuPercent.toFixed(1),
            r.cpuSeconds === undefined ? "-" : `${r.cpuSeconds.toFixed(2)}s`,
            b(r.memoryBytes),
            b(r.memoryPeakBytes),
            b(r.memorySwapBytes),
            r.pids === undefined ? "-" : String(r.pids),
            b(r.ioReadBytes),
            b(r.ioWriteBytes),
            b(r.netRxBytes),
            b(r.netTxBytes),
          ]),
        );
        if (!tty) process.stdout.write("\n");
      }
    });
}
