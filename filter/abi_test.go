package filter_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tetratelabs/wabin/wasm"

	"github.com/breakwater/breakwater/filter/internal/wasmfile"
	"github.com/breakwater/breakwater/internal/envoyabi"
)

// The lists of what Envoy provides, with their sources, are in internal/envoyabi.

// requiredExports are what Envoy calls on an HTTP filter plugin.
var requiredExports = []string{
	"_initialize", "memory", "proxy_on_memory_allocate",
	"proxy_on_vm_start", "proxy_on_configure", "proxy_on_context_create",
	"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
	"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
	"proxy_on_http_call_response", "proxy_on_tick", "proxy_on_queue_ready",
	"proxy_on_log", "proxy_on_done", "proxy_on_delete",
}

func TestABIConformance(t *testing.T) {
	b, err := wasmfile.Read()
	if err != nil {
		t.Fatal(err)
	}
	m, err := wasmfile.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", wasmfile.Path, err)
	}
	t.Logf("%s: %d bytes (%.2f MiB)", wasmfile.Path, len(b), float64(len(b))/(1<<20))

	exports := map[string]wasm.ExternType{}
	for _, e := range m.ExportSection {
		exports[e.Name] = e.Type
	}
	for _, name := range requiredExports {
		if _, ok := exports[name]; !ok {
			t.Errorf("missing export %s", name)
		}
	}
	if exports["memory"] != wasm.ExternTypeMemory {
		t.Errorf("export memory is not a memory")
	}
	if _, a := exports["proxy_abi_version_0_2_0"]; !a {
		if _, b := exports["proxy_abi_version_0_2_1"]; !b {
			t.Errorf("missing export proxy_abi_version_0_2_0 or proxy_abi_version_0_2_1")
		}
	}

	var imports []string
	for _, im := range m.ImportSection {
		imports = append(imports, im.Module+"."+im.Name)
		switch im.Module {
		case "env":
			if !slices.Contains(envoyabi.EnvFunctions, im.Name) {
				t.Errorf("import env.%s is not provided by Envoy's proxy-wasm host (ABI 0.2.1)", im.Name)
			}
		case "wasi_snapshot_preview1":
			if !slices.Contains(envoyabi.WASIEnvoy133, im.Name) {
				t.Errorf("import wasi_snapshot_preview1.%s is not implemented by Envoy 1.33", im.Name)
			}
		default:
			t.Errorf("import %s.%s: module %q is not provided by Envoy", im.Module, im.Name, im.Module)
		}
		if im.Type != wasm.ExternTypeFunc {
			t.Errorf("import %s.%s is not a function", im.Module, im.Name)
		}
	}
	sort.Strings(imports)
	t.Logf("%d imports:\n  %s", len(imports), strings.Join(imports, "\n  "))
	var exp []string
	for name := range exports {
		exp = append(exp, name)
	}
	sort.Strings(exp)
	t.Logf("%d exports: %s", len(exp), strings.Join(exp, " "))
}
