#!/bin/sh
echo "The native Prisma schema engine is not installed here; migrations run through npm run migrate (WASM engine)." >&2
exit 1
