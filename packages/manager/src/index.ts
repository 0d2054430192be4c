export * from "./errors.js";
export * from "./oauth.js";
export * from "./manager.js";
