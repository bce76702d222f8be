// Package deploytest tests what backseal ships for deployment, as shipped:
// the Dockerfile (its build command, the binary it yields, its entrypoint and
// health check), the examples in configs/ (Kubernetes, systemd,
// OpenTelemetry Collector), and end to end through real load balancers:
// simulator → backseal → nginx or HAProxy (Debian's packages, run by the
// test on loopback from the very files in configs/) → client. Debian's
// Prometheus, run from configs/prometheus/, scrapes a sidecar during a
// silent truncation and must store it, load the rules and fire the alerts.
//
// The tests that run nginx, haproxy, prometheus, promtool or
// systemd-analyze skip when it is not installed, unless CI is set, in which
// case they fail: .ci/run installs them (internal/testkit/program).
//
//	go test -v -run TestBalancers ./internal/deploytest
//
// logs the measured matrix of which failure signal survives which balancer
// (docs/OPERATIONS.md quotes it).
package deploytest
