#!/usr/bin/env bash
# `pnpm test`: build what the tests need, run every package's tests one package at a time
# (some stop and start private database servers; the shared servers stay up), then print totals.
set -uo pipefail
cd "$(dirname "$0")/.."
find . -name vitest-results.json -path '*/.tmp/*' -not -path '*/node_modules/*' -delete
pnpm exec turbo run build --output-logs=errors-only || exit 1
pnpm exec turbo run test --concurrency=1 --continue
status=$?
node scripts/test-summary.mjs
exit $status
