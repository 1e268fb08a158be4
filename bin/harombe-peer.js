#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader: one source tree, no build step before `npx harombe-peer`.
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/main.ts')
