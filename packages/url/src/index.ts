export { conformanceTarget, isolatedLocation, type ConformanceTarget, type IsolatedLocation } from "./location.js";
export { probeStore } from "./probe.js";
export {
  defaultServerUrls,
  isStoreUrl,
  openStore,
  parseStoreUrl,
  redactUrl,
  StoreUrlError,
  type OpenStoreOptions,
  type ParsedStoreUrl,
  type ServerUrl,
  type StoreKind,
} from "./stores.js";
