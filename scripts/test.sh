#!/usr/bin/env bash
# The test command (`npm test`). On a fresh machine of the project's kind it
# installs every test peer it needs, runs every check and suite, and ends
# with one line `N passed, N failed`, summed over all of them. A suite whose
# peer cannot be installed fails; nothing is skipped quietly.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
mkdir -p .cache/bin
export GOBIN="$ROOT/.cache/bin"
export PATH="$GOBIN:$ROOT/node_modules/.bin:$PATH"

passed=0
failed=0
failures=()
step() { printf '\n==> %s\n' "$*"; }
ok() { passed=$((passed + 1)); }
ko() { failed=$((failed + 1)); failures+=("$1"); }
# check NAME CMD...: a check counts as one passed or one failed.
check() {
  local name=$1
  shift
  step "$name"
  if "$@"; then ok; else ko "$name"; fi
}

step "install: npm packages"
if ! npm ci --no-audit --no-fund; then
  echo "npm ci failed: nothing can run"
  echo "0 passed, 1 failed"
  exit 1
fi

step "install: Go tools (grpcurl, grpc-health-probe) from the Go module proxy"
GO_TOOLS=(
  github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
  github.com/grpc-ecosystem/grpc-health-probe@v0.4.62
  google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
  connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1
)
for t in "${GO_TOOLS[@]}"; do
  bin=$(basename "${t%@*}")
  if [ ! -x "$GOBIN/$bin" ]; then
    go install "$t" || ko "install $t"
  fi
done

step "install: Debian packages (prometheus and promtool; openssl for the TLS tests)"
need=()
{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } || need+=(prometheus)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; then
    # The package may start a system Prometheus; the tests run their own.
    $SUDO systemctl stop prometheus >/dev/null 2>&1 || true
    $SUDO pkill -x prometheus >/dev/null 2>&1 || true
  else
    ko "install ${need[*]}"
  fi
fi

step "install: Python test peers into .venv (python/requirements.txt)"
bash scripts/venv.sh || ko "install python packages"

check "gen/ and clients/go/gen/ are up to date with proto/ (buf generate)" bash -c 'bash scripts/generate.sh && git diff --exit-code --stat -- gen clients/go/gen && test -z "$(git status --porcelain -- gen clients/go/gen)"'
check "buf lint" buf lint
check "buf breaking against main" bash -c 'if git rev-parse -q --verify main >/dev/null; then buf breaking --against ".git#branch=main"; else echo "no main branch to compare with"; fi'
check "typecheck (tsc --noEmit)" tsc --noEmit -p tsconfig.json
check "lint (biome)" biome check .
check "build" npm run --silent build

step "TypeScript suites (vitest)"
rm -f .cache/vitest-report.json
vitest run
if [ -f .cache/vitest-report.json ]; then
  read -r vp vf < <(node scripts/vitest-counts.mjs .cache/vitest-report.json)
  passed=$((passed + vp))
  failed=$((failed + vf))
  [ "$vf" -gt 0 ] && failures+=("vitest: $vf failed")
else
  ko "vitest produced no report"
fi

# go_suite NAME DIR: runs `go test ./...` in DIR and adds its counts.
go_suite() {
  local name=$1 dir=$2
  step "Go suite: $name ($dir)"
  local counts rc
  counts=$(cd "$dir" && go vet ./... && go test -count=1 -json ./... 2>&1 | node "$ROOT/scripts/go-counts.mjs")
  rc=$?
  read -r gp gf <<<"${counts:-0 1}"
  passed=$((passed + gp))
  failed=$((failed + gf))
  if [ "$gf" -gt 0 ] || [ "$rc" -ne 0 ] || [ "$gp" -eq 0 ]; then
    [ "$gf" -eq 0 ] && failed=$((failed + 1))
    failures+=("go: $name")
  fi
}
go_suite "deployment manifests" deploy
go_suite "Go client for the engine" clients/go
check "the benchmark's Go programs (bench/go) build and vet against clients/go" bash -c 'cd bench/go && go vet ./...'

step "Python suite (pytest): the contract and the reference ML service"
rm -f .cache/pytest.xml
(cd python && ../.venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=../.cache/pytest.xml tests)
if [ -f .cache/pytest.xml ]; then
  read -r pp pf < <(.venv/bin/python scripts/pytest-counts.py .cache/pytest.xml)
  passed=$((passed + pp))
  failed=$((failed + pf))
  [ "$pf" -gt 0 ] && failures+=("pytest: $pf failed")
else
  ko "pytest produced no report"
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "failures:"
  printf '  - %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
