#!/usr/bin/env bash
# govulncheck against a vulnerability database built offline from the
# golang.org/x/vulndb module (the module proxy serves it; vuln.go.dev is not
# reachable from our machines). The vulndb version is pinned so CI is
# reproducible; bump VULNDB to pick up newer reports.
set -euo pipefail
VULNDB=${VULNDB:-v0.0.0-20261105234957-e22db6528018}
GOVULNCHECK=${GOVULNCHECK:-v1.9.0}
cd "$(dirname "$0")/.."
db=${VULNDB_DIR:-$(go env GOCACHE)/backseal-vulndb-$VULNDB}
if [ ! -f "$db/index/db.json" ]; then
  src=$(go mod download -json "golang.org/x/vulndb@$VULNDB" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  rm -rf "$db.tmp" && mkdir -p "$db.tmp"
  (cd "$src" && GOFLAGS=-mod=mod go run ./cmd/indexdb -vulns data/osv -out "$db.tmp")
  rm -rf "$db" && mv "$db.tmp" "$db"
fi
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK" -db "file://$db" ./...
