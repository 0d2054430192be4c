export * from "./bridge.js";
export * from "./formats.js";
export * from "./importers.js";
