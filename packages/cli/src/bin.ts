#!/usr/bin/env node
import { main } from "./index.js";

const code = await main(process.argv.slice(2));
// Exit explicitly: a driver's idle socket must not keep a finished command alive.
process.exit(code);
