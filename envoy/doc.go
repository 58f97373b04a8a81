// Package envoy holds the deployment files of Breakwater and the tests that
// check them against the real API definitions:
//
//   - envoy.yaml, a complete Envoy bootstrap loading the filter, parsed into
//     Envoy's Bootstrap proto (go-control-plane) with every extension type it
//     names registered, every embedded Any unpacked, and the generated
//     ValidateAll run on each message (bootstrap_test.go);
//   - plugin.json, the plugin configuration, which must equal the one
//     embedded in envoy.yaml and pass the filter's own config parser;
//   - istio/wasmplugin.yaml, an Istio WasmPlugin parsed into istio.io/api's
//     WasmPlugin and checked against the CRD's validation rules
//     (istio_test.go);
//   - ratelimit/config.yaml, the envoyproxy/ratelimit configuration for the
//     global limits, and ../docker-compose.yml with ../deploy/prometheus.yml
//     and ../deploy/grafana, loaded with compose-go and checked against
//     envoy.yaml and each other (compose_test.go);
//   - envoy.yaml's stats_tags and istio/meshconfig-stats.yaml against
//     internal/metricdef, and the metrics Envoy would export: the built
//     .wasm in the dev host with those tags and plugin.json, its
//     /stats/prometheus read by Prometheus' expfmt and linted by promlint
//     (stats_test.go);
//   - ../deploy/breakwater.rules.yml and the Grafana dashboard, parsed with
//     Prometheus' rulefmt and PromQL parser, every metric and label they use
//     checked against that scrape (rules_test.go).
//
// The package has no code of its own; it is a separate module so that the
// heavy API dependencies (go-control-plane, istio.io/api, compose-go,
// Prometheus) stay out of the main module.
package envoy
