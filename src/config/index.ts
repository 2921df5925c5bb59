/**
 * The LXC-format config layer: parse (with includes), check keys against the
 * registry, resolve into a ContainerConfig, and write/edit config text.
 */

export {
  allKeySpecs,
  type CgroupLayout,
  checkKeyValue,
  classifyEntry,
  type HostInfo,
  type KeyMatch,
  type KeySpec,
  type KeyStatus,
  lookupKey,
  type Verdict,
} from "./keys.js";
export { NET_KEYS, NET_TYPES, type NetKeySpec, type NetType } from "./keys-net.js";
export {
  type IoLimit,
  LIMIT_KEYS,
  type LimitOrigins,
  type Limits,
  type MemoryAmount,
  noLimits,
} from "./limits.js";
export { findFstab, type LoadOptions, loadConfig } from "./load.js";
export {
  type CgroupSetting,
  CONFIG_DEFAULTS,
  type ConfigMount,
  type ContainerConfig,
  hostArch,
  type NetConfig,
  type Prlimit,
  type ResolveOptions,
  resolveConfig,
  type Sysctl,
} from "./model.js";
export {
  applyMountAuto,
  type MountAuto,
  type MountEntry,
  MS,
  parseFstabText,
  parseMountEntry,
} from "./mounts.js";
export {
  type ConfigEntry,
  type ConfigFs,
  type ConfigLine,
  nodeConfigFs,
  parseConfigFile,
  parseConfigLine,
  parseConfigText,
  readConfigFile,
} from "./parse.js";
export { parseSignal, RLIMITS, splitCommand, ValueError } from "./values.js";
export { ConfigDocument, renderEntries, renderEntry, renderValue } from "./write.js";
