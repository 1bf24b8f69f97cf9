# fsdialer: make run starts the demo, make test runs every test.
GO       ?= go
PACKAGES ?= ./...
BENCHOUT ?= bench.out

.PHONY: run test lint build bench fuzz need-redis clean

## run: the daemon on its embedded defaults (in-process Redis, the built-in
## FreeSWITCH simulator, a demo campaign); REST and metrics on 127.0.0.1:8080.
## Demo flags go in ARGS: make run ARGS='-time-scale 20 -listen 127.0.0.1:9090'.
## It builds bin/dialerd and runs that, not go run: go run exits 1 on
## Ctrl-C whatever the program did, and make would report an error.
ARGS ?=
run:
	$(GO) build -o bin/dialerd ./cmd/dialerd
	bin/dialerd demo $(ARGS)

## test: gofmt, go vet, then the whole suite with the race detector. The
## store and engine tests start their own redis-server on a free port.
test: need-redis lint rules
	$(GO) test -race -timeout 15m $(PACKAGES)

## rules: promtool checks deploy/prometheus-rules.yml and runs its unit
## tests (the silent-call alerts fire on the dialer's series). make test
## installs nothing: without promtool this one check is skipped, saying so
## (.ci/run installs it: Debian's prometheus package has it).
.PHONY: rules
rules:
	@if command -v promtool >/dev/null 2>&1; then \
	  promtool check rules deploy/prometheus-rules.yml && \
	  promtool test rules deploy/prometheus-rules.test.yml; \
	else \
	  echo "rules: SKIPPED: promtool is not installed (Debian: apt-get install prometheus), so the alert rules' unit tests did not run"; \
	fi

need-redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "make test needs redis-server on the PATH (the tests start their own on a free port)."; \
	  echo "  Debian/Ubuntu: sudo apt-get install redis-server"; \
	  echo "  Fedora/RHEL:   sudo dnf install redis"; \
	  echo "  macOS:         brew install redis"; \
	  echo "  or build it:   https://redis.io/docs/latest/operate/oss_and_stack/install/"; \
	  exit 1; }

## chaos: the full crash test (docs/chaos.md): the real dialerd, fsim over
## ESL and a redis-server with AOF; a broadcast of 3,000 members during which
## dialerd is killed 20 times, its event socket cut 20 times and Redis
## killed 5 times, at random moments; then every call is checked against the
## simulator's ledger. A few minutes; the short run is part of make test.
## The seed is random and printed: CHAOS_SEED=N replays it; CHAOS_DIR=DIR
## keeps the run's files (logs, ledger, AOF) there.
.PHONY: chaos
chaos: need-redis
	CHAOS=full $(GO) test -race -count=1 -timeout 60m -run '^TestChaos$$' -v ./chaos

## chaos-agents: the same crash test on a progressive campaign of 2,000
## members and 20 agents (10 rung per call, 10 in a persistent session):
## dialerd killed 20 times, its socket cut 20 times, Redis killed 5 times;
## then the member calls and the agents' legs are checked against the
## simulator's ledger (no agent in two bridges, no answered member left
## alone outside a fault, no agent leg stranded). A few minutes; the short
## run (200 members) is part of make test. CHAOS_SEED, CHAOS_DIR as above.
.PHONY: chaos-agents
chaos-agents: need-redis
	CHAOS=full $(GO) test -race -count=1 -timeout 60m -run '^TestChaosAgents$$' -v ./chaos

## chaos-predictive: chaos-agents on a predictive campaign (dialed ahead
## of the agents, 2 s connect threshold, a safe-harbor message): also
## checks that every answer outside a fault was bridged within the
## threshold or told the message in time. CHAOS_SEED, CHAOS_DIR as above.
.PHONY: chaos-predictive
chaos-predictive: need-redis
	CHAOS=full $(GO) test -race -count=1 -timeout 60m -run '^TestChaosPredictive$$' -v ./chaos

## chaos-cluster: the failover crash test (docs/chaos.md, "Failover") on
## a Sentinel set and on a Redis Cluster of three masters and three
## replicas: a progressive campaign of 1,000 members and 20 agents through
## the real dialerd and fsim; the master of the campaign's slot is killed
## (SIGKILL) and, once its node is back as a replica, the master of the
## agents' slot; it reports the promotion and the time to the next call,
## and checks every call and agent against the simulator's ledger. A few
## minutes; the short run (100 members, one kill) is part of make test.
## CHAOS_SEED, CHAOS_DIR as above.
.PHONY: chaos-cluster
chaos-cluster: need-redis
	CHAOS=full $(GO) test -race -count=1 -timeout 60m -run '^TestChaosFailover$$' -v ./chaos

## chaos-scale-out: three dialerd on one Redis Cluster share six
## campaigns and a gateway's limit; one is killed (SIGKILL) and its
## campaigns move to the others after lease_ttl; every call is checked
## against the simulator's ledger (docs/operations.md, "Several
## dialers"). 300 members a campaign; the short run (40) is part of make
## test.
.PHONY: chaos-scale-out
chaos-scale-out: need-redis
	CHAOS=full $(GO) test -race -count=1 -timeout 30m -run '^TestChaosScaleOut$$' -v ./chaos

## scale-cost: the dialers' CPU and the cluster's Redis commands per call
## with 1, 2 and 3 dialerd on the same six campaigns (a measurement for
## docs/operations.md's sizing table, not a check). A few minutes.
.PHONY: scale-cost
scale-cost: need-redis
	SCALE_COST=1 $(GO) test -count=1 -timeout 40m -run '^TestScaleOutCost$$' -v ./chaos

## lint: formatting and vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PACKAGES)

## build: the two programs into bin/.
build:
	$(GO) build -o bin/dialerd ./cmd/dialerd
	$(GO) build -o bin/fsim ./cmd/fsim

## bench: every benchmark, one package after the other (they measure CPU and
## must not share the two cores); results in $(BENCHOUT) and on the terminal.
## docs/benchmarks.md records the latest figures.
bench: need-redis
	@rm -f $(BENCHOUT)
	$(GO) test -run '^$$' -bench ParseEvents -cpu 1 -benchtime 2s -count 3 ./esl | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench OriginateRoundTrip -benchtime 20000x -count 3 ./sim | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench ClientMemory10kCalls -benchtime 1x ./sim | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench 'MillionMembers|ConcurrentClaimers|AgentReservation' -benchtime 1x ./store | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench DurableWrites -benchtime 3000x -count 3 ./store | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench EngineThroughput -benchtime 1x -count 2 ./dialer | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench Progressive -benchtime 1x -count 2 ./dialer | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench Predictive -benchtime 1x -count 2 ./dialer | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench CallsInFlight -benchtime 1x ./dialer | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench 'BulkUpload|StatusLatency' -benchtime 1x ./httpapi | tee -a $(BENCHOUT)

## bench-pacing: the pacing benchmark (docs/pacing.md): every scenario of
## $(PACING_SCENARIOS) with every pacing policy on the same draws, in
## virtual time; the table on the terminal, docs/pacing.csv, and the plot in
## docs/pacing.svg. A few minutes on two cores.
PACING_SCENARIOS ?= deploy/pacing-scenarios.json
.PHONY: bench-pacing
bench-pacing:
	$(GO) run ./cmd/pacingbench -scenarios $(PACING_SCENARIOS) -csv docs/pacing.csv -svg docs/pacing.svg

## pacing-e2e: issue 13's end-to-end check (docs/pacing.md, "The daemon
## against the benchmark"): one pacing scenario through the real engine (a
## redis-server, the simulator over TCP ESL, a fast-stepped fake clock)
## beside the benchmark's run of it; occupancy and abandon rate within 3
## points. About 4 minutes. PACING_E2E_SCENARIO, PACING_E2E_HOURS (2),
## PACING_E2E_STEP (100ms).
.PHONY: pacing-e2e
pacing-e2e: need-redis
	PACING_E2E=1 $(GO) test -count=1 -timeout 30m -run '^TestPacingDaemonAgainstBenchmark$$' -v ./dialer

## fuzz: each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReadMessage -fuzztime $(FUZZTIME) ./esl
	$(GO) test -run '^$$' -fuzz FuzzReadCommand -fuzztime $(FUZZTIME) ./esl
	$(GO) test -run '^$$' -fuzz FuzzIndexHeaderLines -fuzztime $(FUZZTIME) ./esl
	$(GO) test -run '^$$' -fuzz FuzzAPI -fuzztime $(FUZZTIME) ./sim
	$(GO) test -run '^$$' -fuzz FuzzDecodeBodies -fuzztime $(FUZZTIME) ./httpapi
	$(GO) test -run '^$$' -fuzz FuzzScanCSV -fuzztime $(FUZZTIME) ./httpapi
	$(GO) test -run '^$$' -fuzz FuzzDecodeHook -fuzztime $(FUZZTIME) ./httpapi
	$(GO) test -run '^$$' -fuzz FuzzMap -fuzztime $(FUZZTIME) ./dialer/lookup
	$(GO) test -run '^$$' -fuzz FuzzOriginateArgs -fuzztime $(FUZZTIME) ./dialer
	$(GO) test -run '^$$' -fuzz FuzzParseEndRecord -fuzztime $(FUZZTIME) ./dialer
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./dialer/pacing/shiftsim

clean:
	rm -rf bin $(BENCHOUT)
