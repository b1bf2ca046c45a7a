#!/usr/bin/env node
// Lists the halo-* commands, or runs `halo NAME ...` as `halo-NAME ...`.
import { umbrella } from '../dist/src/cli/main.js';
await umbrella();
