// Package metricdef is the one definition of the metrics the plugin
// exports: every family (name, type, labels, meaning), how a family and its
// labels are written into an Envoy stat name, and the tag extraction rules
// (Envoy's stats_config.stats_tags) that turn those names back into one
// Prometheus family with labels.
//
// Envoy stats have no labels of their own: a plugin defines a flat name, and
// Envoy's tag extractors cut labelled segments out of it. The plugin writes
// each label as a segment "NAME=.=VALUE;.;" (the convention of Istio's
// telemetry, exposed by Istio as extraStatTags), between the namespace and
// the family:
//
//	breakwater.policy=.=orders;.;reason=.=rate_limited;.;rejected_total
//
// Each tag regex of Tags, `(NAME=\.=(.*?);\.;)`, matches one segment: its
// first capture group is the part removed from the name, its second the
// label value. What remains, "breakwater.rejected_total", is the family;
// Envoy's /stats/prometheus strips the "wasmcustom." namespace of Wasm stats
// and replaces the dot, giving breakwater_rejected_total{policy="orders",
// reason="rate_limited"}. Without the tags in the bootstrap, Envoy exports
// every stat as its own family with the segments mangled into its name.
//
// Policy, limit and namespace names match [a-z0-9_-]+ (filter/config), so a
// value never contains the ";.;" that ends a segment, nor the dots that
// Istio's unanchored default extractors (cache., component., tag.) look for.
// The names contain no dot other than the one after the namespace.
//
// envoy/envoy.yaml carries Tags (envoy/stats_test.go compares them) and the
// dev host applies them to its /stats/prometheus, so both export the same
// families. Standard library only; no state; safe for concurrent use.
package metricdef
