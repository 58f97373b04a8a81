// Package confref is the table of every field of the plugin configuration
// (Blocks): key, type, default and what it derives from, bounds, meaning,
// and an example per block. It generates the configuration reference
// (docs/configuration.md) and the JSON Schema (docs/breakwater.schema.json);
// TestGenerated fails when either file differs from what the table gives,
// and `go generate ./internal/confref` rewrites both.
//
// The table is not a second parser: filter/config's tests check it against
// the parser itself (reference_test.go there): the keys of every object the
// parser reads (recorded from its unknown-key check) equal the table's, every
// numeric bound and duration minimum is probed at and beyond its ends with
// config.Parse, every block's example parses, and every valid configuration
// in the repository validates against the generated schema while the
// invalid ones the schema can express fail it.
//
// Standard library only; not imported by the plugin.
package confref

//go:generate go test -run ^TestGenerated$ . -args -update
