export * from "./errors.js";
export * from "./token.js";
export * from "./rules.js";
export * from "./table.js";
export * from "./store.js";
